"""What the container checks ask of a running compose.yml stack: its resolved configuration, the
roles its services connect as, what Postgres and Redis answer. Shared by test_stack (a fresh
volume) and test_upgrade (a volume from before the roles)."""

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.container.docker import PROJECT_ROOT, first_key_secret

# docker compose on one stack: compose("exec", "-T", "db", ...)
Compose = Callable[..., subprocess.CompletedProcess[str]]

# Run in the app container with the app's own settings and engine: the very connection the app
# makes. Every statement that should be refused is rolled back, so nothing is left if it was not.
APP_DATABASE_PROBE = """
import asyncio, json
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from app.core.config import get_settings
from app.core.database import create_engine

ATTEMPTS = {
    "create_table": "CREATE TABLE smoke_probe (id int)",
    "create_temp_table": "CREATE TEMP TABLE smoke_probe (id int)",
    "create_schema": "CREATE SCHEMA smoke_probe",
    "alter_table": "ALTER TABLE alembic_version ADD COLUMN smoke_probe int",
}

async def main():
    engine = create_engine(get_settings())
    facts = {}
    try:
        async with engine.connect() as connection:
            row = (await connection.execute(text(
                "SELECT current_user, rolsuper, rolcreatedb, rolcreaterole"
                " FROM pg_roles WHERE rolname = current_user"))).one()
            facts.update(user=row[0], rolsuper=row[1], rolcreatedb=row[2], rolcreaterole=row[3])
            for name, sql in ATTEMPTS.items():
                try:
                    await connection.execute(text(sql))
                    facts[name] = "allowed"
                except DBAPIError as error:
                    facts[name] = getattr(error.orig, "sqlstate", None) or repr(error.orig)
                finally:
                    await connection.rollback()
    finally:
        await engine.dispose()
    print(json.dumps(facts))

asyncio.run(main())
"""
INSUFFICIENT_PRIVILEGE = "42501"


def config(compose: Compose) -> dict[str, Any]:
    """The stack's configuration as Compose resolves it (.env, defaults)."""
    resolved: dict[str, Any] = json.loads(compose("config", "--format", "json").stdout)
    return resolved


def environment(compose: Compose, service: str) -> dict[str, str]:
    env: dict[str, str] = config(compose)["services"][service].get("environment") or {}
    return env


def secret_file(compose: Compose, name: str) -> Path:
    return Path(config(compose)["secrets"][name]["file"])


def secret_value(compose: Compose, name: str) -> str:
    return secret_file(compose, name).read_text().strip()


def roles(compose: Compose) -> dict[str, str]:
    """The role each side connects as: the app, migrations (the owner), the db's superuser."""
    return {
        "app": environment(compose, "app")["POSTGRES_USER"],
        "owner": environment(compose, "migrate")["POSTGRES_USER"],
        "superuser": environment(compose, "db")["POSTGRES_USER"],
    }


def psql(compose: Compose, sql: str) -> str:
    """SQL as the db container's superuser, through its socket (as `make psql` does)."""
    return compose(
        "exec",
        "-T",
        "db",
        "sh",
        "-c",
        'psql -v ON_ERROR_STOP=1 -q -At -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$0"',
        sql,
    ).stdout.strip()


def app_database_facts(compose: Compose) -> dict[str, Any]:
    """Who the app is to Postgres, and what it may not do (APP_DATABASE_PROBE)."""
    output = compose("exec", "-T", "app", "python", "-c", APP_DATABASE_PROBE).stdout
    facts: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return facts


def table_owners(compose: Compose) -> dict[str, str]:
    rows = psql(compose, "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public'")
    return dict(line.split("|") for line in rows.splitlines())


def redis_admin_password() -> str:
    """Both Redis' admin password: no service of compose.yml mounts it, so Compose's
    configuration leaves it out; it is the file .env names (make config's default otherwise)."""
    default = PROJECT_ROOT / ".secrets/redis_admin_password"
    return Path(os.environ.get("REDIS_ADMIN_PASSWORD_FILE") or default).read_text().strip()


def redis_cli(
    compose: Compose, *args: str, service: str = "redis", user: str = "admin", password: str = ""
) -> str:
    """redis-cli in a Redis container (the cache's, or the queue store), logged in as ``user``
    (the admin unless told): REDISCLI_AUTH passed on from this process's environment, so the
    password is on no command line."""
    password = password or redis_admin_password()
    result = compose(
        "exec", "-T", "-e", "REDISCLI_AUTH", service, "redis-cli", "--no-auth-warning",
        "--user", user, *args,
        env={"REDISCLI_AUTH": password},
    )  # fmt: skip
    return str(result.stdout).strip()


def api_key(compose: Compose) -> str:
    """A key the stack accepts: the secret of the first key in the api_keys secret."""
    return first_key_secret(secret_value(compose, "api_keys"))
