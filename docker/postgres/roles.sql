-- Least privilege for Gatehouse on PostgreSQL (DESIGN §10): one login role per service, each
-- owning only its own schema. identity cannot read `app`, core-api cannot read `auth`, and edge
-- has no database role at all. Run once per database as a superuser (the compose file's
-- database init does); passwords are set separately (docker/postgres/10-gatehouse.sh) so this
-- file holds no secret and the tests can run it as is.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gatehouse_identity') THEN
        CREATE ROLE gatehouse_identity LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gatehouse_core') THEN
        CREATE ROLE gatehouse_core LOGIN;
    END IF;
END
$$;

-- Each service applies its own migrations inside its schema, so it owns the schema.
CREATE SCHEMA IF NOT EXISTS auth AUTHORIZATION gatehouse_identity;
CREATE SCHEMA IF NOT EXISTS app AUTHORIZATION gatehouse_core;
ALTER SCHEMA auth OWNER TO gatehouse_identity;
ALTER SCHEMA app OWNER TO gatehouse_core;

-- Nobody else may even look inside them, and nobody creates objects in `public`.
REVOKE ALL ON SCHEMA auth FROM PUBLIC;
REVOKE ALL ON SCHEMA app FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
