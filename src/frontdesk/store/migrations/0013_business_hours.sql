-- Structured business hours (issue 15, item 1): `business_hours` in an organization's
-- config (agent_instances.config) and in a number's override (sip_numbers.config_override)
-- was free text; it becomes the object frontdesk.tenancy.hours.BusinessHours reads:
--   {"timezone": "Europe/Rome", "weekly": {"mon": [{"opens": "09:00", "closes": "18:00"}], …},
--    "closed_dates": [], "when_closed": "message", "closed_greeting": "…", "note": ""}
--
-- What is read (the same grammar as parse_hours_text in Python; a test holds them equal):
-- segments separated by ';' or new lines, each "DAYS TIMES"; days as English names or their
-- first three letters, alone, as ranges ("Mon-Fri", "mon to fri") or lists ("Sat, Sun");
-- times as 9-18, 9:00-18:00, 9.30-13, 9am-1pm, several joined by ',' or 'and', or
-- "closed". Anything else (another language, "by appointment", overlapping times on one
-- day) is not guessed at: the text is kept as the schedule's note, with no weekly hours,
-- which the agent reads and which answers calls as open (as before).
-- `frontdesk_hours_from_text` stays: it is pure, and the test compares it with Python.

CREATE FUNCTION frontdesk_hhmm(hour text, minute text, half text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    h integer := hour::integer;
    m integer := coalesce(minute, '0')::integer;
BEGIN
    IF half = 'pm' AND h < 12 THEN h := h + 12; ELSIF half = 'am' AND h = 12 THEN h := 0; END IF;
    IF h = 24 AND m = 0 THEN h := 0; END IF;
    IF h > 23 OR m > 59 THEN RETURN NULL; END IF;
    RETURN lpad(h::text, 2, '0') || ':' || lpad(m::text, 2, '0');
END;
$$;

CREATE FUNCTION frontdesk_hours_from_text(source text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    days constant text[] := ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
    weekly jsonb := '{}';
    segment text;
    parts text[];
    part text;
    found text[];
    ranges jsonb;
    opens text;
    closes text;
    first_day integer;
    last_day integer;
    day text;
    day_ranges jsonb;
    previous_closes text;
    previous_overnight boolean;
    item jsonb;
    i integer;
BEGIN
    FOREACH segment IN ARRAY regexp_split_to_array(lower(coalesce(source, '')), '[;\n]+') LOOP
        segment := btrim(segment);
        CONTINUE WHEN segment = '';
        -- DAYS (letters, dots, commas, spaces, dashes), an optional colon, then TIMES
        found := regexp_match(segment, '^([a-z., –-]*[a-z.])[ :]*[ ]((?:[0-9].*)|closed)$');
        IF found IS NULL THEN RETURN NULL; END IF;
        ranges := '[]';
        IF found[2] <> 'closed' THEN
            FOREACH part IN ARRAY regexp_split_to_array(btrim(found[2]), '[ ]*(?:,|&|\mand\M)[ ]*') LOOP
                parts := regexp_match(part,
                    '^([0-9]{1,2})(?:[:.]([0-9]{2}))?[ ]*(am|pm)?[ ]*(?:-|–|to)[ ]*'
                    '([0-9]{1,2})(?:[:.]([0-9]{2}))?[ ]*(am|pm)?$');
                IF parts IS NULL THEN RETURN NULL; END IF;
                opens := frontdesk_hhmm(parts[1], parts[2], parts[3]);
                closes := frontdesk_hhmm(parts[4], parts[5], parts[6]);
                IF opens IS NULL OR closes IS NULL OR opens = closes THEN RETURN NULL; END IF;
                ranges := ranges || jsonb_build_array(jsonb_build_object('opens', opens, 'closes', closes));
            END LOOP;
        END IF;
        FOREACH part IN ARRAY regexp_split_to_array(btrim(found[1], ' :,'), '[ ]*(?:,|&|\mand\M)[ ]*') LOOP
            parts := regexp_match(btrim(part),
                '^(mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?(?:[ ]*(?:-|–|to)[ ]*(mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?)?$');
            IF parts IS NULL THEN RETURN NULL; END IF;
            first_day := array_position(days, parts[1]);
            last_day := coalesce(array_position(days, parts[2]), first_day);
            FOR i IN 0 .. ((last_day - first_day + 7) % 7) LOOP
                day := days[((first_day - 1 + i) % 7) + 1];
                weekly := jsonb_set(weekly, ARRAY[day], coalesce(weekly -> day, '[]') || ranges);
            END LOOP;
        END LOOP;
    END LOOP;
    -- drop closed days; sort each day's openings; refuse overlaps (as the model does)
    FOREACH day IN ARRAY days LOOP
        CONTINUE WHEN NOT weekly ? day;
        IF jsonb_array_length(weekly -> day) = 0 THEN
            weekly := weekly - day;
            CONTINUE;
        END IF;
        IF jsonb_array_length(weekly -> day) > 6 THEN RETURN NULL; END IF;
        SELECT jsonb_agg(value ORDER BY value ->> 'opens') INTO day_ranges
            FROM jsonb_array_elements(weekly -> day);
        previous_closes := NULL;
        previous_overnight := false;
        FOR item IN SELECT value FROM jsonb_array_elements(day_ranges) LOOP
            IF previous_overnight OR (previous_closes IS NOT NULL AND item ->> 'opens' < previous_closes) THEN
                RETURN NULL;
            END IF;
            previous_closes := item ->> 'closes';
            previous_overnight := item ->> 'closes' <= item ->> 'opens';
        END LOOP;
        weekly := jsonb_set(weekly, ARRAY[day], day_ranges);
    END LOOP;
    IF weekly = '{}' THEN RETURN NULL; END IF;
    RETURN jsonb_build_object('weekly', weekly);
END;
$$;

CREATE FUNCTION frontdesk_hours_value(value jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN jsonb_typeof(value) <> 'string' THEN value
        WHEN btrim(value #>> '{}') = '' THEN 'null'::jsonb
        ELSE coalesce(
            frontdesk_hours_from_text(value #>> '{}'),
            jsonb_build_object('note', left(btrim(value #>> '{}'), 2000))
        )
    END
$$;

UPDATE agent_instances
   SET config = jsonb_set(config, '{business_hours}', frontdesk_hours_value(config -> 'business_hours'))
 WHERE jsonb_typeof(config -> 'business_hours') = 'string';
UPDATE sip_numbers
   SET config_override = jsonb_set(config_override, '{business_hours}',
                                   frontdesk_hours_value(config_override -> 'business_hours'))
 WHERE jsonb_typeof(config_override -> 'business_hours') = 'string';
