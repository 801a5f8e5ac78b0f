"""``python -m app bootstrap-db``: the database's roles and privileges, set up by an admin that
is not a superuser (RDS's master user, Cloud SQL's ``postgres``: CREATEROLE and CREATEDB).

  owner (POSTGRES_OWNER)  owns the database, its schema and its tables: migrations connect as it
  app (POSTGRES_USER)     reads and writes the owner's tables' rows; creates nothing, never
                          writes ``alembic_version``, connects to its own database only

Each step first asks the catalog whether it is needed, and runs only if it is: a second run
changes nothing, and a run on a database someone changed by hand puts back only what differs.
A password is checked by logging in with it, since only a superuser may read the stored hash.
Needs PostgreSQL 16 or newer (a CREATEROLE admin manages the roles it created, or was given
ADMIN OPTION on, and takes on the owner's privileges with SET ROLE).
"""

import asyncio
import logging
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from app.core.config import BootstrapSettings, Settings
from app.core.database import postgres_ssl

logger = logging.getLogger(__name__)

# The databases every cluster has: PUBLIC loses CONNECT on them, so the app's role (and any
# other role not named) can reach its own database only.
SHARED_DATABASES = ("postgres", "template1")
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT")
# Alembic's own table, created here as the owner's (the shape Alembic creates), so that the
# default privileges that give the app the rows of every new table never give it this one.
ALEMBIC_VERSION = """CREATE TABLE IF NOT EXISTS public.alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"""
CONNECT_ATTEMPTS = 15


class BootstrapError(Exception):
    """What stops the bootstrap, worded for the operator (never with a password)."""


@dataclass(frozen=True)
class RolePlan:
    database: str
    owner: str
    owner_password: str
    owner_createdb: bool
    app: str
    app_password: str

    @classmethod
    def from_settings(cls, settings: Settings, bootstrap: BootstrapSettings) -> "RolePlan":
        plan = cls(
            database=settings.postgres_db,
            owner=bootstrap.postgres_owner,
            owner_password=bootstrap.postgres_owner_password.get_secret_value(),
            owner_createdb=bootstrap.postgres_owner_createdb,
            app=settings.postgres_user,
            app_password=settings.postgres_password.get_secret_value(),
        )
        if plan.owner == plan.app:
            raise BootstrapError("POSTGRES_OWNER and POSTGRES_USER must name two roles")
        if not plan.owner_password or not plan.app_password:
            raise BootstrapError(
                "the owner's and the app's passwords are both needed "
                "(postgres_owner_password and postgres_password in /run/secrets)"
            )
        return plan


