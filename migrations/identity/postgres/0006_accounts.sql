-- Social sign-in (DESIGN §17). Conventions as in 0001: TEXT ids, BIGINT milliseconds, 0/1 flags.

-- A user's link to an account at an OAuth 2.0 / OpenID provider. Provider access, refresh and
-- ID tokens are never stored: Gatehouse only needs to know who the provider says this is.
-- The password "account" (Better-Auth's `credential`) is not a row: it is the user's own
-- password hash, so password sign-up and sign-in stay exactly as they were.
CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,             -- UUID; the `id` list-accounts shows and unlink-account takes
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id TEXT NOT NULL,                -- the configured id (SOCIAL_PROVIDERS), e.g. `google`
    account_id  TEXT NOT NULL,                -- the provider's subject (ID token `sub`)
    scopes      TEXT NOT NULL,                -- the scopes granted, space-separated
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    -- One Gatehouse user per provider subject: this index decides concurrent first sign-ins and
    -- serves the sign-in lookup.
    UNIQUE (provider_id, account_id)
);

-- list-accounts and the "last way to sign in" count.
CREATE INDEX accounts_user_id ON accounts (user_id);

-- One row per authorization flow in progress, from sign-in/social (or link-social) to its
-- callback. The browser holds the state in a short-lived cookie; the callback must present the
-- same value and the row is deleted by the one callback that uses it (DELETE … RETURNING).
CREATE TABLE oauth_states (
    state_hash     TEXT PRIMARY KEY,          -- base64url SHA-256 of the state; the state itself is not kept
    provider_id    TEXT NOT NULL,
    code_verifier  TEXT NOT NULL,             -- PKCE verifier: needed once, at the token request
    nonce          TEXT NOT NULL,             -- compared with the ID token's `nonce`
    callback_url   TEXT NOT NULL,             -- checked by edge before the flow started
    error_url      TEXT NOT NULL,
    new_user_url   TEXT NULL,
    link_user_id   TEXT NULL,                 -- link-social: the signed-in user to link to
    expires_at     BIGINT NOT NULL
);
