#!/usr/bin/env bash
# The database's platform side, as a managed Postgres gives it (RDS, Cloud SQL):
#   POSTGRES_USER        the image's superuser: this container's own use (the socket) only
#   POSTGRES_ADMIN_ROLE  the admin: CREATEROLE and CREATEDB, not a superuser, like RDS's master
#                        user; it owns the postgres database and the app's (until bootstrap-db
#                        gives that to the owner), and `python -m app bootstrap-db` logs in as it
# The owner and app roles, their passwords and privileges are bootstrap-db's (app/core/bootstrap.py),
# the same step every platform runs. The image runs this script on a fresh volume
# (/docker-entrypoint-initdb.d); `make db-roles` runs it on an existing one, then bootstrap-db.
# Idempotent: each run sets the admin's password from its file (so it also rotates it), and it
# upgrades the older layouts: the volume's superuser with the app's name owning the tables, and
# owner and app roles the superuser created (the admin gets ADMIN OPTION on them).
set -euo pipefail

superuser=${POSTGRES_USER:?}
admin=${POSTGRES_ADMIN_ROLE:?}
owner=${POSTGRES_OWNER_ROLE:?}
app=${POSTGRES_APP_ROLE:?}
database=${POSTGRES_DB:-$superuser}
admin_password_file=${POSTGRES_ADMIN_PASSWORD_FILE:-/run/secrets/postgres_admin_password}
# Unset while the image initialises a volume: it has just set that password itself.
superuser_password_file=${POSTGRES_PASSWORD_FILE:-}

say() { echo "10-roles: $*"; }
die() { say "error: $*" >&2; exit 1; }

names=$(printf '%s\n' "$superuser" "$admin" "$owner" "$app")
[[ $(sort -u <<<"$names" | wc -l) == 4 ]] ||
  die "the superuser ($superuser), the admin ($admin), the owner ($owner) and the app's role ($app) need four names"
for file in "$admin_password_file" $superuser_password_file; do
  [[ -s $file ]] || die "$file is missing or empty"
done

sql() {  # sql ROLE: stdin as ROLE (over the socket) in the app's database; stops at an error
  psql --no-psqlrc --quiet --tuples-only --no-align -v ON_ERROR_STOP=1 \
    --username "$1" --dbname "$database" \
    -v superuser="$superuser" -v admin="$admin" -v owner="$owner" -v app="$app" \
    -v database="$database" -v admin_password_file="$admin_password_file" \
    -v superuser_password_file="$superuser_password_file"
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
  # The tables it created move to the owner (below): the role exists from here on, and
  # bootstrap-db gives it its login and password.
  sql "$superuser" <<<"SELECT format('CREATE ROLE %I NOLOGIN', :'owner')
    WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \\gexec"
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

\set admin_password `cat :'admin_password_file'`
SELECT format('CREATE ROLE %I', :'admin')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'admin') \gexec
ALTER ROLE :"admin" LOGIN NOSUPERUSER CREATEROLE CREATEDB NOREPLICATION NOBYPASSRLS
  PASSWORD :'admin_password';
SELECT :'superuser_password_file' <> '' AS rotate_superuser \gset
\if :rotate_superuser
\set superuser_password `cat :'superuser_password_file'`
ALTER ROLE :"superuser" PASSWORD :'superuser_password';
\endif

-- The databases a managed platform's admin owns: postgres, template1 (so it can close them to
-- PUBLIC), and the app's until bootstrap-db hands it to the owner.
SELECT format('ALTER DATABASE %I OWNER TO %I', datname, :'admin') FROM pg_database
WHERE datname IN ('postgres', 'template1', :'database')
  AND datdba = (SELECT oid FROM pg_roles WHERE rolname = :'superuser') \gexec
-- Owner and app roles the superuser created (volumes from before bootstrap-db): the admin
-- manages them as if it had created them.
SELECT format('GRANT %I TO %I WITH ADMIN OPTION', r.rolname, :'admin') FROM pg_roles r
WHERE r.rolname IN (:'owner', :'app') AND NOT EXISTS (
  SELECT FROM pg_auth_members m WHERE m.roleid = r.oid AND m.admin_option
    AND m.member = (SELECT oid FROM pg_roles WHERE rolname = :'admin')) \gexec

SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') AS owner_exists \gset
\if :owner_exists
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

\endif
SQL
say "$admin administers the roles (python -m app bootstrap-db); $superuser is the socket's only"
