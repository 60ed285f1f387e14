-- The ticket inbox (issue 12, item 1): what /tickets and /api/v1/tickets read and change
-- (frontdesk/store/tickets.py), fast at 1,000,000 tickets with row-level security in force.
--
-- 1. Status: open -> in-progress -> done (was open | in-progress | closed). Closed rows
--    become done; closed_at becomes done_at (set exactly while the status is done).
-- 2. A note, and an assignee who must be a member of the ticket's own organization: the
--    composite foreign key to memberships (user_id, organization_id) makes any other user
--    impossible, whoever writes; a membership that ends unassigns its tickets.
-- 3. The call a ticket came from, denormalised onto the ticket by a BEFORE INSERT trigger
--    (dialled number, caller number) so that the inbox filters by number and caller along
--    an index in the page's order, never through a join over every session. The trigger
--    reads the session as whoever inserts (RLS applies: the agent inserts as the tenant).
-- 4. Indexes whose order is the page's keyset order, (created_at, id) descending, for each
--    filter (organization, status, kind, number, caller prefix), and a trigram index over
--    subject and body for search: ILIKE '%words%' finds parts of words and of numbers
--    ("pizz", "3331"), which full-text search does not (see docs/benchmarks.md, tickets).
-- 5. The post-call summary on sessions (written by the outbox work; shown on the ticket).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- 1 ---------------------------------------------------------------------------------------
ALTER TABLE tickets DROP CONSTRAINT tickets_status_check;
ALTER TABLE tickets DROP CONSTRAINT tickets_check;
ALTER TABLE tickets RENAME COLUMN closed_at TO done_at;
UPDATE tickets SET status = 'done' WHERE status = 'closed';
ALTER TABLE tickets ADD CONSTRAINT tickets_status_check
    CHECK (status IN ('open', 'in-progress', 'done'));
ALTER TABLE tickets ADD CONSTRAINT tickets_done_at_check
    CHECK ((status = 'done') = (done_at IS NOT NULL));

-- 2 ---------------------------------------------------------------------------------------
ALTER TABLE tickets
    ADD COLUMN note text NOT NULL DEFAULT '' CHECK (length(note) <= 10000),
    ADD COLUMN assignee_id uuid,
    ADD CONSTRAINT tickets_assignee_member_fkey FOREIGN KEY (assignee_id, organization_id)
        REFERENCES memberships (user_id, organization_id) ON DELETE SET NULL (assignee_id);
CREATE INDEX tickets_assignee_idx ON tickets (assignee_id) WHERE assignee_id IS NOT NULL;

-- 3 ---------------------------------------------------------------------------------------
ALTER TABLE tickets
    ADD COLUMN sip_number_id uuid REFERENCES sip_numbers (id) ON DELETE SET NULL,
    ADD COLUMN caller_number text NOT NULL DEFAULT '' CHECK (length(caller_number) <= 128),
    ADD COLUMN called_number text NOT NULL DEFAULT '' CHECK (length(called_number) <= 128);

CREATE FUNCTION frontdesk_ticket_call() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.session_id IS NOT NULL THEN
        SELECT s.sip_number_id, s.caller_number, s.called_number
          INTO NEW.sip_number_id, NEW.caller_number, NEW.called_number
          FROM sessions s WHERE s.id = NEW.session_id;
        NEW.caller_number := coalesce(NEW.caller_number, '');
        NEW.called_number := coalesce(NEW.called_number, '');
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER tickets_call
    BEFORE INSERT ON tickets
    FOR EACH ROW EXECUTE FUNCTION frontdesk_ticket_call();

UPDATE tickets t
   SET sip_number_id = s.sip_number_id, caller_number = s.caller_number,
       called_number = s.called_number
  FROM sessions s
 WHERE s.id = t.session_id;

-- 4 ---------------------------------------------------------------------------------------
DROP INDEX tickets_organization_created_idx;
CREATE INDEX tickets_org_page_idx ON tickets (organization_id, created_at DESC, id DESC);
CREATE INDEX tickets_page_idx ON tickets (created_at DESC, id DESC);
CREATE INDEX tickets_org_status_page_idx
    ON tickets (organization_id, status, created_at DESC, id DESC);
