-- API tokens (only a SHA-256 of each secret is kept) and the audit log of every write.

-- A token's name is its identity: it is the audit log's actor and is never reused,
-- so revoked tokens stay as rows (revoked_at set) and keep their name taken.
CREATE TABLE api_tokens (
    name           text COLLATE "C" PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
    role           text NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
    secret_sha256  bytea NOT NULL UNIQUE CHECK (octet_length(secret_sha256) = 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_used_at   timestamptz,
    revoked_at     timestamptz
);

-- One row per write, inserted in the same transaction as the write. Ids are ULIDs
-- made by the application, so id order is time order (the "C" collation keeps it).
CREATE TABLE audit_log (
    id             text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$'),
    at             timestamptz NOT NULL DEFAULT now(),
    actor          text COLLATE "C" NOT NULL,
    action         text NOT NULL
                   CHECK (action IN ('create', 'update', 'delete', 'restore', 'revoke')),
    resource_type  text NOT NULL CHECK (resource_type IN ('application', 'configuration', 'token')),
    resource_id    text COLLATE "C" NOT NULL,
    version        integer CHECK (version >= 1),
    request_id     text
);

-- Newest-first pages filtered by resource, actor or action walk one of these backwards.
CREATE INDEX audit_log_resource_id_id_idx ON audit_log (resource_id, id);
CREATE INDEX audit_log_actor_id_idx ON audit_log (actor, id);
CREATE INDEX audit_log_action_id_idx ON audit_log (action, id);
