-- Per-account lockout (DESIGN §14), counted here so every identity replica agrees. Keyed by the
-- normalised email address whether or not an account has it, so an unknown address locks
-- exactly like a known one. Every change is one atomic upsert/UPDATE … RETURNING.
CREATE TABLE sign_in_failures (
    email        TEXT PRIMARY KEY,            -- normalised address the attempts named
    failures     BIGINT NOT NULL,             -- attempts since the last success (counted before hashing)
    locked_until BIGINT NOT NULL,             -- ms; password sign-in refused until then (0: never locked)
    lock_ms      BIGINT NOT NULL,             -- length of the last lock; the next one is twice it (0: none yet)
    updated_at   BIGINT NOT NULL              -- last attempt, for pruning idle rows
);

-- OWASP device cookies: a browser that signed in to the account keeps its own counter, so
-- failures from elsewhere do not lock the owner out. Dropped with the account (cascade) and on
-- password reset.
CREATE TABLE devices (
    token_hash   TEXT PRIMARY KEY,            -- base64url SHA-256 of the cookie's 32 random bytes
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    failures     BIGINT NOT NULL DEFAULT 0,   -- as sign_in_failures, for this browser alone
    locked_until BIGINT NOT NULL DEFAULT 0,
    lock_ms      BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL              -- the cookie's Max-Age (1 year): not honoured after
);

-- Dropping a user's devices on password reset.
CREATE INDEX devices_user_id ON devices (user_id);