def quote(name: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """An SQL string literal (standard_conforming_strings, on since PostgreSQL 9.1)."""
    return "'" + value.replace("'", "''") + "'"


class Bootstrap:
    """One run: each ``step`` runs its action only when its check says it is needed."""

    def __init__(self, admin_url: str, plan: RolePlan, login_ssl: Any) -> None:
        self.admin_url = admin_url
        self.plan = plan
        self.login_ssl = login_ssl
        self.admin_role = ""
        self.changes: list[str] = []
        self.warnings: list[str] = []

    async def connect(self, database: str | None = None) -> asyncpg.Connection:
        """The admin, on its URL's database or on another; retried while the server starts."""
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                options: dict[str, Any] = {"database": database} if database else {}
                return await asyncpg.connect(self.admin_url, timeout=5, **options)
            except (OSError, asyncpg.CannotConnectNowError) as error:
                if attempt == CONNECT_ATTEMPTS:
                    raise BootstrapError(f"cannot reach the database server: {error}") from None
                logger.warning("database not reachable yet, retrying", extra={"attempt": attempt})
                await asyncio.sleep(2)
        raise AssertionError("unreachable")

    async def step(
        self,
        description: str,
        needed: Awaitable[bool],
        connection: asyncpg.Connection,
        *statements: str,
    ) -> None:
        """Run the statements, in order, on the connection if (and only if) it is needed."""
        if not await needed:
            return
        for statement in statements:
            await connection.execute(statement)
        self.changes.append(description)
        print(f"bootstrap-db: {description}", flush=True)

    async def password_works(self, role: str, password: str) -> bool:
        """Whether the role logs in with this password. Refused for lack of CONNECT counts as
        working: the server checks the password first."""
        parts = urlsplit(self.admin_url)
        try:
            connection = await asyncpg.connect(
                host=parts.hostname,
                port=parts.port or 5432,
                user=role,
                password=password,
                database=self.plan.database,
                ssl=self.login_ssl,
                timeout=5,
            )
        except asyncpg.InsufficientPrivilegeError:
            return True
        except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError):
            return False
        await connection.close()
        return True

    async def run(self) -> list[str]:
        plan = self.plan
        admin = await self.connect()
        try:
            await self.roles(admin)
            await self.database(admin)
            await self.shared_databases(admin)
        finally:
            await admin.close()
        # The schema's privileges, in the app's database, as the owner (SET ROLE).
        database = await self.connect(plan.database)
        try:
            await database.execute(f"SET ROLE {quote(plan.owner)}")
            await self.schema(database)
        finally:
            await database.close()
        admin = await self.connect()
        try:
            for role, password in (
                (plan.owner, plan.owner_password),
                (plan.app, plan.app_password),
            ):
                await self.step(
                    f"set the password of {role} from its secret",
                    self.not_(self.password_works(role, password)),
                    admin,
                    f"ALTER ROLE {quote(role)} PASSWORD {literal(password)}",
                )
        finally:
            await admin.close()
        return self.changes

    @staticmethod
    async def not_(value: Awaitable[bool]) -> bool:
        return not await value

    async def roles(self, admin: asyncpg.Connection) -> None:
        plan = self.plan
        me = await admin.fetchrow(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles"
            " WHERE rolname = current_user"
        )
        if not me["rolcreaterole"] and not me["rolsuper"]:
            raise BootstrapError(f"the admin ({me['rolname']}) lacks CREATEROLE")
        self.admin_role = me["rolname"]
        if me["rolname"] in (plan.owner, plan.app):
            raise BootstrapError("the admin must be a role of its own, not the owner or the app")

        def role(name: str) -> Awaitable[Any]:
            row: Awaitable[Any] = admin.fetchrow(
                "SELECT oid, rolsuper, rolreplication, rolbypassrls, rolcanlogin, rolcreaterole,"
                " rolcreatedb FROM pg_roles WHERE rolname = $1",
                name,
            )
            return row

        for name in (plan.owner, plan.app):
            await self.step(
                f"create the role {name}",
                self.missing(role(name)),
                admin,
                f"CREATE ROLE {quote(name)} LOGIN",
            )
        for name, createdb in ((plan.owner, plan.owner_createdb), (plan.app, False)):
            row = await role(name)
            if row["rolsuper"] or row["rolreplication"] or row["rolbypassrls"]:
                raise BootstrapError(
                    f"{name} is a superuser, or has REPLICATION or BYPASSRLS: only a superuser "
                    "can take that away (ALTER ROLE ... NOSUPERUSER NOREPLICATION NOBYPASSRLS)"
                )
            wanted = f"LOGIN NOCREATEROLE {'CREATEDB' if createdb else 'NOCREATEDB'}"
            await self.step(
                f"set {name} to {wanted}",
                self.value(
                    not row["rolcanlogin"] or row["rolcreaterole"] or row["rolcreatedb"] != createdb
                ),
                admin,
                f"ALTER ROLE {quote(name)} {wanted}",
            )
        # The admin takes on the owner's privileges only when it asks to (SET ROLE), never by
        # inheritance: what it creates as itself stays its own.
        await self.step(
            f"let the admin SET ROLE {plan.owner}",
            self.not_(
                self.fetch_bool(
                    admin,
                    "SELECT EXISTS (SELECT FROM pg_auth_members WHERE roleid = $1::regrole"
                    " AND member = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
                    " AND set_option)",
                    quote(plan.owner),
                )
            ),
            admin,
            f"GRANT {quote(plan.owner)} TO CURRENT_USER WITH INHERIT FALSE, SET TRUE",
        )
        # The app's role is a member of nothing: its privileges are the grants below only.
        memberships = await admin.fetch(
            "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid"
            " WHERE m.member = $1::regrole",
            quote(plan.app),
        )
        for membership in memberships:
            await self.step(
                f"revoke {membership['rolname']} from {plan.app}",
                self.value(True),
                admin,
                f"REVOKE {quote(membership['rolname'])} FROM {quote(plan.app)}",
            )

    async def database(self, admin: asyncpg.Connection) -> None:
        plan = self.plan
        owner_of = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1"
        await self.step(
            f"create the database {plan.database}, owned by {plan.owner}",
            self.missing(admin.fetchval(owner_of, plan.database)),
            admin,
            f"CREATE DATABASE {quote(plan.database)} OWNER {quote(plan.owner)}",
        )
        await self.step(
            f"give the database {plan.database} to {plan.owner}",
            self.differs(admin.fetchval(owner_of, plan.database), plan.owner),
            admin,
            f"ALTER DATABASE {quote(plan.database)} OWNER TO {quote(plan.owner)}",
        )
        # As the owner: only the named roles connect (the admin too, for the schema's
        # privileges), and nobody makes temporary tables.
        as_owner = f"SET ROLE {quote(plan.owner)}"
        await self.step(
            f"grant CONNECT on the database {plan.database} to the admin",
            self.not_(
                self.fetch_bool(
                    admin,
                    "SELECT EXISTS (SELECT FROM pg_database d, aclexplode(d.datacl) a"
                    " WHERE d.datname = $1 AND a.grantee = (SELECT oid FROM pg_roles"
                    " WHERE rolname = current_user) AND a.privilege_type = 'CONNECT')",
                    plan.database,
                )
            ),
            admin,
            f"SET ROLE {quote(plan.owner)}",
            f"GRANT CONNECT ON DATABASE {quote(plan.database)} TO {quote(self.admin_role)}",
            "RESET ROLE",
        )
        for privilege in ("CONNECT", "TEMPORARY"):
            await self.step(
                f"revoke {privilege} on the database {plan.database} from PUBLIC",
                self.fetch_bool(
                    admin,
                    "SELECT has_database_privilege('public', $1, $2)",
                    plan.database,
                    privilege,
                ),
                admin,
                as_owner,
                f"REVOKE {privilege} ON DATABASE {quote(plan.database)} FROM PUBLIC",
                "RESET ROLE",
            )
        await self.step(
            f"grant CONNECT on the database {plan.database} to {plan.app}",
            self.not_(
                self.fetch_bool(
                    admin,
                    "SELECT has_database_privilege($1, $2, 'CONNECT')",
                    plan.app,
                    plan.database,
                )
            ),
            admin,
            as_owner,
            f"GRANT CONNECT ON DATABASE {quote(plan.database)} TO {quote(plan.app)}",
            "RESET ROLE",
        )

    async def shared_databases(self, admin: asyncpg.Connection) -> None:
        for name in SHARED_DATABASES:
            row = await admin.fetchrow(
                "SELECT has_database_privilege('public', oid, 'CONNECT') AS open,"
                " pg_has_role(current_user, datdba, 'USAGE') AS mine,"
                " pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1",
                name,
            )
            if row is None or not row["open"]:
                continue
            if not row["mine"]:
                warning = (
                    f"PUBLIC may connect to {name}, owned by {row['owner']}: the admin cannot "
                    "revoke it (ask that owner: REVOKE CONNECT ON DATABASE ... FROM PUBLIC)"
                )
                self.warnings.append(warning)
                print(f"bootstrap-db: warning: {warning}", flush=True)
                continue
            await self.step(
                f"revoke CONNECT on the database {name} from PUBLIC",
                self.value(True),
                admin,
                f"REVOKE CONNECT ON DATABASE {quote(name)} FROM PUBLIC",
            )

    async def schema(self, owner: asyncpg.Connection) -> None:
        plan = self.plan
        app = quote(plan.app)
        await self.step(
            "revoke every privilege on the schema public from PUBLIC",
            self.fetch_bool(
                owner,
                "SELECT has_schema_privilege('public', 'public', 'USAGE')"
                " OR has_schema_privilege('public', 'public', 'CREATE')",
            ),
            owner,
            "REVOKE ALL ON SCHEMA public FROM PUBLIC",
        )
        await self.step(
            f"grant USAGE on the schema public to {plan.app}",
            self.not_(
                self.fetch_bool(
                    owner, "SELECT has_schema_privilege($1, 'public', 'USAGE')", plan.app
                )
            ),
            owner,
            f"GRANT USAGE ON SCHEMA public TO {app}",
        )
        await self.step(
            f"revoke CREATE on the schema public from {plan.app}",
            self.fetch_bool(owner, "SELECT has_schema_privilege($1, 'public', 'CREATE')", plan.app),
            owner,
            f"REVOKE CREATE ON SCHEMA public FROM {app}",
        )
        await self.step(
            "create alembic_version, the owner's",
            self.missing(owner.fetchval("SELECT to_regclass('public.alembic_version')")),
            owner,
            ALEMBIC_VERSION,
        )
        # Tables and sequences that later migrations create: the owner's default privileges.
        for kind, code, privileges in (
            ("TABLES", "r", TABLE_PRIVILEGES),
            ("SEQUENCES", "S", SEQUENCE_PRIVILEGES),
        ):
            await self.step(
                f"grant {', '.join(privileges)} on {plan.owner}'s future {kind.lower()} "
                f"to {plan.app} (default privileges)",
                self.not_(
                    self.fetch_bool(
                        owner,
                        "SELECT count(DISTINCT a.privilege_type) = cardinality($3::text[])"
                        " FROM pg_default_acl d, aclexplode(d.defaclacl) a"
                        " WHERE d.defaclrole = $1::regrole"
                        " AND d.defaclnamespace = 'public'::regnamespace"
                        " AND d.defaclobjtype::text = $4 AND a.grantee = $2::regrole"
                        " AND a.privilege_type = ANY($3::text[])",
                        quote(plan.owner),
                        app,
                        list(privileges),
                        code,
                    )
                ),
                owner,
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {quote(plan.owner)} IN SCHEMA public"
                f" GRANT {', '.join(privileges)} ON {kind} TO {app}",
            )
        # Today's tables and sequences (a database migrated before this ran).
        tables = await owner.fetch(
            "SELECT c.oid::regclass::text AS name FROM pg_class c"
            " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')"
            " AND c.relname <> 'alembic_version' AND pg_has_role(c.relowner, 'USAGE')"
            " AND NOT (has_table_privilege($1, c.oid, 'SELECT')"
            " AND has_table_privilege($1, c.oid, 'INSERT')"
            " AND has_table_privilege($1, c.oid, 'UPDATE')"
            " AND has_table_privilege($1, c.oid, 'DELETE')) ORDER BY 1",
            plan.app,
        )
        if tables:
            names = ", ".join(row["name"] for row in tables)
            await self.step(
                f"grant {', '.join(TABLE_PRIVILEGES)} on {names} to {plan.app}",
                self.value(True),
                owner,
                f"GRANT {', '.join(TABLE_PRIVILEGES)} ON {names} TO {app}",
            )
        sequences = await owner.fetch(
            "SELECT c.oid::regclass::text AS name FROM pg_class c"
            " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'"
            " AND pg_has_role(c.relowner, 'USAGE')"
            " AND NOT (has_sequence_privilege($1, c.oid, 'USAGE')"
            " AND has_sequence_privilege($1, c.oid, 'SELECT')) ORDER BY 1",
            plan.app,
        )
        if sequences:
            names = ", ".join(row["name"] for row in sequences)
            await self.step(
                f"grant USAGE, SELECT on {names} to {plan.app}",
                self.value(True),
                owner,
                f"GRANT USAGE, SELECT ON SEQUENCE {names} TO {app}",
            )
        # The app reads the schema's version and never writes it: a migration is the owner's.
        await self.step(
            f"let {plan.app} only read alembic_version",
            self.fetch_bool(
                owner,
                "SELECT has_table_privilege($1, 'public.alembic_version',"
                " 'INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')"
                " OR NOT has_table_privilege($1, 'public.alembic_version', 'SELECT')",
                plan.app,
            ),
            owner,
            f"REVOKE ALL ON public.alembic_version FROM {app}",
            f"GRANT SELECT ON public.alembic_version TO {app}",
        )
        strangers = await owner.fetchval(
            "SELECT string_agg(c.oid::regclass::text, ', ' ORDER BY 1) FROM pg_class c"
            " WHERE c.relnamespace = 'public'::regnamespace"
            " AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND NOT pg_has_role(c.relowner, 'USAGE')"
        )
        if strangers:
            warning = f"not {plan.owner}'s, left as they are: {strangers}"
            self.warnings.append(warning)
            print(f"bootstrap-db: warning: {warning}", flush=True)

    @staticmethod
    async def value(result: bool) -> bool:
        return result

    @staticmethod
    async def missing(value: Awaitable[Any]) -> bool:
        return await value is None

    @staticmethod
    async def differs(value: Awaitable[Any], wanted: Any) -> bool:
        return bool(await value != wanted)

    @staticmethod
    async def fetch_bool(connection: asyncpg.Connection, query: str, *args: Any) -> bool:
        value = await connection.fetchval(query, *args)
        return bool(value)


def login_ssl(settings: Settings) -> ssl.SSLContext | str | bool:
    """How the password checks connect: as the app does (POSTGRES_SSL_MODE)."""
    return postgres_ssl(settings)


async def bootstrap_database(settings: Settings, bootstrap: BootstrapSettings) -> list[str]:
    """Set the roles up; the changes made, each described (none on a second run)."""
    admin_url = bootstrap.admin_url()
    if not admin_url:
        raise BootstrapError(
            "no admin URL: set DATABASE_ADMIN_URL_FILE, DATABASE_ADMIN_URL, or the secret "
            "/run/secrets/database_admin_url"
        )
    runner = Bootstrap(admin_url, RolePlan.from_settings(settings, bootstrap), login_ssl(settings))
    try:
        return await runner.run()
    except asyncpg.PostgresError as error:
        raise BootstrapError(f"{type(error).__name__}: {error}") from None
