-- A JSON Schema (draft 2020-12) per configuration, kept with each version (API section 11).
-- SQL NULL means "no schema"; a schema is a JSON object or a boolean, never JSON null.

ALTER TABLE configurations ADD COLUMN schema jsonb
    CONSTRAINT configurations_schema_check
    CHECK (schema IS NULL OR jsonb_typeof(schema) IN ('object', 'boolean'));

ALTER TABLE configuration_versions ADD COLUMN schema jsonb;

-- As in 0002, and the version row now carries the schema too.
CREATE OR REPLACE FUNCTION configurations_record_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('configuration_changed', OLD.id || ' 0');
        RETURN OLD;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.version <> OLD.version THEN
        INSERT INTO configuration_versions
            (configuration_id, version, name, comments, config, schema, created_at)
        VALUES (NEW.id, NEW.version, NEW.name, NEW.comments, NEW.config, NEW.schema,
                NEW.updated_at);
        PERFORM pg_notify('configuration_changed', NEW.id || ' ' || NEW.version);
    END IF;
    RETURN NEW;
END
$$;
