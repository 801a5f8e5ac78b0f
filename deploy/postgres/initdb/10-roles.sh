#!/usr/bin/env bash
# The database's roles, so that the app is not a superuser:
#   POSTGRES_OWNER_ROLE  owns the database, its schema and its tables; migrations connect as it
#   POSTGRES_APP_ROLE    the app: reads and writes the owner's tables' rows, creates nothing
#   POSTGRES_USER        the image's superuser: this container's own use (the socket) only
# The image runs it on a fresh volume (/docker-entrypoint-initdb.d); `make db-roles` runs it on
# an existing one. Idempotent: each run sets the passwords from the secret files (so it also
# rotates them), and it upgrades the layout from before these roles, where the volume's
# superuser had the app's name and owned the tables.
set -euo pipefail

superuser=${POSTGRES_USER:?}
owner=${POSTGRES_OWNER_ROLE:?}
app=${POSTGRES_APP_ROLE:?}
database=${POSTGRES_DB:-$superuser}
owner_password_file=${POSTGRES_OWNER_PASSWORD_FILE:-/run/secrets/postgres_owner_password}
app_password_file=${POSTGRES_APP_PASSWORD_FILE:-/run/secrets/postgres_app_password}
# Unset while the image initialises a volume: it has just set that password itself.
superuser_password_file=${POSTGRES_PASSWORD_FILE:-}

say() { echo "10-roles: $*"; }
die() { say "error: $*" >&2; exit 1; }

[[ $owner != "$app" && $owner != "$superuser" && $app != "$superuser" ]] ||
  die "the superuser ($superuser), the owner ($owner) and the app's role ($app) need three names"
for file in "$owner_password_file" "$app_password_file" $superuser_password_file; do
  [[ -s $file ]] || die "$file is missing or empty"
done

sql() {  # sql ROLE: stdin as ROLE (over the socket) in the app's database; stops at an error
  psql --no-psqlrc --quiet --tuples-only --no-align -v ON_ERROR_STOP=1 \
    --username "$1" --dbname "$database" \
    -v superuser="$superuser" -v owner="$owner" -v app="$app" -v database="$database" \
    -v owner_password_file="$owner_password_file" -v app_password_file="$app_password_file" \
    -v superuser_password_file="$superuser_password_file" \
    -v owner_createdb="${POSTGRES_OWNER_CREATEDB:-false}"
}
is_superuser() {
  [[ $(sql "$1" <<<'SELECT rolsuper FROM pg_roles WHERE rolname = current_user' 2>/dev/null) == t ]]
}

if is_superuser "$superuser"; then
  :
elif is_superuser "$app"; then
  # The old layout. The bootstrap superuser cannot lose SUPERUSER, and no role can rename
  # itself: a temporary superuser renames it, which frees the app's name for a role of its own.
  say "$app is this volume's superuser (the layout before these roles): renaming it $superuser"
  sql "$app" <<'SQL'
SELECT 'CREATE ROLE roles_upgrade SUPERUSER LOGIN'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'roles_upgrade') \gexec
SQL
  sql roles_upgrade <<<'ALTER ROLE :"app" RENAME TO :"superuser"'
  sql "$superuser" <<<'DROP ROLE roles_upgrade'
else
  die "neither $superuser nor $app is a superuser here: is this the stack's volume?"
fi

# The superuser over TCP is refused: only this container (its socket) uses it. First line wins.
hba=$(sql "$superuser" <<<'SHOW hba_file')
reject="host all \"$superuser\" all reject"
if grep -qxF "$reject" "$hba"; then
  :
elif [[ -w $hba && -w ${hba%/*} ]]; then
  { echo "$reject"; cat "$hba"; } >"$hba.new" && mv "$hba.new" "$hba"
  sql "$superuser" <<<'SELECT pg_reload_conf()' >/dev/null
  say "the superuser may no longer log in over TCP"
else
  say "warning: $hba is not writable here; the superuser may still log in over TCP" >&2
fi

sql "$superuser" <<'SQL'
-- Sessions the superuser opened over TCP (the app's, in the old layout) end here.
SELECT count(pg_terminate_backend(pid)) AS ended, count(*) > 0 AS any_ended
FROM pg_stat_activity WHERE usename = :'superuser' AND client_addr IS NOT NULL \gset
\if :any_ended
\echo 10-roles: ended :ended superuser sessions opened over TCP
\endif

\set owner_password `cat :'owner_password_file'`
\set app_password `cat :'app_password_file'`
SELECT format('CREATE ROLE %I', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I', :'app')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec
ALTER ROLE :"owner" LOGIN NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'owner_password';
ALTER ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
  PASSWORD :'app_password';
-- CREATEDB only where asked (the test stack, whose tests create a database of their own).
SELECT format('ALTER ROLE %I %s', :'owner',
              CASE WHEN :'owner_createdb' = 'true' THEN 'CREATEDB' ELSE 'NOCREATEDB' END) \gexec
SELECT format('REVOKE %I FROM %I', r.rolname, :'app')
FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = :'app') \gexec
SELECT :'superuser_password_file' <> '' AS rotate_superuser \gset
\if :rotate_superuser
\set superuser_password `cat :'superuser_password_file'`
ALTER ROLE :"superuser" PASSWORD :'superuser_password';
\endif

-- The owner owns the database and its schema; only the named roles connect, and the app's
-- role creates nothing (no table, no schema, no temporary table).
ALTER DATABASE :"database" OWNER TO :"owner";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"database" TO :"app";
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";

-- What the old layout's superuser created (the migrations' tables) goes to the owner; objects
-- of extensions stay theirs, and a column's sequence follows its table.
SELECT format('ALTER %s %s OWNER TO %I',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                             WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE'
                             ELSE 'TABLE' END,
              c.oid::regclass, :'owner')
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = :'owner')
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e')) \gexec
SELECT format('ALTER %s %s OWNER TO %I', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
              t.oid::regtype, :'owner')
FROM pg_type t
WHERE t.typnamespace = 'public'::regnamespace AND t.typowner <> (SELECT oid FROM pg_roles WHERE rolname = :'owner')
  AND (t.typtype IN ('e', 'd', 'r')
       OR t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                  AND d.objid = t.oid AND d.deptype = 'e') \gexec
SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, :'owner')
FROM pg_proc p
WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = :'owner')
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e') \gexec

-- The app's role: rows of the tables, and the sequences behind them; for today's tables and,
-- through the owner's default privileges, for those that later migrations create.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO :"app";
SQL
say "$owner owns $database; $app reads and writes its rows; $superuser is the socket's only"
