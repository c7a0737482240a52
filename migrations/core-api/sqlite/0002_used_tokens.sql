-- Single-use tokens (DESIGN §15). JTI_STORE=postgres is the shared store replicas use; on SQLite
-- (one process) the verifier's memory store does the job, and this table stays empty. It exists
-- so both stores keep one schema.
CREATE TABLE used_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL               -- the token's exp, seconds
);

CREATE INDEX used_tokens_expires_at ON used_tokens (expires_at);
