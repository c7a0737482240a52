#!/usr/bin/env bash
# Database init for the compose file: the two service roles, their schemas, and their passwords
# (from the environment, never from a file in the repository).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f /docker-entrypoint-initdb.d/roles.sql.in
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v identity_pw="$GATEHOUSE_IDENTITY_PASSWORD" -v core_pw="$GATEHOUSE_CORE_PASSWORD" <<'SQL'
ALTER ROLE gatehouse_identity PASSWORD :'identity_pw';
ALTER ROLE gatehouse_core PASSWORD :'core_pw';
SQL
