#!/usr/bin/env bash
# What a managed platform gives you, and nothing more: an admin with CREATEROLE and CREATEDB
# that is not a superuser, and that owns the postgres database and the app's (RDS's master
# user; Cloud SQL's postgres). Also template1 here, so bootstrap-db can close it to PUBLIC.
# pg_hba.conf is not touched (it is mounted read-only).
set -euo pipefail
password=$(<"${POSTGRES_ADMIN_PASSWORD_FILE:?}")
psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v admin="$POSTGRES_ADMIN_ROLE" -v password="$password" -v database="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"admin" LOGIN CREATEROLE CREATEDB PASSWORD :'password';
ALTER DATABASE postgres OWNER TO :"admin";
ALTER DATABASE template1 OWNER TO :"admin";
ALTER DATABASE :"database" OWNER TO :"admin";
SQL
