-- 0008: the post-call summary, and the outbox every notification leaves through.
--
-- 1. sessions.summary / summary_data: written after the hang-up by frontdesk.agent.summary
--    (IF NOT EXISTS: the tickets migration adds the same two columns; either may run first),
--    and the index of the calls still to summarise.
-- 2. outbox: one row per delivery (an event for one channel: the business's email addresses,
--    or its webhook). Its id is the delivery id the receiver sees on every attempt
--    (X-Frontdesk-Delivery). A row is written in the transaction that creates what it
--    announces (the ticket; the summary on the session row), so an event exists exactly when
--    its cause does. Dispatchers on every node claim due rows (status 'pending',
--    next_attempt_at <= now()) with FOR UPDATE SKIP LOCKED and hold the claim for the
--    length of one batch's sends; a node that dies drops its connection and with it its
--    claims, so another node sends those rows next (at least once, never lost).
--    The webhook's secret is not copied here: it is read from the number's configuration
--    when the row is sent, so a rotated secret signs the retries too.
-- 3. outbox_attempts: every attempt, its result and how long it took (the operator's view of
--    a failed delivery).
-- RLS: a tenant reads and inserts its own rows (tickets are written as the tenant); only the
-- dispatcher (operator role) changes them. Operators see all.

ALTER TABLE sessions ADD COLUMN IF NOT EXISTS summary text;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS summary_data jsonb;
-- the sweep for calls whose node died before summarising them (agent/summary.py): small,
-- since a summarised call leaves it
CREATE INDEX sessions_unsummarised_idx ON sessions (ended_at)
    WHERE summary IS NULL AND organization_id IS NOT NULL
      AND (answered_at IS NOT NULL OR reason IN ('node-lost', 'node-restart'));

CREATE TABLE outbox (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    sip_number_id uuid REFERENCES sip_numbers (id) ON DELETE SET NULL,
    event text NOT NULL CHECK (event IN ('ticket.created', 'call.ended', 'test')),
    channel text NOT NULL CHECK (channel IN ('email', 'webhook')),
    -- the addresses (comma separated) or the URL, as configured when the event was written
    target text NOT NULL CHECK (length(target) BETWEEN 1 AND 8000),
    payload jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- retries go on until window_started_at + FRONTDESK_OUTBOX_RETRY_WINDOW (the operator's
    -- retry of a failed row starts a new window)
    window_started_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    last_error text CHECK (length(last_error) <= 2000),
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
-- what a dispatcher reads: due pending rows, oldest first
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_failed_idx ON outbox (created_at DESC) WHERE status = 'failed';
CREATE INDEX outbox_org_created_idx ON outbox (organization_id, created_at DESC);

CREATE TABLE outbox_attempts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id uuid NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    node_id text NOT NULL CHECK (length(node_id) BETWEEN 1 AND 200),
    ok boolean NOT NULL,
    -- the HTTP status or SMTP reply, or the error, for the operator
    detail text NOT NULL DEFAULT '' CHECK (length(detail) <= 2000),
    duration_ms double precision NOT NULL CHECK (duration_ms >= 0)
);
CREATE INDEX outbox_attempts_outbox_idx ON outbox_attempts (outbox_id, attempted_at);

ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON outbox TO frontdesk_tenant
    USING (organization_id = frontdesk_current_org())
    WITH CHECK (organization_id = frontdesk_current_org());
CREATE POLICY operator_all ON outbox TO frontdesk_operator USING (true) WITH CHECK (true);
ALTER TABLE outbox_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox_attempts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON outbox_attempts FOR SELECT TO frontdesk_tenant
    USING (organization_id = frontdesk_current_org());
CREATE POLICY operator_all ON outbox_attempts TO frontdesk_operator
    USING (true) WITH CHECK (true);

GRANT SELECT, INSERT ON outbox TO frontdesk_tenant;
GRANT SELECT ON outbox_attempts TO frontdesk_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON outbox, outbox_attempts TO frontdesk_operator;
