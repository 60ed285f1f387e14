-- 0001: the tables of DESIGN §4. Constraints make bad rows impossible; row-level security
-- and the roles that use it come in 0002.
--
-- Conventions: uuid keys (gen_random_uuid(), no sequences to grant), timestamptz, text
-- with CHECKed shapes, jsonb objects CHECKed to be objects. Phone numbers are stored
-- normalised (frontdesk.numbers): E.164 or a short extension, and the CHECK refuses anything
-- else. Tables with an organization_id also have UNIQUE (id, organization_id), so that rows
-- pointing at them can carry a composite foreign key that pins both to one organization.

CREATE FUNCTION frontdesk_is_phone_number(value text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN value ~ '^(\+[1-9][0-9]{1,14}|[0-9]{1,6})$';

CREATE TABLE organizations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug text NOT NULL CONSTRAINT organizations_slug_key UNIQUE
        CONSTRAINT organizations_slug_check CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    active boolean NOT NULL DEFAULT true,
    -- NULL: no organization-wide limit (DESIGN §3)
    max_concurrent_calls integer
        CONSTRAINT organizations_max_concurrent_calls_check CHECK (max_concurrent_calls >= 1),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL CONSTRAINT users_email_key UNIQUE
        CHECK (email = lower(email) AND email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 320),
    password_hash text NOT NULL CHECK (length(password_hash) > 0),
    is_operator boolean NOT NULL DEFAULT false,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('owner', 'member')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, organization_id)
);
CREATE INDEX memberships_organization_idx ON memberships (organization_id);

-- the org-level TenantConfig: one per organization; `version` lets caches compare
CREATE TABLE agent_instances (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL CONSTRAINT agent_instances_organization_key UNIQUE
        REFERENCES organizations (id) ON DELETE CASCADE,
    config jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sip_numbers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- one number belongs to one organization at a time
    phone_number text NOT NULL CONSTRAINT sip_numbers_phone_number_key UNIQUE
        CONSTRAINT sip_numbers_phone_number_check CHECK (frontdesk_is_phone_number(phone_number)),
    organization_id uuid NOT NULL REFERENCES organizations (id),
    active boolean NOT NULL DEFAULT true,
    label text NOT NULL DEFAULT '' CHECK (length(label) <= 200),
    -- keys present win over the org's TenantConfig; validated by the code that writes it
    config_override jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config_override) = 'object'),
    -- who assigned it ("cli:root", "user:alice@example.com"): kept as text so the record
    -- survives the user
    assigned_by text NOT NULL CHECK (length(assigned_by) BETWEEN 1 AND 320),
    assigned_at timestamptz NOT NULL DEFAULT now(),
    max_concurrent_calls integer NOT NULL DEFAULT 1
        CONSTRAINT sip_numbers_max_concurrent_calls_check CHECK (max_concurrent_calls >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sip_numbers_id_organization_key UNIQUE (id, organization_id)
);
CREATE INDEX sip_numbers_organization_idx ON sip_numbers (organization_id);

-- every add / reassignment / removal of a number, written by a trigger on sip_numbers so
-- that no code path can skip it
CREATE TABLE number_assignments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sip_number_id uuid REFERENCES sip_numbers (id) ON DELETE SET NULL,
    phone_number text NOT NULL CHECK (frontdesk_is_phone_number(phone_number)),
    action text NOT NULL CHECK (action IN ('add', 'assign', 'remove')),
    organization_id uuid NOT NULL REFERENCES organizations (id),
    previous_organization_id uuid REFERENCES organizations (id),
    assigned_by text NOT NULL CHECK (length(assigned_by) BETWEEN 1 AND 320),
    assigned_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((action = 'assign') = (previous_organization_id IS NOT NULL)),
    CHECK (previous_organization_id IS DISTINCT FROM organization_id)
);
CREATE INDEX number_assignments_organization_idx ON number_assignments (organization_id);
CREATE INDEX number_assignments_number_idx ON number_assignments (phone_number, assigned_at);

CREATE FUNCTION frontdesk_audit_number_assignment() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO number_assignments
            (sip_number_id, phone_number, action, organization_id, assigned_by, assigned_at)
        VALUES (NEW.id, NEW.phone_number, 'add', NEW.organization_id, NEW.assigned_by,
                NEW.assigned_at);
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.organization_id IS DISTINCT FROM OLD.organization_id THEN
            INSERT INTO number_assignments
                (sip_number_id, phone_number, action, organization_id,
                 previous_organization_id, assigned_by, assigned_at)
            VALUES (NEW.id, NEW.phone_number, 'assign', NEW.organization_id,
                    OLD.organization_id, NEW.assigned_by, NEW.assigned_at);
        END IF;
        RETURN NEW;
    ELSE
        INSERT INTO number_assignments
            (sip_number_id, phone_number, action, organization_id, assigned_by)
        VALUES (NULL, OLD.phone_number, 'remove', OLD.organization_id,
                coalesce(nullif(current_setting('frontdesk.actor', true), ''),
                         'db:' || session_user));
        RETURN OLD;
    END IF;
END
$$;

CREATE TRIGGER sip_numbers_audit
    AFTER INSERT OR UPDATE OF organization_id OR DELETE ON sip_numbers
    FOR EACH ROW EXECUTE FUNCTION frontdesk_audit_number_assignment();

