-- Every version of every configuration, written by a trigger in the same
-- transaction as the change, which also announces it to watchers with NOTIFY.

CREATE TABLE configuration_versions (
    configuration_id  text COLLATE "C" NOT NULL
                      REFERENCES configurations (id) ON DELETE CASCADE,
    version           integer NOT NULL CHECK (version >= 1),
    name              text COLLATE "C" NOT NULL,
    comments          text,
    config            jsonb NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (configuration_id, version)
);

INSERT INTO configuration_versions (configuration_id, version, name, comments, config, created_at)
SELECT id, version, name, comments, config, updated_at FROM configurations;

-- Record a new version (when the version number moved) and tell listeners.
-- The payload is "<configuration id> <version>"; version 0 means deleted.
CREATE FUNCTION configurations_record_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('configuration_changed', OLD.id || ' 0');
        RETURN OLD;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.version <> OLD.version THEN
        INSERT INTO configuration_versions
            (configuration_id, version, name, comments, config, created_at)
        VALUES (NEW.id, NEW.version, NEW.name, NEW.comments, NEW.config, NEW.updated_at);
        PERFORM pg_notify('configuration_changed', NEW.id || ' ' || NEW.version);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER configurations_record_version
AFTER INSERT OR UPDATE OR DELETE ON configurations
FOR EACH ROW EXECUTE FUNCTION configurations_record_version();
