-- 0011: operator onboarding: the configuration audit, and one-time password links.
--
-- config_audit: one row per configuration change (an organization's columns, its agent
-- config, a number's label, limit, state or overrides): who, when, which fields, their
-- values before and after. Written by store/orgs.py and store/numbers.py in the same
-- transaction as the change, so a change and its audit row commit or vanish together.
-- Tenant data (an owner's edits of its numbers are audited too): RLS as everywhere; a tenant
-- may read its rows and add rows, never change or remove one. Nobody may UPDATE or DELETE.
-- Write-only values (a webhook secret) are stored as "(changed)", never as themselves.
CREATE TABLE config_audit (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    entity text NOT NULL CHECK (entity IN ('organization', 'agent', 'number', 'user')),
    -- the slug, the phone number, the email: what a person reads
    entity_key text NOT NULL CHECK (length(entity_key) BETWEEN 1 AND 320),
    fields text[] NOT NULL CHECK (cardinality(fields) >= 1),
    before jsonb NOT NULL,
    after jsonb NOT NULL,
    actor text NOT NULL CHECK (length(actor) BETWEEN 1 AND 330),
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX config_audit_org_idx ON config_audit (organization_id, changed_at DESC);

ALTER TABLE config_audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE config_audit FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON config_audit TO frontdesk_tenant
    USING (organization_id = frontdesk_current_org())
    WITH CHECK (organization_id = frontdesk_current_org());
CREATE POLICY operator_all ON config_audit TO frontdesk_operator USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON config_audit TO frontdesk_tenant, frontdesk_operator;

-- user_links: an invitation (a new user sets a password) or a password reset, issued by an
-- operator. The link's token is 256 random bits handed out once and stored as its SHA-256
-- digest; a link works once (used_at) and until expires_at. Not tenant data: read as the
-- operator before anyone is logged in (like web_sessions).
CREATE TABLE user_links (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash bytea NOT NULL CONSTRAINT user_links_token_key UNIQUE
        CHECK (length(token_hash) = 32),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose text NOT NULL CHECK (purpose IN ('invite', 'reset')),
    created_by text NOT NULL CHECK (length(created_by) BETWEEN 1 AND 330),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX user_links_user_idx ON user_links (user_id);
GRANT SELECT, INSERT, UPDATE, DELETE ON user_links TO frontdesk_operator;
