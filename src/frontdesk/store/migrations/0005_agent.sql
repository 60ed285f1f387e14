-- 0005: what the voice agent writes during a call.
-- A ticket says what the caller wanted (the agent's create_ticket tool names it), so the
-- business can sort orders from complaints without reading every body.
ALTER TABLE tickets
    ADD COLUMN kind text NOT NULL DEFAULT 'other'
        CHECK (kind IN ('order', 'complaint', 'message', 'callback', 'other'));
CREATE INDEX tickets_session_idx ON tickets (session_id) WHERE session_id IS NOT NULL;
