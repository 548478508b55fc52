-- A scoped token sees only the applications listed for it. `scoped` is kept on the token,
-- not inferred from its rows: a scoped token whose applications were all deleted sees
-- nothing, never everything. Scopes name applications by id, so a rename keeps access and
-- a deletion takes the application out of every scope.
ALTER TABLE api_tokens ADD COLUMN scoped boolean NOT NULL DEFAULT false;

CREATE TABLE token_applications (
    token_name      text COLLATE "C" NOT NULL REFERENCES api_tokens (name),
    application_id  text COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    PRIMARY KEY (token_name, application_id)
);

-- The ON DELETE CASCADE of an application looks its scopes up by application.
CREATE INDEX token_applications_application_id_idx ON token_applications (application_id);

-- Workers keep each live token's scope in their cache: a change must reach them.
CREATE TRIGGER token_applications_notify_cache
    AFTER INSERT OR DELETE ON token_applications
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cache('token_changed');
