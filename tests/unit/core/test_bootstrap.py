"""bootstrap-db against the test stack's Postgres, as its admin (CREATEROLE and CREATEDB, not a
superuser): a fresh database and roles of the test's own, set up, then proven least-privileged.
"""

import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from app.__main__ import main
from app.core.bootstrap import Bootstrap, BootstrapError, RolePlan, bootstrap_database
from app.core.config import BootstrapSettings, Settings
from tests.unit.support import changed


def admin_url() -> str:
    return BootstrapSettings.load().admin_url()


async def connect(role: str, password: str, database: str) -> asyncpg.Connection:
    host = urlsplit(admin_url()).hostname
    return await asyncpg.connect(host=host, user=role, password=password, database=database)


@pytest.fixture
async def plan() -> AsyncIterator[RolePlan]:
    """Roles and a database of this test's own; dropped again by the admin afterwards."""
    suffix = uuid.uuid4().hex[:8]
    plan = RolePlan(
        database=f"probe_{suffix}",
        owner=f"probe_owner_{suffix}",
        owner_password=secrets.token_hex(16),
        owner_createdb=False,
        app=f"probe_app_{suffix}",
        app_password=secrets.token_hex(16),
    )
    yield plan
    admin = await asyncpg.connect(admin_url())
    try:
        if await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", plan.owner):
            await admin.execute(f'SET ROLE "{plan.owner}"')
            await admin.execute(f'DROP DATABASE IF EXISTS "{plan.database}" WITH (FORCE)')
            await admin.execute("RESET ROLE")
        await admin.execute(f'DROP ROLE IF EXISTS "{plan.app}", "{plan.owner}"')
    finally:
        await admin.close()


async def run(plan: RolePlan) -> list[str]:
    return await Bootstrap(admin_url(), plan, login_ssl=False).run()


async def test_the_admin_is_not_a_superuser() -> None:
    admin = await asyncpg.connect(admin_url())
    try:
        row = await admin.fetchrow(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        )
    finally:
        await admin.close()
    assert dict(row) == {"rolsuper": False, "rolcreaterole": True, "rolcreatedb": True}


async def test_a_first_run_sets_everything_up_and_a_second_changes_nothing(plan: RolePlan) -> None:
    first = await run(plan)
    assert any(change.startswith(f"create the role {plan.app}") for change in first)
    assert any(change.startswith(f"create the database {plan.database}") for change in first)
    assert await run(plan) == []


async def test_the_app_role_reads_and_writes_rows_of_the_owners_new_tables(plan: RolePlan) -> None:
    await run(plan)
    owner = await connect(plan.owner, plan.owner_password, plan.database)
    try:  # what a later migration does: a table and its sequence, created by the owner
        await owner.execute("CREATE TABLE widgets (id bigserial PRIMARY KEY, name text)")
    finally:
        await owner.close()
    app = await connect(plan.app, plan.app_password, plan.database)
    try:
        await app.execute("INSERT INTO widgets (name) VALUES ('a')")
        await app.execute("UPDATE widgets SET name = 'b'")
        assert await app.fetchval("SELECT name FROM widgets") == "b"
        await app.execute("DELETE FROM widgets")
        assert (
            await app.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            is False
        )
    finally:
        await app.close()


