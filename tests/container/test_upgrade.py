"""A volume from before the database roles, upgraded in place by `make db-roles`.

Such a volume was initialised with the app's role name as the image's superuser, and that
superuser ran the migrations, so it owns the tables. The documented step must leave it in the
fresh layout (owner, app role, superuser for the db container only) with its data, idempotently.
"""

import os
import subprocess
import time
import unittest
from typing import Any

from tests.container import services
from tests.container.docker import (
    IMAGE,
    PROJECT_ROOT,
    compose_stack,
    docker,
    first_key_secret,
    http_get,
    http_request,
    report,
    wait_for,
)

PROJECT = os.environ.get("SMOKE_PROJECT", "fastapi-starter-smoke") + "-upgrade"
PORT = os.environ.get("SMOKE_PORT", "18000")
URL = f"http://127.0.0.1:{PORT}"
OLD_DB = f"{PROJECT}-olddb"
OLD_ROW = "written before the upgrade"


def compose(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    return compose_stack(PROJECT, *args, **options)


def make_db_roles() -> subprocess.CompletedProcess[str]:
    """The documented step, on this test's stack (compose.yml alone, its own project)."""
    result = subprocess.run(  # noqa: S603 - fixed program
        ["make", "db-roles", f"COMPOSE=docker compose --project-name {PROJECT} --file compose.yml"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"make db-roles failed:\n{result.stdout}{result.stderr}")
    return result


def snapshot() -> str:
    """Roles, ownership and privileges: what a second run of the step must not change."""
    return services.psql(
        compose,
        "SELECT string_agg(format('%s super=%s createdb=%s', rolname, rolsuper, rolcreatedb), ', '"
        " ORDER BY rolname) FROM pg_roles WHERE rolname !~ '^pg_'"
        " UNION ALL SELECT string_agg(format('%s %s %s', tablename, tableowner,"
        " (SELECT relacl FROM pg_class WHERE oid = ('public.' || tablename)::regclass)), ', '"
        " ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"
        " UNION ALL SELECT datacl::text FROM pg_database WHERE datname = current_database()",
    )


class DatabaseRolesUpgrade(unittest.TestCase):
    roles: dict[str, str]
    first_run: str
    has_items: bool

    @classmethod
    def setUpClass(cls) -> None:
        os.environ["APP_PORT"] = PORT  # read by compose.yml's interpolation
        cls.remove_stack()
        cls.roles = services.roles(compose)
        config = services.config(compose)
        database = config["services"]["db"]["environment"]["POSTGRES_DB"]
        password = str(services.secret_file(compose, "postgres_password"))

        # The old layout: the image's superuser named as the app's role, with its password,
        # and the migrations run as it. The volume is labelled as this project's, as Compose
        # would have created it.
        docker(
            "volume", "create", "--label", f"com.docker.compose.project={PROJECT}",
            "--label", "com.docker.compose.volume=pgdata", f"{PROJECT}_pgdata",
        )  # fmt: skip
        docker(
            "run", "--detach", "--name", OLD_DB,
            "--volume", f"{PROJECT}_pgdata:/var/lib/postgresql/data",
            "--volume", f"{password}:/run/secrets/postgres_password:ro",
            "--env", f"POSTGRES_USER={cls.roles['app']}", "--env", f"POSTGRES_DB={database}",
            "--env", "POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password",
            config["services"]["db"]["image"],
        )  # fmt: skip
        wait_for(
            lambda: (
                docker("exec", OLD_DB, "pg_isready", "-h", "127.0.0.1", check=False).returncode == 0
            ),
            60,
            "the old database to accept connections",
        )
        docker(
            "run", "--rm", "--network", f"container:{OLD_DB}",
            "--volume", f"{password}:/run/secrets/postgres_password:ro",
            "--env", "POSTGRES_HOST=127.0.0.1", "--env", f"POSTGRES_USER={cls.roles['app']}",
            "--env", f"POSTGRES_DB={database}", IMAGE, "alembic", "upgrade", "head",
        )  # fmt: skip

        def old_psql(sql: str) -> str:
            return docker(
                "exec", OLD_DB, "psql", "-v", "ON_ERROR_STOP=1", "-q", "-At",
                "-U", cls.roles["app"], "-d", database, "-c", sql,
            ).stdout.strip()  # fmt: skip

        assert old_psql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == "t"
        # Data the app wrote (when the items example is there), and a table of this test's own.
        cls.has_items = old_psql("SELECT to_regclass('items') IS NOT NULL") == "t"
        if cls.has_items:
            old_psql(
                "INSERT INTO items (id, name, price, version, created_at, updated_at)"
                f" VALUES (gen_random_uuid(), '{OLD_ROW}', 1, 1, now(), now())"
            )
        old_psql("CREATE TABLE upgrade_probe (note text)")
        old_psql(f"INSERT INTO upgrade_probe VALUES ('{OLD_ROW}')")
        docker("stop", OLD_DB)
        docker("rm", "--volumes", OLD_DB)

        # The step, then the stack as usual.
        started = time.monotonic()
        cls.first_run = make_db_roles().stdout
        report(f"make db-roles on the old volume: {time.monotonic() - started:.1f} s")
        compose("up", "--detach", "--wait", "--no-build")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.remove_stack()

    @classmethod
    def remove_stack(cls) -> None:
        docker("rm", "--force", "--volumes", OLD_DB, check=False)
        compose("down", "--volumes", "--remove-orphans")
        docker("volume", "rm", "--force", f"{PROJECT}_pgdata", check=False)

    def test_the_step_said_what_it_did(self) -> None:
        report(" | ".join(self.first_run.strip().splitlines()[-4:]))
        self.assertIn(f"{self.roles['app']} is this volume's superuser", self.first_run)

    def test_the_app_is_ready_and_not_a_superuser_any_more(self) -> None:
        self.assertEqual(http_get(f"{URL}/health/ready").status, 200)
        facts = services.app_database_facts(compose)
        report(f"after the upgrade the app connects as {facts['user']!r}: {facts}")
        self.assertEqual(facts["user"], self.roles["app"])
        self.assertIs(facts["rolsuper"], False)
        self.assertEqual(facts["create_table"], services.INSUFFICIENT_PRIVILEGE)

    def test_the_app_serves_the_old_data_and_writes_new(self) -> None:
        if not self.has_items:
            self.skipTest("the items example was removed (make remove-resource name=items)")
        names = [i["name"] for i in http_get(f"{URL}/api/v1/items?limit=100").json()["items"]]
        self.assertIn(OLD_ROW, names)
        api_key = first_key_secret(services.secret_value(compose, "api_keys"))
        created = http_request(
            "POST", f"{URL}/api/v1/items", {"name": f"after {time.time()}", "price": "2"}, api_key
        )
        self.assertEqual(created.status, 201, created.body)

    def test_every_older_table_is_the_apps_to_read_and_write_only(self) -> None:
        app = self.roles["app"]
        privileges = services.psql(
            compose,
            f"SELECT has_table_privilege('{app}', 'upgrade_probe', 'SELECT,INSERT,UPDATE,DELETE'),"
            f" has_table_privilege('{app}', 'upgrade_probe', 'TRUNCATE'),"
            " (SELECT note FROM upgrade_probe)",
        )
        self.assertEqual(privileges, f"t|f|{OLD_ROW}")

    def test_the_owner_owns_the_tables_and_the_superuser_was_renamed(self) -> None:
        owners = services.table_owners(compose)
        self.assertEqual(set(owners.values()), {self.roles["owner"]}, owners)
        # The bootstrap superuser (oid 10) cannot stop being one: it now has the superuser's name.
        bootstrap = services.psql(compose, "SELECT rolname FROM pg_roles WHERE oid = 10")
        self.assertEqual(bootstrap, self.roles["superuser"])
        self.assertEqual(
            services.psql(compose, "SELECT rolname FROM pg_roles WHERE rolsuper"),
            self.roles["superuser"],
        )

    def test_running_the_step_again_changes_nothing(self) -> None:
        before = snapshot()
        again = make_db_roles().stdout
        self.assertNotIn("superuser (the layout before these roles)", again)
        self.assertEqual(snapshot(), before)
        wait_for(lambda: http_get(f"{URL}/health/ready").status == 200, 30, "ready")


if __name__ == "__main__":
    unittest.main()
