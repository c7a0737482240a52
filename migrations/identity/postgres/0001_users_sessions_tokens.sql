-- identity's tables (schema `auth`, set as search_path by the connection).
-- Conventions shared with the SQLite migrations, so one set of queries serves both stores:
-- ids are TEXT (UUID strings), times BIGINT milliseconds since the epoch, flags BIGINT 0/1
-- (the Any driver decodes integers reliably on both stores, booleans not).

CREATE TABLE users (
    id             TEXT PRIMARY KEY,          -- UUID; the `sub` of internal tokens
    -- Stored trimmed and lower-cased, so this UNIQUE index both enforces one account per
    -- address (it decides concurrent sign-ups) and serves the sign-in lookup.
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,             -- argon2id PHC string, never the password
    email_verified BIGINT NOT NULL DEFAULT 0, -- 0/1
    image          TEXT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE sessions (
    -- Public id (UUID): listings, logs, the `sid` claim. Knowing it grants nothing.
    id             TEXT PRIMARY KEY,
    -- base64url SHA-256 of the secret session token; the token itself is never stored.
    -- UNIQUE gives the token exchange its one indexed lookup.
    token_hash     TEXT NOT NULL UNIQUE,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- What the session was created from: the binding check compares against these.
    ip_address     TEXT NOT NULL,
    user_agent     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,           -- sign-in: freshness and the absolute maximum count from it
    expires_at     BIGINT NOT NULL,           -- refused from this instant on
    extended_at    BIGINT NOT NULL,           -- last sliding extension: the next is due SESSION_UPDATE_AGE later
    max_expires_at BIGINT NOT NULL,           -- created_at + SESSION_MAX_AGE: no extension goes past it
    remember       BIGINT NOT NULL,           -- 0: browser-session cookie, never extended
    revoked_at     BIGINT NULL                -- sign-out/revocation; kept for the audit trail
);

-- Listing and revoking a user's sessions (password change/reset, account deletion).
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Single-use links (email verification, password reset), stored only as their SHA-256.
CREATE TABLE verification_tokens (
    token_hash TEXT PRIMARY KEY,              -- base64url SHA-256 of the emailed token
    purpose    TEXT NOT NULL,                 -- which flow the token is good for, and only that one
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT NULL,                   -- set by the one use that wins (UPDATE … WHERE used_at IS NULL)
    created_at BIGINT NOT NULL
);

-- Invalidating a user's outstanding tokens of one purpose when a new one is issued or used.
CREATE INDEX verification_tokens_user_purpose ON verification_tokens (user_id, purpose);
