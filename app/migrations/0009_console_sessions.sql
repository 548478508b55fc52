-- Sessions of the web console: a browser's cookie stands for a token after sign-in.
-- The id is the SHA-256 (hex) of the cookie's secret, so the table alone signs no one in.
-- Revoking the token ends its sessions at their next request (the console checks the token
-- on every request); the cascade only matters if a token row is ever deleted.
CREATE TABLE console_sessions (
    id          text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[0-9a-f]{64}$'),
    token_name  text COLLATE "C" NOT NULL REFERENCES api_tokens (name) ON DELETE CASCADE,
    csrf        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

-- Sign-ins delete the expired rows: this finds them without reading the table.
CREATE INDEX console_sessions_expires_at_idx ON console_sessions (expires_at);
-- The cascade from a token looks its sessions up by token.
CREATE INDEX console_sessions_token_name_idx ON console_sessions (token_name);
