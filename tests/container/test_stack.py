"""The production stack from compose.yml alone (no override), as an operator would run it:
every request here goes through the edge, its one published port."""

import functools
import json
import os
import subprocess
import time
import unittest
from pathlib import Path
from typing import Any

from tests.container import services
from tests.container.docker import (
    PROJECT_ROOT,
    compose_stack,
    docker,
    first_key_secret,
    http_get,
    http_request,
    inspect,
    report,
    wait_for,
)

PROJECT = os.environ.get("SMOKE_PROJECT", "fastapi-starter-smoke")
PORT = os.environ.get("SMOKE_PORT", "18000")
URL = f"http://127.0.0.1:{PORT}"


def compose(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    return compose_stack(PROJECT, *args, **options)


def container_of(service: str) -> str:
    return compose("ps", "--all", "--quiet", service).stdout.strip()


def ready_checks() -> tuple[int, dict[str, str]]:
    reply = http_get(f"{URL}/health/ready")
    return reply.status, {
        name: results[0]["status"] for name, results in reply.json()["checks"].items()
    }


class ComposeStack(unittest.TestCase):
    start_seconds: float
    app: str

    @classmethod
    def setUpClass(cls) -> None:
        os.environ["EDGE_PORT"] = PORT  # read by compose.yml's interpolation: the way in
        compose("down", "--volumes", "--remove-orphans")
        started = time.monotonic()
        compose("up", "--detach", "--wait", "--no-build")
        cls.start_seconds = time.monotonic() - started
        cls.app = container_of("app")

    @classmethod
    def tearDownClass(cls) -> None:
        compose("down", "--volumes", "--remove-orphans")

    def test_comes_up_healthy_with_both_checks_passing(self) -> None:
        report(f"compose.yml stack up and healthy, migrations run: {self.start_seconds:.1f} s")
        status, checks = ready_checks()
        self.assertEqual(status, 200)
        self.assertEqual(checks, {"postgres:connection": "pass", "redis:connection": "pass"})
        for service in ("app", "db", "redis"):
            self.assertEqual(
                inspect("container", container_of(service))["State"]["Health"]["Status"], "healthy"
            )

    def test_migrations_ran_to_completion_before_the_app_started(self) -> None:
        migrate = inspect("container", container_of("migrate"))["State"]
        app = inspect("container", self.app)["State"]
        self.assertEqual(migrate["ExitCode"], 0)
        self.assertLess(migrate["FinishedAt"], app["StartedAt"])

    def test_app_container_is_hardened(self) -> None:
        host = inspect("container", self.app)["HostConfig"]
        self.assertTrue(host["ReadonlyRootfs"])
        self.assertEqual(host["CapDrop"], ["ALL"])
        self.assertIn("no-new-privileges:true", host["SecurityOpt"])
        self.assertIn("/tmp", host["Tmpfs"])
        self.assertGreater(host["Memory"], 0, "a memory limit is set")
        self.assertGreater(host["NanoCpus"], 0, "a CPU limit is set")
        self.assertEqual(host["RestartPolicy"]["Name"], "unless-stopped")

    def test_the_password_is_a_runtime_secret_file_not_an_environment_variable(self) -> None:
        config = inspect("container", self.app)
        self.assertFalse([v for v in config["Config"]["Env"] if v.startswith("POSTGRES_PASSWORD=")])
        mounts = {m["Destination"]: m for m in config["Mounts"]}
        for secret in ("postgres_password", "api_keys"):
            self.assertIn(f"/run/secrets/{secret}", mounts)
            self.assertFalse(mounts[f"/run/secrets/{secret}"]["RW"])
        self.assertFalse([v for v in config["Config"]["Env"] if v.startswith("API_KEYS=")])

    def test_postgres_data_lives_in_a_named_volume(self) -> None:
        mounts = inspect("container", container_of("db"))["Mounts"]
        (data,) = [m for m in mounts if m["Destination"] == "/var/lib/postgresql/data"]
        self.assertEqual(data["Type"], "volume")
        self.assertEqual(data["Name"], f"{PROJECT}_pgdata")

    def test_the_cache_leaves_no_volume_on_disk(self) -> None:
        # The image declares /data a volume: without the tmpfs, every replaced cache container
        # would leave an anonymous volume behind.
        config = inspect("container", container_of("redis"))
        volumes = [m for m in config["Mounts"] if m["Type"] == "volume"]
        self.assertEqual(volumes, [])
        self.assertIn("/data", config["HostConfig"]["Tmpfs"])

    def test_only_the_edge_publishes_a_port(self) -> None:
        self.assertTrue(inspect("container", container_of("edge"))["HostConfig"]["PortBindings"])
        for service in ("app", "db", "redis", "migrate"):
            with self.subTest(service=service):
                ports = inspect("container", container_of(service))["HostConfig"]["PortBindings"]
                self.assertFalse(ports)

    def test_metrics_are_served_inside_the_network_and_never_published(self) -> None:
        scrape = (
            "import urllib.request; print(urllib.request.urlopen("
            "'http://127.0.0.1:9464/metrics', timeout=5).read().decode())"
        )
        expected = {
            "app": ["http_requests_total", "db_pool_connections_max", "app_build_info"],
            "worker": ['queue_depth{state="waiting"}', 'queue_depth{state="running"}'],
        }
        for service, names in expected.items():
            with self.subTest(service=service):
                body = compose("exec", "-T", service, "python", "-c", scrape).stdout
                for name in names:
                    self.assertIn(name, body)
                bindings = inspect("container", container_of(service))["HostConfig"]
                self.assertNotIn("9464/tcp", bindings["PortBindings"] or {})

    def test_readiness_reports_redis_down_and_back_but_stays_200(self) -> None:
        # The cache is not a reason to be unready: the app serves without it (reads from
        # Postgres, the limiter fails open). Readiness says so, as "warn", and stays 200.
        app_started = inspect("container", self.app)["State"]["StartedAt"]
        compose("stop", "redis")
        try:
            # Each worker shares its readiness result for up to a second: keep the first answer
            # that reports the outage, from whichever worker.
            answers: list[tuple[int, dict[str, str]]] = []

            def reports_the_outage() -> bool:
                answers.append(ready_checks())
                return answers[-1][1]["redis:connection"] != "pass"

            wait_for(reports_the_outage, 10, "ready to report the outage")
            status, checks = answers[-1]
            self.assertEqual(status, 200)
            self.assertEqual(checks["redis:connection"], "warn")
            self.assertEqual(checks["postgres:connection"], "pass")
            self.assertEqual(http_get(f"{URL}/health/live").status, 200)
        finally:
            compose("start", "redis")
        back = wait_for(
            lambda: ready_checks()[1]["redis:connection"] == "pass", 30, "redis to pass again"
        )
        report(f"ready reports redis passing {back:.1f} s after it restarted")
        state = inspect("container", self.app)
        self.assertEqual(state["State"]["StartedAt"], app_started, "the app was not restarted")
        self.assertEqual(state["RestartCount"], 0)

    def test_an_item_round_trip_through_the_production_stack(self) -> None:
        if http_request("HEAD", f"{URL}/api/v1/items", None, None).status == 404:
            self.skipTest("the items example was removed (make remove-resource name=items)")
        api_key = first_key_secret((PROJECT_ROOT / ".secrets" / "api_keys").read_text())
        created = http_request(
            "POST",
            f"{URL}/api/v1/items",
            {"name": f"smoke {time.time()}", "price": "12.5"},
            api_key,
        )
        self.assertEqual(created.status, 201, created.body)
        location = created.headers["location"]
        read = http_get(f"{URL}{location}")
        self.assertEqual(read.json()["price"], "12.50")
        self.assertEqual(read.headers["etag"], created.headers["etag"])
        refused = http_request(
            "POST", f"{URL}/api/v1/items", {"name": "x", "price": "1"}, "wrong-key"
        )
        self.assertEqual(refused.status, 401)
        self.assertEqual(refused.headers["content-type"], "application/problem+json")
        self.assertEqual(http_request("DELETE", f"{URL}{location}", None, api_key).status, 204)
        self.assertEqual(http_get(f"{URL}{location}").status, 404)

    def test_a_missing_setting_fails_fast_and_names_itself(self) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("POSTGRES_")}
        result = subprocess.run(  # noqa: S603 - fixed program
            [
                "docker",
                "compose",
                "--env-file",
                os.devnull,
                "-f",
                str(PROJECT_ROOT / "compose.yml"),
                "config",
            ],
            capture_output=True,
            text=True,
            env=environment,
            check=False,
            timeout=60,
        )
        self.assertNotEqual(result.returncode, 0)
        self.assertRegex(result.stderr, r"set POSTGRES_(USER|DB) in \.env")

    def test_logs_are_json_lines_with_request_ids(self) -> None:
        http_get(f"{URL}/health/live")
        lines = [
            json.loads(line)
            for line in docker("logs", self.app).stdout.splitlines()
            if line.startswith("{")
        ]
        access = [line for line in lines if line.get("logger") == "app.access"]
        self.assertTrue(access)
        self.assertTrue(all(line["request_id"] for line in access))
        self.assertTrue({"method", "path", "status", "duration_ms", "time"} <= set(access[-1]))

    def test_the_server_starts_without_an_error(self) -> None:
        logs = docker("logs", self.app)
        lines = [
            json.loads(line)
            for line in (logs.stdout + logs.stderr).splitlines()
            if line.startswith("{")
        ]
        first_request = next(
            (n for n, line in enumerate(lines) if line.get("logger") == "app.access"), len(lines)
        )
        errors = [
            line for line in lines[:first_request] if line.get("level") in ("ERROR", "CRITICAL")
        ]
        self.assertEqual(errors, [])

    # --- the database's roles ------------------------------------------------------------------

    def test_the_app_is_not_a_database_superuser_and_creates_nothing(self) -> None:
        facts = services.app_database_facts(compose)
        report(f"the app connects as {facts['user']!r}: {facts}")
        self.assertEqual(facts["user"], services.roles(compose)["app"])
        self.assertIs(facts["rolsuper"], False)
        self.assertIs(facts["rolcreatedb"], False)
        self.assertIs(facts["rolcreaterole"], False)
        for attempt in ("create_table", "create_temp_table", "create_schema", "alter_table"):
            with self.subTest(attempt=attempt):
                self.assertEqual(facts[attempt], services.INSUFFICIENT_PRIVILEGE)

    def test_the_migrations_tables_belong_to_the_owner_role(self) -> None:
        roles = services.roles(compose)
        owners = services.table_owners(compose)
        report(f"table owners: {owners}; roles: {roles}")
        self.assertIn("alembic_version", owners)
        self.assertEqual(set(owners.values()), {roles["owner"]})
        self.assertNotIn(roles["owner"], (roles["app"], roles["superuser"]))
        owner = services.psql(
            compose,
            f"SELECT rolsuper, rolcreatedb, pg_has_role('{roles['app']}', oid, 'MEMBER'),"
            f" (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database())"
            f" FROM pg_roles WHERE rolname = '{roles['owner']}'",
        )
        # Not a superuser, no CREATEDB outside the test stack, the app not among its members,
        # and the database is its.
        self.assertEqual(owner, f"f|f|f|{roles['owner']}")

    def test_a_table_a_later_migration_creates_is_the_apps_to_read_and_write(self) -> None:
        roles = services.roles(compose)
        app = roles["app"]
        # As the owner, as a migration would; rolled back, so it leaves nothing behind.
        privileges = services.psql(
            compose,
            f'BEGIN; SET ROLE "{roles["owner"]}"; CREATE TABLE smoke_later (id serial);'
            f" SELECT has_table_privilege('{app}', 'smoke_later', 'SELECT, INSERT, UPDATE, DELETE')"
            f" AND has_sequence_privilege('{app}', 'smoke_later_id_seq', 'USAGE'),"
            f" has_table_privilege('{app}', 'smoke_later', 'TRUNCATE, REFERENCES, TRIGGER');"
            " ROLLBACK",
        )
        self.assertEqual(privileges.splitlines()[-1], "t|f")

    def test_the_superuser_serves_the_db_container_only(self) -> None:
        roles = services.roles(compose)
        self.assertNotIn(roles["superuser"], (roles["app"], roles["owner"]))
        connected = services.psql(
            compose,
            "SELECT DISTINCT usename FROM pg_stat_activity WHERE client_addr IS NOT NULL",
        )
        self.assertNotIn(roles["superuser"], connected.splitlines())
        # Over TCP, even with the right password: refused.
        attempt = compose(
            "exec",
            "-T",
            "db",
            "sh",
            "-c",
            'PGPASSWORD=$(cat "$POSTGRES_PASSWORD_FILE") psql -h 127.0.0.1 '
            '-U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "SELECT 1"',
            check=False,
        )
        self.assertNotEqual(attempt.returncode, 0)
        self.assertIn("pg_hba.conf rejects connection", attempt.stderr)

    # --- secrets, hardening, logs ----------------------------------------------------------------

    def test_each_service_mounts_only_the_secrets_it_uses(self) -> None:
        expected = {  # where each service finds a secret -> the secret it is
            "app": {
                "postgres_password": "postgres_password",
                "api_keys": "api_keys",
                "redis_password": "redis_password",
                "queue_redis_password": "queue_producer_password",
            },
            "worker": {
                "postgres_password": "postgres_password",
                "queue_redis_password": "queue_worker_password",
            },
            "scheduler": {
                "postgres_password": "postgres_password",
                "queue_redis_password": "queue_producer_password",
            },
            "migrate": {"postgres_password": "postgres_owner_password"},
            "db": {
                "postgres_superuser_password": "postgres_superuser_password",
                "postgres_admin_password": "postgres_admin_password",
            },
            "redis": {"redis_acl": "redis_acl"},
            "queue": {"queue_acl": "queue_acl"},
        }
        for service, secrets in expected.items():
            with self.subTest(service=service):
                mounts = {
                    Path(m["Destination"]).name: m
                    for m in inspect("container", container_of(service))["Mounts"]
                    if m["Destination"].startswith("/run/secrets/")
                }
                self.assertEqual(sorted(mounts), sorted(secrets))
                for target, secret in secrets.items():
                    source = services.secret_file(compose, secret)
                    self.assertEqual(Path(mounts[target]["Source"]), source)
                    self.assertFalse(mounts[target]["RW"])

    def test_no_secret_value_appears_in_docker_inspect(self) -> None:
        values = {
            name: services.secret_value(compose, name)
            for name in (
                "postgres_password",
                "postgres_owner_password",
                "postgres_superuser_password",
                "redis_password",
                "queue_producer_password",
                "queue_worker_password",
            )
        }
        values["redis_admin_password"] = services.redis_admin_password()
        values["api_key"] = first_key_secret(services.secret_value(compose, "api_keys"))
        self.assertTrue(all(values.values()))
        for service in ("app", "worker", "scheduler", "migrate", "db", "redis", "queue"):
            configuration = json.dumps(inspect("container", container_of(service)))
            for name, value in values.items():
                with self.subTest(service=service, secret=name):
                    self.assertNotIn(value, configuration)

    def test_db_and_redis_are_hardened(self) -> None:
        kept = {"db": {"CHOWN", "DAC_READ_SEARCH", "FOWNER", "SETUID", "SETGID"}, "redis": set()}
        for service, capabilities in kept.items():
            with self.subTest(service=service):
                config = inspect("container", container_of(service))
                host = config["HostConfig"]
                added = {c.removeprefix("CAP_") for c in host["CapAdd"] or []}
                report(
                    f"{service}: caps kept {sorted(added)}, memory {host['Memory'] >> 20} MiB,"
                    f" pids {host['PidsLimit']}, user {config['Config']['User'] or 'root'}"
                )
                self.assertEqual(host["CapDrop"], ["ALL"])
                self.assertEqual(added, capabilities)
                self.assertIn("no-new-privileges:true", host["SecurityOpt"])
                self.assertTrue(host["ReadonlyRootfs"])
                self.assertGreater(host["Memory"], 0, "a memory limit is set")
                self.assertGreater(host["PidsLimit"] or 0, 0, "a pids limit is set")
        self.assertEqual(inspect("container", container_of("redis"))["Config"]["User"], "redis")
        # The capabilities serve the entrypoint's start only: Postgres runs with none.
        status = compose("exec", "-T", "db", "cat", "/proc/1/status").stdout
        (effective,) = [
            line.split()[1] for line in status.splitlines() if line.startswith("CapEff")
        ]
        self.assertEqual(int(effective, 16), 0)

    def test_every_service_rotates_its_logs(self) -> None:
        for service in ("app", "migrate", "db", "redis"):
            with self.subTest(service=service):
                log = inspect("container", container_of(service))["HostConfig"]["LogConfig"]
                self.assertEqual(log["Type"], "json-file")
                self.assertEqual(log["Config"], {"max-size": "10m", "max-file": "3"})

    # --- redis -----------------------------------------------------------------------------------

    def test_redis_refuses_a_client_without_the_password(self) -> None:
        # From the app's container, as any other container on the network would.
        answer = compose(
            "exec",
            "-T",
            "app",
            "python",
            "-c",
            "import socket; s = socket.create_connection(('redis', 6379), 2);"
            " s.sendall(b'PING\\r\\n'); print(s.recv(200).decode().strip())",
        ).stdout.strip()
        report(f"unauthenticated PING: {answer}")
        self.assertTrue(answer.startswith("-NOAUTH"), answer)
        self.assertEqual(services.redis_cli(compose, "PING"), "PONG")
        self.assertEqual(services.redis_cli(compose, "CONFIG", "GET", "protected-mode"),
                         "protected-mode\nyes")  # fmt: skip
        policy = services.redis_cli(compose, "CONFIG", "GET", "maxmemory-policy").split()[1]
        report(f"redis maxmemory-policy: {policy}")
        self.assertTrue(policy.startswith("volatile-"), policy)

    def test_each_redis_role_may_do_only_its_own_work(self) -> None:
        """One user per role, each with its own password: the cache's app user, the queue store's
        producer and worker. None may flush, reconfigure or touch another's keys; `default` is
        off: logging in as it fails, and the command after it is refused."""
        roles = [  # Redis service, user, its password's secret, a key of its own
            ("redis", "app", "redis_password", "cache:items:0"),
            ("queue", "producer", "queue_producer_password", "jobs"),
            ("queue", "worker", "queue_worker_password", "worker:autoclaim:0"),
        ]
        refused = [("FLUSHALL",), ("CONFIG", "GET", "maxmemory"), ("GET", "elsewhere:key")]
        for service, user, secret, own_key in roles:
            cli = functools.partial(
                services.redis_cli,
                compose,
                service=service,
                user=user,
                password=services.secret_value(compose, secret),
            )
            with self.subTest(user=user):
                self.assertEqual(cli("PING"), "PONG")
                self.assertNotIn("NOPERM", cli("EXISTS", own_key))
                for command in refused:
                    answer = cli(*command)
                    report(f"{service} as {user}: {' '.join(command)} -> {answer}")
                    self.assertIn("NOPERM", answer)
        for service in ("redis", "queue"):
            with self.subTest(default_user=service):
                wrong = services.secret_value(compose, "redis_password")
                answer = services.redis_cli(
                    compose, "PING", service=service, user="default", password=wrong
                )
                self.assertIn("NOAUTH", answer)

    def test_every_key_the_app_writes_expires(self) -> None:
        if http_request("HEAD", f"{URL}/api/v1/items", None, None).status == 404:
            self.skipTest("the items example was removed (make remove-resource name=items)")
        api_key = first_key_secret(services.secret_value(compose, "api_keys"))
        # Rate-limit counters (by key and by address), cache entries and a tombstone.
        kept = http_request(
            "POST", f"{URL}/api/v1/items", {"name": f"ttl {time.time()}", "price": "1"}, api_key
        )
        gone = http_request(
            "POST", f"{URL}/api/v1/items", {"name": f"ttl {time.time()}", "price": "2"}, api_key
        )
        for created in (kept, gone):
            self.assertEqual(created.status, 201, created.body)
            for _ in range(2):
                self.assertEqual(http_get(f"{URL}{created.headers['location']}").status, 200)
        http_get(f"{URL}/api/v1/items?limit=5")
        location = gone.headers["location"]
        self.assertEqual(http_request("DELETE", f"{URL}{location}", None, api_key).status, 204)

        keys = services.redis_cli(compose, "--scan").split()
        ttls = {key: int(services.redis_cli(compose, "TTL", key)) for key in keys}
        report(f"{len(ttls)} keys in redis after traffic, TTLs {sorted(set(ttls.values()))}")
        self.assertTrue(any(k.startswith("ratelimit:") for k in ttls), ttls)
        self.assertGreaterEqual(len(ttls), 4, ttls)
        self.assertEqual({k: t for k, t in ttls.items() if t == -1}, {}, "keys without a TTL")


if __name__ == "__main__":
    unittest.main()
