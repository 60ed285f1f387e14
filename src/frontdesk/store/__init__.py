"""PostgreSQL storage: the embedded server, the pool, migrations, tenant/operator transactions.

Public surface (import from the submodules):

- `frontdesk.store.engine`: `open_database(settings)`, `open_pool(conninfo)`,
  `resolve_target(settings)`, the `Pool` and `Connection` types
- `frontdesk.store.tx`: `tenant_tx(pool, org_id)`, `operator_tx(pool)`
- `frontdesk.store.migrate`: `migrate(conninfo)`, `available_migrations()`
- `frontdesk.store.embedded`: `EmbeddedPostgres`
- `frontdesk.store.cli_support`: `migrate_command(settings)` for `frontdesk db migrate`
- errors: `StoreError`, `EmbeddedPostgresError`, `MigrationError` in `frontdesk.errors`

Must not: be imported by `sip` or `media`; `calls` reaches the database through small
protocols that this package implements.
"""