CREATE INDEX tickets_status_page_idx ON tickets (status, created_at DESC, id DESC);
CREATE INDEX tickets_org_kind_page_idx
    ON tickets (organization_id, kind, created_at DESC, id DESC);
CREATE INDEX tickets_number_page_idx
    ON tickets (sip_number_id, created_at DESC, id DESC) WHERE sip_number_id IS NOT NULL;
CREATE INDEX tickets_org_caller_idx
    ON tickets (organization_id, caller_number text_pattern_ops, created_at DESC);
CREATE INDEX tickets_search_idx
    ON tickets USING gin ((subject || ' ' || body) gin_trgm_ops);

-- 5 ---------------------------------------------------------------------------------------
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS summary text;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS summary_data jsonb;

-- 6 ---------------------------------------------------------------------------------------
-- Search for tenants. Under row-level security PostgreSQL uses a qual as an index condition
-- only if it is leakproof or comes from the policy; ILIKE is not leakproof, so a tenant's
-- search could not use the trigram index and read every ticket of its organization (0.6 s
-- at 200,000). This function runs one page of the search as frontdesk_operator (SECURITY
-- DEFINER, owned by that role), whose policy is `true`, so the planner may use the trigram
-- index, and it restricts the rows itself to the transaction's organization
-- (frontdesk_current_org(): none set, no rows). Only tenants may call it; operators search
-- directly. It returns ticket ids in page order; the caller reads the rows again under its
-- own RLS. The SQL is built from fixed fragments for the filters given, values are bound.
CREATE FUNCTION frontdesk_search_tickets(
    p_search text, p_status text, p_kind text, p_number uuid, p_caller text,
    p_start timestamptz, p_end timestamptz, p_after_at timestamptz, p_after_id uuid,
    p_limit integer
) RETURNS SETOF uuid
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    org uuid := frontdesk_current_org();
    query text := 'SELECT id FROM tickets WHERE organization_id = $1'
                  ' AND (subject || '' '' || body) ILIKE $2';
BEGIN
    IF org IS NULL OR p_search IS NULL THEN
        RETURN;
    END IF;
    IF p_status IS NOT NULL THEN query := query || ' AND status = $3'; END IF;
    IF p_kind IS NOT NULL THEN query := query || ' AND kind = $4'; END IF;
    IF p_number IS NOT NULL THEN query := query || ' AND sip_number_id = $5'; END IF;
    IF p_caller IS NOT NULL THEN query := query || ' AND caller_number LIKE $6'; END IF;
    IF p_start IS NOT NULL THEN query := query || ' AND created_at >= $7'; END IF;
    IF p_end IS NOT NULL THEN query := query || ' AND created_at < $8'; END IF;
    IF p_after_at IS NOT NULL THEN
        query := query || ' AND (created_at, id) < ($9, $10)';
    END IF;
    query := query || ' ORDER BY created_at DESC, id DESC LIMIT $11';
    RETURN QUERY EXECUTE query USING org, p_search, p_status, p_kind, p_number, p_caller,
        p_start, p_end, p_after_at, p_after_id, least(greatest(p_limit, 1), 1001);
END;
$$;
-- the new owner needs CREATE on the schema at the moment of the change, and no longer
GRANT CREATE ON SCHEMA public TO frontdesk_operator;
ALTER FUNCTION frontdesk_search_tickets(text, text, text, uuid, text, timestamptz,
    timestamptz, timestamptz, uuid, integer) OWNER TO frontdesk_operator;
REVOKE CREATE ON SCHEMA public FROM frontdesk_operator;
REVOKE ALL ON FUNCTION frontdesk_search_tickets(text, text, text, uuid, text, timestamptz,
    timestamptz, timestamptz, uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION frontdesk_search_tickets(text, text, text, uuid, text, timestamptz,
    timestamptz, timestamptz, uuid, integer) TO frontdesk_tenant;
