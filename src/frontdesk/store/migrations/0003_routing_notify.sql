-- Routing caches (one per node) reload when anything a routing decision reads changes:
-- numbers, organizations and their agent configs. The payload names the table; a reload
-- reads everything again, so the payload is a hint, never a diff.
CREATE FUNCTION frontdesk_notify_routing() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('frontdesk_routing', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER sip_numbers_notify_routing
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON sip_numbers
    FOR EACH STATEMENT EXECUTE FUNCTION frontdesk_notify_routing();
CREATE TRIGGER organizations_notify_routing
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organizations
    FOR EACH STATEMENT EXECUTE FUNCTION frontdesk_notify_routing();
CREATE TRIGGER agent_instances_notify_routing
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON agent_instances
    FOR EACH STATEMENT EXECUTE FUNCTION frontdesk_notify_routing();
