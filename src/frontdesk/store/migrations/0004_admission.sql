-- 0004: the admission decision as one server-side function, so a node needs one round trip
-- per INVITE and holds the organization's row lock only while the server works.
-- It runs as its caller (frontdesk_operator, after SET LOCAL ROLE): RLS applies as usual.
-- Why it is exact: see frontdesk/store/admission.py. Locks: the node's row, then the
-- organization's row, in that order everywhere (no deadlock); both are held only while
-- this function runs on the server.
CREATE FUNCTION frontdesk_admit(
    p_session uuid, p_org uuid, p_number uuid, p_node text, p_node_max integer,
    p_call_id text, p_caller text, p_called text
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    org_max integer;
    org_active boolean;
    number_max integer;
    number_active boolean;
    number_org uuid;
BEGIN
    -- every admission on this node queues here...
    PERFORM 1 FROM nodes WHERE id = p_node FOR UPDATE;
    -- ...and every admission for this organization, from any node, here
    SELECT max_concurrent_calls, active INTO org_max, org_active
    FROM organizations WHERE id = p_org FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'number-changed';
    END IF;
    SELECT max_concurrent_calls, active, organization_id INTO number_max, number_active, number_org
    FROM sip_numbers WHERE id = p_number;
    IF NOT FOUND OR number_org <> p_org THEN
        RETURN 'number-changed';  -- removed or reassigned since the node's snapshot
    END IF;
    IF NOT org_active THEN
        RETURN 'org-suspended';
    END IF;
    IF NOT number_active THEN
        RETURN 'number-inactive';
    END IF;
    -- READ COMMITTED: these counts see every row committed before the lock was granted
    IF (SELECT count(*) FROM active_calls WHERE sip_number_id = p_number) >= number_max THEN
        RETURN 'limit-number';
    END IF;
    IF org_max IS NOT NULL
       AND (SELECT count(*) FROM active_calls WHERE organization_id = p_org) >= org_max THEN
        RETURN 'limit-org';
    END IF;
    IF (SELECT count(*) FROM active_calls WHERE node_id = p_node) >= p_node_max THEN
        RETURN 'limit-node';
    END IF;
    INSERT INTO sessions (id, organization_id, sip_number_id, call_id_sip, caller_number,
                          called_number, node_id)
    VALUES (p_session, p_org, p_number, p_call_id, p_caller, p_called, p_node);
    INSERT INTO active_calls (session_id, organization_id, sip_number_id, node_id, call_id_sip)
    VALUES (p_session, p_org, p_number, p_node, p_call_id);
    RETURN 'admitted';
END;
$$;
