-- Ended sessions, published at GET /v1/revocations (DESIGN §15) so verifiers refuse tokens that
-- were minted before the end. One row per ended session (`session_id`), or one per user whose every
-- session ended with the account (`user_id` alone: tokens of that user issued before `at`). Written
-- in the transaction that ends the sessions; kept a few minutes (the stream replays two).
CREATE TABLE revocations (
    id         BIGSERIAL PRIMARY KEY,
    session_id TEXT,                          -- the ended session's public id (the `sid` claim)
    user_id    TEXT NOT NULL,                 -- its user (the `sub` claim)
    at         BIGINT NOT NULL                -- ms; when it ended
);

CREATE INDEX revocations_at ON revocations (at);

-- identity replicas whose session cache may answer from memory, each until `lease_until` (ms, the
-- database's clock). A replica renews its lease only after its LISTEN connection has delivered a
-- notification sent after the renewal; whoever ends a session waits for an acknowledgement from
-- every replica holding a lease (or for that lease to run out) before answering.
CREATE TABLE cache_replicas (
    id          TEXT PRIMARY KEY,             -- random per process
    lease_until BIGINT NOT NULL
);
