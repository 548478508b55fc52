-- Applications and their named configurations. Ids are ULIDs made by the
-- application; the "C" collation makes text order equal ULID (creation) order.

CREATE TABLE applications (
    id          text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$'),
    name        text COLLATE "C" NOT NULL UNIQUE
                CHECK (char_length(name) BETWEEN 1 AND 128),
    comments    text CHECK (char_length(comments) <= 1024),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE configurations (
    id              text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[0-7][0-9A-HJKMNP-TV-Z]{25}$'),
    application_id  text COLLATE "C" NOT NULL REFERENCES applications (id) ON DELETE RESTRICT,
    name            text COLLATE "C" NOT NULL CHECK (char_length(name) BETWEEN 1 AND 128),
    comments        text CHECK (char_length(comments) <= 1024),
    config          jsonb NOT NULL CHECK (jsonb_typeof(config) = 'object'),
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT configurations_application_id_name_key UNIQUE (application_id, name)
);

-- The unique index on (application_id, name) serves lookups by application and
-- name; this one serves an application's configurations in id order.
CREATE INDEX configurations_application_id_id_idx ON configurations (application_id, id);
