-- core-api's example domain (DESIGN §9), in schema `app` on PostgreSQL and its own file on SQLite.
-- Ids are UUID strings in TEXT and times are milliseconds since the epoch in integers, so the
-- service writes each query once for both stores.

-- The catalog is reference data owned by migrations: core-api reads it once at start and serves it
-- from memory, so a catalog change ships as a new migration (and a restart), never as a live write.
CREATE TABLE products (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    -- Money in integer minor units: totals never suffer floating-point rounding.
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    -- ISO 4217 code; price_cents is in this currency's minor unit.
    currency    TEXT NOT NULL
);

-- Fixed ids, so clients, tests and later migrations can name a product across installations.
INSERT INTO products (id, name, price_cents, currency) VALUES
    ('0b7e5b52-3a4c-4f5e-9d6a-1f2e3d4c5b60', 'Gatehouse mug', 1200, 'EUR'),
    ('5d1c2b3a-6e7f-4a8b-9c0d-2e3f4a5b6c70', 'Brass door key', 450, 'EUR'),
    ('8f9e0d1c-2b3a-4c5d-8e6f-3a4b5c6d7e80', 'Portcullis poster', 2500, 'EUR'),
    ('c4d3e2f1-0a9b-4c8d-a7e6-4b5c6d7e8f90', 'Moat maintenance plan', 9900, 'EUR');

-- One row per user, made the first time the user calls core-api. user_id is identity's user id
-- (the token's `sub`); it has no foreign key because users live in identity's store, which
-- core-api can neither read nor trust beyond the signed token.
CREATE TABLE profiles (
    user_id    TEXT PRIMARY KEY,
    -- The address the first token carried; answers use the current token's address.
    email      TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE orders (
    id          TEXT PRIMARY KEY,
    -- The token's `sub`. Not a foreign key to profiles: placing an order must not depend on the
    -- caller having fetched their profile first.
    user_id     TEXT NOT NULL,
    product_id  TEXT NOT NULL REFERENCES products (id),
    -- The API allows 1 to 100; the check keeps any other writer to the same rule.
    quantity    INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 100),
    -- Priced when placed, so a later catalog price change never rewrites an order's total.
    total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
    status      TEXT NOT NULL DEFAULT 'placed',
    created_at  INTEGER NOT NULL
);

-- "My orders, newest first" is the only listing: one index answers it without a sort; id breaks
-- ties between orders placed in the same millisecond so the order of a listing is stable.
CREATE INDEX orders_by_user_newest ON orders (user_id, created_at DESC, id DESC);
