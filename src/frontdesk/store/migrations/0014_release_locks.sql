-- 0014: admission's row locks become FOR NO KEY UPDATE (were FOR UPDATE in 0010).
-- Why: releases now end the session and free the slot in one statement of their own
-- (frontdesk/store/releases.py), outside the admission turn. Ending a session upserts the
-- hourly rollups (0007); a new rollup row checks its organization with FOR KEY SHARE, which
-- FOR UPDATE blocks and FOR NO KEY UPDATE does not. Two admissions for one organization (or
-- one node) still run one after the other: FOR NO KEY UPDATE conflicts with itself. The
-- exactness argument of 0010 is unchanged; nothing here updates a key of these rows.
CREATE OR REPLACE FUNCTION frontdesk_admit_many(
    p_node text, p_node_max integer,
    p_sessions uuid[], p_orgs uuid[], p_numbers uuid[],
    p_call_ids text[], p_callers text[], p_called text[]
) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(array_length(p_sessions, 1), 0);
    verdicts text[] := '{}';
    admitted integer[] := '{}';
    -- the facts of each distinct organization and number of the batch, read under the
    -- locks, with their live counts; `*_used` grow as the batch admits
    org_ids uuid[];
    org_max integer[];
    org_active boolean[];
    org_used bigint[];
    num_ids uuid[];
    num_org uuid[];
    num_max integer[];
    num_active boolean[];
    num_used bigint[];
    node_used bigint;
    o integer;
    k integer;
    verdict text;
BEGIN
    -- every admission on this node queues here...
    PERFORM 1 FROM nodes WHERE id = p_node FOR NO KEY UPDATE;
    -- ...and every admission for these organizations, from any node, here
    PERFORM 1 FROM organizations WHERE id = ANY (p_orgs) ORDER BY id FOR NO KEY UPDATE;
    -- READ COMMITTED: each statement below sees every row committed before the locks were
    -- granted; nobody can add a row counted against these organizations or this node
    -- until this transaction ends
    SELECT array_agg(g.id), array_agg(g.max_concurrent_calls), array_agg(g.active),
           array_agg((SELECT count(*) FROM active_calls a WHERE a.organization_id = g.id))
    INTO org_ids, org_max, org_active, org_used
    FROM organizations g WHERE g.id = ANY (p_orgs);
    SELECT array_agg(s.id), array_agg(s.organization_id), array_agg(s.max_concurrent_calls),
           array_agg(s.active),
           array_agg((SELECT count(*) FROM active_calls a WHERE a.sip_number_id = s.id))
    INTO num_ids, num_org, num_max, num_active, num_used
    FROM sip_numbers s WHERE s.id = ANY (p_numbers);
    SELECT count(*) INTO node_used FROM active_calls WHERE node_id = p_node;

    FOR i IN 1 .. n LOOP
        o := array_position(org_ids, p_orgs[i]);
        k := array_position(num_ids, p_numbers[i]);
        IF o IS NULL OR k IS NULL OR num_org[k] <> p_orgs[i]
           OR NOT org_active[o] OR NOT num_active[k] THEN
            verdict := 'number-changed';
        ELSIF num_used[k] >= num_max[k] THEN
            verdict := 'limit-number';
        ELSIF org_max[o] IS NOT NULL AND org_used[o] >= org_max[o] THEN
            verdict := 'limit-org';
        ELSIF node_used >= p_node_max THEN
            verdict := 'limit-node';
        ELSE
            verdict := 'admitted';
            admitted := admitted || i;
            node_used := node_used + 1;
            num_used[k] := num_used[k] + 1;
            org_used[o] := org_used[o] + 1;
        END IF;
        verdicts := verdicts || verdict;
    END LOOP;

    IF array_length(admitted, 1) IS NOT NULL THEN
        INSERT INTO sessions (id, organization_id, sip_number_id, call_id_sip, caller_number,
                              called_number, node_id)
        SELECT p_sessions[i], p_orgs[i], p_numbers[i], p_call_ids[i], p_callers[i],
               p_called[i], p_node
        FROM unnest(admitted) AS i;
        INSERT INTO active_calls (session_id, organization_id, sip_number_id, node_id,
                                  call_id_sip)
        SELECT p_sessions[i], p_orgs[i], p_numbers[i], p_node, p_call_ids[i]
        FROM unnest(admitted) AS i;
    END IF;
    RETURN verdicts;
END;
$$;
