-- 0002: isolation by the database. Every tenant table has ENABLE + FORCE ROW LEVEL
-- SECURITY and two policies:
--
--   tenant_isolation  TO frontdesk_tenant    rows of the organization set for this
--                                            transaction (frontdesk.org_id), no other
--   operator_all      TO frontdesk_operator  every row
--
-- Neither role owns a table or can log in; the application's login role (the owner, which
-- ran this migration) switches to one of them per transaction with SET LOCAL ROLE
-- (frontdesk.store.tx). The operator gets a policy rather than BYPASSRLS: creating a
-- BYPASSRLS role needs a superuser (not available on managed PostgreSQL such as Supabase),
-- and a policy keeps the operator's access visible in the catalog, per table.
--
-- frontdesk.org_id is set with set_config(…, true): it lives as long as the transaction.
-- After such a transaction the setting reads '' rather than NULL, hence the NULLIF; with
-- no tenant set the comparison is NULL and no row passes.

DO $$
DECLARE
    role_name text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'frontdesk_tenant') THEN
        CREATE ROLE frontdesk_tenant NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'frontdesk_operator') THEN
        CREATE ROLE frontdesk_operator NOLOGIN NOINHERIT;
    END IF;
    -- The login role must be allowed to SET ROLE to both (a superuser always is). On
    -- managed PostgreSQL the owner is not: since PostgreSQL 16, creating a role gives its
    -- creator ADMIN on it but not SET, so grant SET explicitly (and not INHERIT: the owner
    -- does not need the tenant's or the operator's policies outside SET ROLE).
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        FOREACH role_name IN ARRAY ARRAY['frontdesk_tenant', 'frontdesk_operator'] LOOP
            IF current_setting('server_version_num')::int >= 160000 THEN
                IF NOT pg_has_role(current_user, role_name, 'SET') THEN
                    EXECUTE format('GRANT %I TO %I WITH INHERIT FALSE, SET TRUE',
                                   role_name, current_user);
                END IF;
            ELSIF NOT pg_has_role(current_user, role_name, 'MEMBER') THEN
                EXECUTE format('GRANT %I TO %I', role_name, current_user);
            END IF;
        END LOOP;
    END IF;
END
$$;

CREATE FUNCTION frontdesk_current_org() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN nullif(current_setting('frontdesk.org_id', true), '')::uuid;

GRANT USAGE ON SCHEMA public TO frontdesk_tenant, frontdesk_operator;

-- what a tenant may do at all (RLS then narrows it to its own rows)
GRANT SELECT ON organizations, active_calls, sessions, memberships, number_assignments
    TO frontdesk_tenant;
GRANT SELECT, UPDATE (config, version, updated_at) ON agent_instances TO frontdesk_tenant;
GRANT SELECT, UPDATE (label, active, config_override) ON sip_numbers TO frontdesk_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON customers, tickets TO frontdesk_tenant;
-- never password_hash
GRANT SELECT (id, email, is_operator, active, created_at) ON users TO frontdesk_tenant;

GRANT SELECT, INSERT, UPDATE, DELETE ON organizations, users, memberships, agent_instances,
    sip_numbers, number_assignments, nodes, sessions, active_calls, customers, tickets
    TO frontdesk_operator;

DO $$
DECLARE
    tenant_table text;
BEGIN
    FOREACH tenant_table IN ARRAY ARRAY[
        'agent_instances', 'sip_numbers', 'number_assignments', 'sessions', 'active_calls',
        'customers', 'tickets', 'memberships'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', tenant_table);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I TO frontdesk_tenant'
            ' USING (organization_id = frontdesk_current_org())'
            ' WITH CHECK (organization_id = frontdesk_current_org())',
            tenant_table);
        EXECUTE format(
            'CREATE POLICY operator_all ON %I TO frontdesk_operator'
            ' USING (true) WITH CHECK (true)',
            tenant_table);
    END LOOP;
END
$$;

-- an organization is its own tenant row
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON organizations TO frontdesk_tenant
    USING (id = frontdesk_current_org()) WITH CHECK (id = frontdesk_current_org());
CREATE POLICY operator_all ON organizations TO frontdesk_operator
    USING (true) WITH CHECK (true);

-- users are global (one person, several organizations): a tenant sees its members only
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_members ON users FOR SELECT TO frontdesk_tenant
    USING (EXISTS (
        SELECT FROM memberships m
        WHERE m.user_id = users.id AND m.organization_id = frontdesk_current_org()));
CREATE POLICY operator_all ON users TO frontdesk_operator USING (true) WITH CHECK (true);

-- nodes hold no tenant data: no RLS, and no grant to tenants