async def test_the_app_role_cannot_write_alembic_version(plan: RolePlan) -> None:
    await run(plan)
    owner = await connect(plan.owner, plan.owner_password, plan.database)
    try:  # Alembic, as the owner, stamps its version
        await owner.execute("INSERT INTO alembic_version VALUES ('0001')")
    finally:
        await owner.close()
    app = await connect(plan.app, plan.app_password, plan.database)
    try:
        assert await app.fetchval("SELECT version_num FROM alembic_version") == "0001"
        for statement in (
            "INSERT INTO alembic_version VALUES ('9999')",
            "UPDATE alembic_version SET version_num = '9999'",
            "DELETE FROM alembic_version",
            "TRUNCATE alembic_version",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await app.execute(statement)
    finally:
        await app.close()


async def test_a_grant_made_by_hand_on_alembic_version_is_taken_back(plan: RolePlan) -> None:
    await run(plan)
    owner = await connect(plan.owner, plan.owner_password, plan.database)
    try:  # the planted defect: someone grants the app every row of every table
        await owner.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{plan.app}"')
    finally:
        await owner.close()
    assert await run(plan) == [f"let {plan.app} only read alembic_version"]


@pytest.mark.parametrize("database", ["postgres", "template1"])
async def test_the_app_role_cannot_connect_to_the_shared_databases(
    plan: RolePlan, database: str
) -> None:
    await run(plan)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
        await connect(plan.app, plan.app_password, database)
    admin = await asyncpg.connect(admin_url())
    try:
        assert not await admin.fetchval(
            "SELECT has_database_privilege('public', $1, 'CONNECT')", database
        )
    finally:
        await admin.close()


async def test_the_app_role_creates_nothing(plan: RolePlan) -> None:
    await run(plan)
    app = await connect(plan.app, plan.app_password, plan.database)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("CREATE TABLE mine (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await app.execute("CREATE TEMPORARY TABLE mine (id int)")
    finally:
        await app.close()


async def test_a_changed_password_file_is_applied(plan: RolePlan) -> None:
    await run(plan)
    rotated = changed_plan(plan, app_password=secrets.token_hex(16))
    assert await run(rotated) == [f"set the password of {plan.app} from its secret"]
    (await connect(plan.app, rotated.app_password, plan.database)).terminate()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await connect(plan.app, plan.app_password, plan.database)


def changed_plan(plan: RolePlan, **changes: Any) -> RolePlan:
    return RolePlan(**{**plan.__dict__, **changes})


def test_the_command_names_a_missing_admin_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_ADMIN_URL_FILE", "/nonexistent/admin_url")
    assert main(["bootstrap-db"]) == 1
    assert "bootstrap-db: error:" in capsys.readouterr().err


async def test_owner_and_app_must_differ(settings: Settings) -> None:
    same = changed(settings, postgres_user="app_owner")
    with pytest.raises(BootstrapError, match="two roles"):
        await bootstrap_database(
            same,
            BootstrapSettings(
                postgres_owner="app_owner", database_admin_url="postgresql://admin@db/postgres"
            ),
        )


async def test_both_passwords_are_needed(settings: Settings) -> None:
    with pytest.raises(BootstrapError, match="passwords are both needed"):
        await bootstrap_database(
            settings,
            BootstrapSettings(
                postgres_owner="another_owner",
                postgres_owner_password="",
                database_admin_url="postgresql://admin@db/postgres",
            ),
        )


async def test_no_admin_url_is_named(settings: Settings) -> None:
    with pytest.raises(BootstrapError, match="no admin URL"):
        await bootstrap_database(
            settings, BootstrapSettings(database_admin_url="", database_admin_url_file=None)
        )


async def test_an_unreachable_server_is_named(
    plan: RolePlan, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.core.bootstrap.CONNECT_ATTEMPTS", 1)
    closed_port = "postgresql://admin:secret@127.0.0.1:1/postgres"
    with pytest.raises(BootstrapError, match="cannot reach the database server"):
        await Bootstrap(closed_port, plan, login_ssl=False).run()


async def test_a_refused_login_is_named_not_raised(settings: Settings) -> None:
    wrong = urlsplit(admin_url())._replace(
        netloc=f"{urlsplit(admin_url()).username}:wrong@{urlsplit(admin_url()).hostname}"
    )
    with pytest.raises(BootstrapError, match="InvalidPasswordError"):
        await bootstrap_database(
            settings,
            BootstrapSettings(
                postgres_owner="another_owner",
                postgres_owner_password=secrets.token_hex(16),
                database_admin_url=wrong.geturl(),
                database_admin_url_file=None,
            ),
        )
