-- 0007: what the operations dashboard reads (frontdesk/store/history.py), fast at 1,000,000
-- sessions with row-level security in force.
--
-- (Refusals of known numbers carry their organization from the code that refused them:
-- frontdesk.calls.decision.refusal_owner; a call to an unknown number has none and only
-- operators see it.)
-- 2. Indexes for the history: every filter (organization, number, outcome, reason, caller
--    prefix, date range) has an index whose order is the page's order, (started_at, id)
--    descending, so keyset pagination reads one page of index entries, never a sort of the
--    whole range. The tenant's RLS predicate (organization_id = frontdesk_current_org(), a
--    STABLE function) is an index condition on the indexes that lead with organization_id.
-- 3. Hourly rollups for analytics, kept exact by a trigger on sessions: a finished session
--    (outcome <> 'in-progress') is counted in the hour (UTC) it started, under its outcome
--    and reason; a change to a finished row takes its old contribution out and puts the new
--    one in; a delete takes it out. `session_stats_hourly` is per organization (RLS: a
--    tenant reads its own rows); `session_stats_hourly_all` is every call, calls of no
--    organization included (operators only), so that "all organizations" reads ~24 rows a
--    day and not one per organization. Analytics of a month read a few thousand rows.
--    Hours are UTC: days and weekday x hour in a whole-hour time zone come out exact; a
--    half-hour zone (India) is shifted by 30 minutes.
--    Both have FORCEd row-level security like every tenant table; the trigger writes them
--    as whoever changed `sessions`, which is the operator role (every write to sessions
--    goes through operator_tx); tenants may only read their own organization's rows.

-- 2 ---------------------------------------------------------------------------------------
-- replaces sessions_organization_started_idx (0001): same leading columns, plus id for the
-- keyset order
CREATE INDEX sessions_org_page_idx ON sessions (organization_id, started_at DESC, id DESC);
DROP INDEX sessions_organization_started_idx;
CREATE INDEX sessions_page_idx ON sessions (started_at DESC, id DESC);
CREATE INDEX sessions_number_page_idx ON sessions (sip_number_id, started_at DESC, id DESC);
CREATE INDEX sessions_org_outcome_page_idx
    ON sessions (organization_id, outcome, started_at DESC, id DESC);
CREATE INDEX sessions_outcome_page_idx ON sessions (outcome, started_at DESC, id DESC);
CREATE INDEX sessions_org_reason_page_idx
    ON sessions (organization_id, reason, started_at DESC, id DESC);
CREATE INDEX sessions_reason_page_idx ON sessions (reason, started_at DESC, id DESC);
CREATE INDEX sessions_org_caller_idx
    ON sessions (organization_id, caller_number text_pattern_ops, started_at DESC);
CREATE INDEX sessions_caller_idx ON sessions (caller_number text_pattern_ops, started_at DESC);

-- 3 ---------------------------------------------------------------------------------------
CREATE TABLE session_stats_hourly (
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    hour timestamptz NOT NULL,
    outcome text NOT NULL,
    reason text NOT NULL,  -- '' when the session has none
    calls bigint NOT NULL,
    answered bigint NOT NULL,  -- calls with a talk time (duration)
    duration_s double precision NOT NULL,  -- their summed talk time
    PRIMARY KEY (organization_id, hour, outcome, reason)
);

CREATE TABLE session_stats_hourly_all (
    hour timestamptz NOT NULL,
    outcome text NOT NULL,
    reason text NOT NULL,
    calls bigint NOT NULL,
    answered bigint NOT NULL,
    duration_s double precision NOT NULL,
    PRIMARY KEY (hour, outcome, reason)
);

ALTER TABLE session_stats_hourly ENABLE ROW LEVEL SECURITY;
ALTER TABLE session_stats_hourly FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON session_stats_hourly FOR SELECT TO frontdesk_tenant
    USING (organization_id = frontdesk_current_org());
CREATE POLICY operator_all ON session_stats_hourly TO frontdesk_operator
    USING (true) WITH CHECK (true);
ALTER TABLE session_stats_hourly_all ENABLE ROW LEVEL SECURITY;
ALTER TABLE session_stats_hourly_all FORCE ROW LEVEL SECURITY;
CREATE POLICY operator_all ON session_stats_hourly_all TO frontdesk_operator
    USING (true) WITH CHECK (true);
GRANT SELECT ON session_stats_hourly TO frontdesk_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON session_stats_hourly, session_stats_hourly_all
    TO frontdesk_operator;

