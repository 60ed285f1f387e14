-- 0006: the web app's own state: login sessions, API tokens, failed logins.
--
-- None of these holds tenant data, so none has RLS or a grant to frontdesk_tenant: the web
-- app reads them as the operator (frontdesk.store.tx.operator_tx) before it knows who is
-- asking, exactly as users.py authenticates. Secrets are stored only as SHA-256 digests
-- (session and API tokens are 256-bit random values, so a fast digest is enough); the
-- CSRF token of a session is not a credential on its own and is stored as is.

CREATE TABLE web_sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash bytea NOT NULL CONSTRAINT web_sessions_token_key UNIQUE
        CHECK (length(token_hash) = 32),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token text NOT NULL CHECK (length(csrf_token) BETWEEN 20 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CHECK (expires_at > created_at)
);
CREATE INDEX web_sessions_user_idx ON web_sessions (user_id);
CREATE INDEX web_sessions_expires_idx ON web_sessions (expires_at);

CREATE TABLE api_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash bytea NOT NULL CONSTRAINT api_tokens_token_key UNIQUE
        CHECK (length(token_hash) = 32),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- one row per failed login, per key ("email:<sha256>" and "ip:<address>"); rows older than
-- the window are deleted as new failures come in
CREATE TABLE login_failures (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    failed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX login_failures_key_idx ON login_failures (key, failed_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON web_sessions, api_tokens, login_failures
    TO frontdesk_operator;
