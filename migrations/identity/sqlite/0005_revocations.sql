-- Ended sessions, published at GET /v1/revocations (DESIGN §15) so verifiers refuse tokens that
-- were minted before the end. One row per ended session (`session_id`), or one per user whose every
-- session ended with the account (`user_id` alone: tokens of that user issued before `at`). Written
-- in the transaction that ends the sessions; kept a few minutes (the stream replays two).
-- (SQLite with the session cache on is held by one identity process, so it needs no replica
-- leases: PostgreSQL's cache_replicas table has no twin here.)
CREATE TABLE revocations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT,                          -- the ended session's public id (the `sid` claim)
    user_id    TEXT NOT NULL,                 -- its user (the `sub` claim)
    at         INTEGER NOT NULL               -- ms; when it ended
);

CREATE INDEX revocations_at ON revocations (at);