CREATE FUNCTION frontdesk_count_session(
    p_org uuid, p_started timestamptz, p_outcome text, p_reason text, p_duration interval,
    p_sign integer
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    bucket timestamptz := date_trunc('hour', p_started, 'UTC');
    talked integer := CASE WHEN p_duration IS NULL THEN 0 ELSE p_sign END;
    seconds double precision := coalesce(extract(epoch FROM p_duration), 0) * p_sign;
BEGIN
    INSERT INTO session_stats_hourly_all AS t
        (hour, outcome, reason, calls, answered, duration_s)
    VALUES (bucket, p_outcome, coalesce(p_reason, ''), p_sign, talked, seconds)
    ON CONFLICT (hour, outcome, reason) DO UPDATE
        SET calls = t.calls + EXCLUDED.calls, answered = t.answered + EXCLUDED.answered,
            duration_s = t.duration_s + EXCLUDED.duration_s;
    IF p_org IS NOT NULL THEN
        INSERT INTO session_stats_hourly AS t
            (organization_id, hour, outcome, reason, calls, answered, duration_s)
        VALUES (p_org, bucket, p_outcome, coalesce(p_reason, ''), p_sign, talked, seconds)
        ON CONFLICT (organization_id, hour, outcome, reason) DO UPDATE
            SET calls = t.calls + EXCLUDED.calls, answered = t.answered + EXCLUDED.answered,
                duration_s = t.duration_s + EXCLUDED.duration_s;
    END IF;
END;
$$;
CREATE FUNCTION frontdesk_session_stats() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.outcome <> 'in-progress' THEN
        PERFORM frontdesk_count_session(OLD.organization_id, OLD.started_at, OLD.outcome,
                                        OLD.reason, OLD.duration, -1);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.outcome <> 'in-progress' THEN
        PERFORM frontdesk_count_session(NEW.organization_id, NEW.started_at, NEW.outcome,
                                        NEW.reason, NEW.duration, 1);
    END IF;
    RETURN NULL;
END;
$$;

-- an admission's in-progress INSERT fires nothing (WHEN is false): the admission path,
-- which holds the organization's lock, pays no rollup write
CREATE TRIGGER sessions_stats_insert
    AFTER INSERT ON sessions
    FOR EACH ROW WHEN (NEW.outcome <> 'in-progress')
    EXECUTE FUNCTION frontdesk_session_stats();
CREATE TRIGGER sessions_stats_update
    AFTER UPDATE ON sessions
    FOR EACH ROW WHEN ((OLD.outcome <> 'in-progress' OR NEW.outcome <> 'in-progress')
        AND (OLD.organization_id, OLD.started_at, OLD.outcome, OLD.reason, OLD.duration)
            IS DISTINCT FROM
            (NEW.organization_id, NEW.started_at, NEW.outcome, NEW.reason, NEW.duration))
    EXECUTE FUNCTION frontdesk_session_stats();
CREATE TRIGGER sessions_stats_delete
    AFTER DELETE ON sessions
    FOR EACH ROW WHEN (OLD.outcome <> 'in-progress')
    EXECUTE FUNCTION frontdesk_session_stats();

-- Recompute both rollups from sessions (after a bulk load with the triggers disabled, or to
-- check them), under an exclusive lock on the rollups; run it as the operator.
CREATE FUNCTION frontdesk_rebuild_session_stats() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE session_stats_hourly, session_stats_hourly_all IN EXCLUSIVE MODE;
    DELETE FROM session_stats_hourly;
    DELETE FROM session_stats_hourly_all;
    INSERT INTO session_stats_hourly
        (organization_id, hour, outcome, reason, calls, answered, duration_s)
    SELECT organization_id, date_trunc('hour', started_at, 'UTC'), outcome,
           coalesce(reason, ''), count(*), count(duration),
           coalesce(sum(extract(epoch FROM duration)), 0)
    FROM sessions WHERE outcome <> 'in-progress' AND organization_id IS NOT NULL
    GROUP BY 1, 2, 3, 4;
    INSERT INTO session_stats_hourly_all (hour, outcome, reason, calls, answered, duration_s)
    SELECT date_trunc('hour', started_at, 'UTC'), outcome, coalesce(reason, ''), count(*),
           count(duration), coalesce(sum(extract(epoch FROM duration)), 0)
    FROM sessions WHERE outcome <> 'in-progress'
    GROUP BY 1, 2, 3;
END;
$$;

-- the sessions already recorded, counted as the operator (the role that writes rollups);
-- RESET before the migration runner records this file as the owner
SET LOCAL ROLE frontdesk_operator;
SELECT frontdesk_rebuild_session_stats();
RESET ROLE;
