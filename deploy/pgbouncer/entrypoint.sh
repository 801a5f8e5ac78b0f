#!/usr/bin/env bash
# Writes pgbouncer.ini and the one user it knows (the app's role, its password from the secret
# file) into /tmp (the root is read-only), then runs PgBouncer in the foreground.
#   PGBOUNCER_DATABASE_HOST/PORT  where Postgres is (db:5432)
#   PGBOUNCER_POOL_SIZE           server connections per database and user (20)
#   PGBOUNCER_MAX_DB_CONNECTIONS  server connections to the database in all (25): below
#                                 Postgres' max_connections with room for the owner and admin
#   PGBOUNCER_MAX_CLIENTS         client connections (1000): every replica's pool
#   PGBOUNCER_SERVER_TLS          TLS to Postgres: disable, prefer, require, verify-full (prefer)
#   PGBOUNCER_SERVER_CA_FILE      the CA verify-full trusts
#   PGBOUNCER_STATEMENT_TIMEOUT   ms; set on each server connection, since PgBouncer cannot pass
#                                 the client's own (5000, the app's DB_STATEMENT_TIMEOUT_MS)
set -euo pipefail

user=${POSTGRES_USER:?the app role PgBouncer logs in as}
password=$(<"${POSTGRES_PASSWORD_FILE:-/run/secrets/postgres_password}")
dir=/tmp/pgbouncer
mkdir -p "$dir" && chmod 700 "$dir"
printf '"%s" "%s"\n' "${user//\"/\"\"}" "${password//\"/\"\"}" >"$dir/userlist.txt"
chmod 600 "$dir/userlist.txt"

cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=${PGBOUNCER_DATABASE_HOST:-db} port=${PGBOUNCER_DATABASE_PORT:-5432}

[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = ${PGBOUNCER_POOL_SIZE:-20}
max_db_connections = ${PGBOUNCER_MAX_DB_CONNECTIONS:-25}
max_client_conn = ${PGBOUNCER_MAX_CLIENTS:-1000}
; asyncpg prepares every statement: PgBouncer keeps up to this many per server connection
max_prepared_statements = 200
; asyncpg's own startup parameter; the timeout is the server connections' (below)
ignore_startup_parameters = statement_timeout
server_reset_query =
server_tls_sslmode = ${PGBOUNCER_SERVER_TLS:-prefer}
${PGBOUNCER_SERVER_CA_FILE:+server_tls_ca_file = $PGBOUNCER_SERVER_CA_FILE}
; a server connection idle this long is closed (Postgres' side of the budget)
server_idle_timeout = 60
admin_users =
stats_users =
INI
# The statement timeout of every server connection, set once when PgBouncer opens it.
sed -i "s|^\* = .*|& connect_query='SET statement_timeout = ${PGBOUNCER_STATEMENT_TIMEOUT:-5000}'|" \
  "$dir/pgbouncer.ini"
exec pgbouncer "$dir/pgbouncer.ini"
