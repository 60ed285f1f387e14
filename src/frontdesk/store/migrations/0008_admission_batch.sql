-- 0010: admission decided for a batch of INVITEs in one call (one round trip per batch, not
-- per INVITE), and the routing facts left to routing. Replaces 0004's frontdesk_admit for
-- the nodes of this version (0004's function stays for nodes of the previous version during
-- an upgrade; nothing here calls it).
-- It runs as its caller (frontdesk_operator, after SET LOCAL ROLE): RLS applies as usual.
-- Why it is exact: see frontdesk/store/admission.py. Locks: the node's row, then every
-- organization of the batch in ascending id order (the same order everywhere: no
-- deadlock); all are held only while this function's transaction runs on the server.
--
-- Verdicts, one per request, in the order of the arrays:
--   admitted                              the sessions and active_calls rows are inserted
--   limit-number | limit-org | limit-node the innermost full limit, in nesting order
--   stale                                 the caller's routing snapshot no longer matches
--                                         the rows (number removed or reassigned, number
--                                         inactive, organization suspended): the caller
--                                         reloads it and lets routing decide (404/480 are
--                                         routing's answers, never this function's)
CREATE FUNCTION frontdesk_admit_many(
    p_node text, p_node_max integer,
    p_sessions uuid[], p_orgs uuid[], p_numbers uuid[],
    p_call_ids text[], p_callers text[], p_called text[]
) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(array_length(p_sessions, 1), 0);
    verdicts text[] := '{}';
    admitted integer[] := '{}';
    org_facts jsonb;
    number_facts jsonb;
    node_used bigint;
    o jsonb;
    num jsonb;
    verdict text;
BEGIN
    -- every admission on this node queues here...
    PERFORM 1 FROM nodes WHERE id = p_node FOR UPDATE;
    -- ...and every admission for these organizations, from any node, here
    PERFORM 1 FROM organizations WHERE id = ANY (p_orgs) ORDER BY id FOR UPDATE;
    -- READ COMMITTED: each statement below sees every row committed before the locks were
    -- granted; nobody can add a row counted against these organizations or this node
    -- until this transaction ends
    SELECT coalesce(jsonb_object_agg(o2.id::text, jsonb_build_object(
               'max', o2.max_concurrent_calls, 'active', o2.active,
               'used', (SELECT count(*) FROM active_calls a WHERE a.organization_id = o2.id))),
           '{}')
    INTO org_facts FROM organizations o2 WHERE o2.id = ANY (p_orgs);
    SELECT coalesce(jsonb_object_agg(s.id::text, jsonb_build_object(
               'max', s.max_concurrent_calls, 'active', s.active, 'org', s.organization_id,
               'used', (SELECT count(*) FROM active_calls a WHERE a.sip_number_id = s.id))),
           '{}')
    INTO number_facts FROM sip_numbers s WHERE s.id = ANY (p_numbers);
    SELECT count(*) INTO node_used FROM active_calls WHERE node_id = p_node;

    FOR i IN 1 .. n LOOP
        o := org_facts -> (p_orgs[i]::text);
        num := number_facts -> (p_numbers[i]::text);
        IF o IS NULL OR num IS NULL OR (num ->> 'org')::uuid <> p_orgs[i]
           OR NOT (o ->> 'active')::boolean OR NOT (num ->> 'active')::boolean THEN
            verdict := 'stale';
        ELSIF (num ->> 'used')::bigint >= (num ->> 'max')::bigint THEN
            verdict := 'limit-number';
        ELSIF o ->> 'max' IS NOT NULL AND (o ->> 'used')::bigint >= (o ->> 'max')::bigint THEN
            verdict := 'limit-org';
        ELSIF node_used >= p_node_max THEN
            verdict := 'limit-node';
        ELSE
            verdict := 'admitted';
            admitted := admitted || i;
            node_used := node_used + 1;
            number_facts := jsonb_set(number_facts, ARRAY[p_numbers[i]::text, 'used'],
                                      to_jsonb((num ->> 'used')::bigint + 1));
            org_facts := jsonb_set(org_facts, ARRAY[p_orgs[i]::text, 'used'],
                                   to_jsonb((o ->> 'used')::bigint + 1));
        END IF;
        verdicts := verdicts || verdict;
    END LOOP;

    INSERT INTO sessions (id, organization_id, sip_number_id, call_id_sip, caller_number,
                          called_number, node_id)
    SELECT p_sessions[i], p_orgs[i], p_numbers[i], p_call_ids[i], p_callers[i], p_called[i],
           p_node
    FROM unnest(admitted) AS i;
    INSERT INTO active_calls (session_id, organization_id, sip_number_id, node_id, call_id_sip)
    SELECT p_sessions[i], p_orgs[i], p_numbers[i], p_node, p_call_ids[i]
    FROM unnest(admitted) AS i;
    RETURN verdicts;
END;
$$;
