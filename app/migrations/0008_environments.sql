-- Environments, and per configuration and environment an overlay: an RFC 7386 merge patch
-- applied to the base config on a resolved read. Overlays keep their own versions.

CREATE TABLE environments (
    id          text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$'),
    name        text COLLATE "C" NOT NULL UNIQUE CHECK (char_length(name) BETWEEN 1 AND 128),
    comments    text CHECK (char_length(comments) <= 1024),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Names never change, so overlays refer to the name: a resolved read needs no join.
-- RESTRICT: an environment in use goes only by an explicit cascade, which deletes (and
-- audits) its overlays first.
CREATE TABLE overlays (
    configuration_id  text COLLATE "C" NOT NULL
                      REFERENCES configurations (id) ON DELETE CASCADE,
    environment       text COLLATE "C" NOT NULL
                      REFERENCES environments (name) ON DELETE RESTRICT,
    patch             jsonb NOT NULL CHECK (jsonb_typeof(patch) = 'object'),
    comments          text CHECK (char_length(comments) <= 1024),
    version           integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (configuration_id, environment)
);
CREATE INDEX overlays_environment_idx ON overlays (environment);

-- Not tied to the overlay row: a deleted and re-created overlay continues its numbering,
-- so a resolved ETag "<version>.<overlay version>" never names two different documents.
CREATE TABLE overlay_versions (
    configuration_id  text COLLATE "C" NOT NULL
                      REFERENCES configurations (id) ON DELETE CASCADE,
    environment       text COLLATE "C" NOT NULL,
    version           integer NOT NULL CHECK (version >= 1),
    patch             jsonb NOT NULL,
    comments          text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (configuration_id, environment, version)
);

-- Record a new overlay version (when the number moved) and tell listeners which
-- configuration and environment changed: payload "<configuration id> <environment>".
CREATE FUNCTION overlays_record_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('overlay_changed', OLD.configuration_id || ' ' || OLD.environment);
        RETURN OLD;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.version <> OLD.version THEN
        INSERT INTO overlay_versions
            (configuration_id, environment, version, patch, comments, created_at)
        VALUES (NEW.configuration_id, NEW.environment, NEW.version, NEW.patch, NEW.comments,
                NEW.updated_at);
        PERFORM pg_notify('overlay_changed', NEW.configuration_id || ' ' || NEW.environment);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER overlays_record_version
AFTER INSERT OR UPDATE OR DELETE ON overlays
FOR EACH ROW EXECUTE FUNCTION overlays_record_version();

-- A deleted environment turns cached resolved reads of it into 404s (see 0005); a new
-- one wakes those watching a configuration resolved for it before it existed.
CREATE TRIGGER environments_notify_cache
    AFTER INSERT OR DELETE ON environments
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache('environment_changed');

CREATE TRIGGER environments_truncate_notify_cache
    AFTER TRUNCATE ON environments
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache('cache_reset');

CREATE TRIGGER overlays_truncate_notify_cache
    AFTER TRUNCATE ON overlays
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache('cache_reset');

-- Audit entries name the environment of an environment or overlay write. The new check
-- allows more than the old one, which every stored row passed: NOT VALID skips re-reading
-- the whole log under the table lock (new rows are checked all the same).
ALTER TABLE audit_log ADD COLUMN environment text COLLATE "C";
ALTER TABLE audit_log DROP CONSTRAINT audit_log_resource_type_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_resource_type_check
    CHECK (resource_type IN ('application', 'configuration', 'token', 'environment', 'overlay'))
    NOT VALID;
