-- Single-use tokens across replicas (JTI_STORE=postgres, DESIGN §15): the jti of every token
-- accepted, until it expires (plus the verifier's leeway). An insert that conflicts is a replay.
CREATE TABLE used_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL                -- the token's exp, seconds
);

CREATE INDEX used_tokens_expires_at ON used_tokens (expires_at);