-- updated_at follows every change; a reassignment that did not set assigned_at gets now()
CREATE FUNCTION frontdesk_touch_sip_number() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.organization_id IS DISTINCT FROM OLD.organization_id
       AND NEW.assigned_at = OLD.assigned_at THEN
        NEW.assigned_at := now();
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER sip_numbers_touch
    BEFORE UPDATE ON sip_numbers
    FOR EACH ROW EXECUTE FUNCTION frontdesk_touch_sip_number();

-- frontdesk processes (nodes) and their heartbeats: admission reaps the calls of dead nodes
CREATE TABLE nodes (
    id text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    max_calls integer NOT NULL CHECK (max_calls >= 1),
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    CHECK (heartbeat_at >= started_at)
);

-- one row per call attempt, answered or not. A call to an unknown number has no
-- organization: only operators see it.
CREATE TABLE sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid REFERENCES organizations (id),
    sip_number_id uuid REFERENCES sip_numbers (id) ON DELETE SET NULL,
    call_id_sip text NOT NULL CHECK (length(call_id_sip) BETWEEN 1 AND 512),
    -- as received: may be anonymous, so not CHECKed as a phone number
    caller_number text NOT NULL DEFAULT '' CHECK (length(caller_number) <= 128),
    called_number text NOT NULL CHECK (length(called_number) BETWEEN 1 AND 128),
    node_id text NOT NULL CHECK (length(node_id) BETWEEN 1 AND 200),
    started_at timestamptz NOT NULL DEFAULT now(),
    answered_at timestamptz,
    ended_at timestamptz,
    -- talk time, derived so it cannot disagree with the timestamps
    duration interval GENERATED ALWAYS AS (ended_at - answered_at) STORED,
    outcome text NOT NULL DEFAULT 'in-progress'
        CHECK (outcome IN ('in-progress', 'completed', 'rejected', 'cancelled', 'failed')),
    -- end or reject reason: 'bye-caller', 'media-timeout', 'unknown-number', 'limit-number' …
    reason text CHECK (length(reason) BETWEEN 1 AND 200),
    -- the SIP status of a rejection (404, 480, 486, 503 …)
    reject_status smallint CHECK (reject_status BETWEEN 400 AND 699),
    transcript jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(transcript) = 'array'),
    CONSTRAINT sessions_id_organization_key UNIQUE (id, organization_id),
    CHECK (sip_number_id IS NULL OR organization_id IS NOT NULL),
    CHECK (answered_at IS NULL OR answered_at >= started_at),
    CHECK (ended_at IS NULL OR ended_at >= coalesce(answered_at, started_at)),
    CHECK ((outcome = 'in-progress') = (ended_at IS NULL)),
    CHECK ((outcome = 'rejected') = (reject_status IS NOT NULL)),
    CHECK (outcome <> 'rejected' OR answered_at IS NULL),
    CHECK (outcome <> 'completed' OR answered_at IS NOT NULL)
);
CREATE INDEX sessions_organization_started_idx ON sessions (organization_id, started_at DESC);
CREATE INDEX sessions_call_id_idx ON sessions (call_id_sip);

-- rows exist only while a call is live; counts for admission come from here (DESIGN §3).
-- sip_number_id has a plain foreign key: reassigning a number leaves live calls untouched.
CREATE TABLE active_calls (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id uuid NOT NULL CONSTRAINT active_calls_session_key UNIQUE,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    sip_number_id uuid NOT NULL REFERENCES sip_numbers (id),
    node_id text NOT NULL REFERENCES nodes (id),
    started_at timestamptz NOT NULL DEFAULT now(),
    call_id_sip text NOT NULL CHECK (length(call_id_sip) BETWEEN 1 AND 512),
    FOREIGN KEY (session_id, organization_id) REFERENCES sessions (id, organization_id)
);
CREATE INDEX active_calls_number_idx ON active_calls (sip_number_id);
CREATE INDEX active_calls_organization_idx ON active_calls (organization_id);
CREATE INDEX active_calls_node_idx ON active_calls (node_id);

-- per-organization caller data; one row per caller number per organization
CREATE TABLE customers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    phone_number text NOT NULL CHECK (frontdesk_is_phone_number(phone_number)),
    name text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    notes text NOT NULL DEFAULT '' CHECK (length(notes) <= 10000),
    data jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customers_organization_phone_key UNIQUE (organization_id, phone_number),
    CONSTRAINT customers_id_organization_key UNIQUE (id, organization_id)
);

-- created by the agent during a call (or by staff); the composite keys pin the session and
-- the customer to the ticket's own organization
CREATE TABLE tickets (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    session_id uuid,
    customer_id uuid,
    subject text NOT NULL CHECK (length(btrim(subject)) BETWEEN 1 AND 500),
    body text NOT NULL DEFAULT '' CHECK (length(body) <= 20000),
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in-progress', 'closed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    closed_at timestamptz,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    FOREIGN KEY (session_id, organization_id) REFERENCES sessions (id, organization_id),
    FOREIGN KEY (customer_id, organization_id) REFERENCES customers (id, organization_id)
);
CREATE INDEX tickets_organization_created_idx ON tickets (organization_id, created_at DESC);
