"""make managed: the stack on data services shaped like managed ones (compose.managed.yml).

bootstrap-db runs as an admin that is not a superuser, twice (the second run changes nothing);
the migration runs as the owner, and the app as its own role over TLS with verify-full against a
test CA; pg_hba.conf is the same after all of it; the smoke requests pass, and every connection
the app holds is its role's, encrypted, and not a superuser's. The cache and the queue store
take TLS only: a cached read lands in the cache, an export runs through the queue, and the
worker's metrics read the queue's depth, each over rediss:// against the same CA.
"""

import os
import re
import subprocess
import tempfile
import time
import unittest
from pathlib import Path
from typing import Any

from tests.container.docker import (
    PROJECT_ROOT,
    compose_stack,
    docker,
    first_key_secret,
    http_get,
    http_request,
    report,
    wait_for,
)
from tests.container.services import redis_cli

PROJECT = os.environ.get("MANAGED_PROJECT", "fastapi-starter-managed")
PORT = os.environ.get("MANAGED_PORT", "18070")
URL = f"http://127.0.0.1:{PORT}"
TLS_VOLUME = f"{PROJECT}-tls"
POSTGRES_IMAGE = "postgres:17-alpine"
REDIS_IMAGE = "redis:8-alpine"

# The test CA; a certificate for each name the app connects to (db; redis and queue, which share
# one); and pg_hba.conf: the socket for the container itself, TLS with a password for everyone
# else, the superuser never over TCP, and nothing without TLS.
MAKE_TLS = r"""
set -eu
cd /tls
openssl req -x509 -new -nodes -newkey rsa:2048 -days 2 -subj '/CN=managed test CA' \
  -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
  -keyout ca.key -out ca.crt 2>/dev/null
sign() {  # sign FILE NAMES: FILE.key and FILE.crt, for these DNS names
  openssl req -new -nodes -newkey rsa:2048 -subj "/CN=$1" -keyout "$1.key" \
    -out "$1.csr" 2>/dev/null
  # Python 3.13 checks strictly (VERIFY_X509_STRICT): key usages and key identifiers, as real
  # CAs set them.
  printf '%s\n' "subjectAltName=$2" 'keyUsage=critical,digitalSignature,keyEncipherment' \
    'extendedKeyUsage=serverAuth' 'subjectKeyIdentifier=hash' \
    'authorityKeyIdentifier=keyid' > san.ext
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile san.ext -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" san.ext
  chmod 600 "$1.key" && chmod 644 "$1.crt"
}
sign server DNS:db
sign redis DNS:redis,DNS:queue
rm -f ca.key ca.srl
cat > pg_hba.conf <<'HBA'
local     all  all       trust
hostssl   all  postgres  all  reject
hostssl   all  all       all  scram-sha-256
hostnossl all  all       all  reject
HBA
chown postgres:postgres server.key
chmod 644 ca.crt pg_hba.conf
"""
# redis-cli's options for the TLS-only cache and queue store: their certificate checked.
REDIS_CLI_TLS = ("--tls", "--cacert", "/tls/ca.crt")
# redis.key is read by the Redis image's own user: run in that image, which knows the name.
REDIS_OWNS_ITS_KEY = "chown redis /tls/redis.key"


def compose(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    return compose_stack(
        PROJECT, *args, extra_files=("tests/managed/compose.managed.yml",), **options
    )


def psql(sql: str, database: str = "") -> str:
    """As the container's own superuser, through its socket (the platform's side)."""
    return compose(
        "exec",
        "-T",
        "db",
        "sh",
        "-c",
        'psql -v ON_ERROR_STOP=1 -q -At -U "$POSTGRES_USER" -d "${1:-$POSTGRES_DB}" -c "$0"',
        sql,
        database,
    ).stdout.strip()


def api_key() -> str:
    """A key the stack accepts: the first key's secret in .secrets/api_keys."""
    return first_key_secret((PROJECT_ROOT / ".secrets/api_keys").read_text())


def hba_digest() -> str:
    return compose("exec", "-T", "db", "sha256sum", "/tls/pg_hba.conf").stdout.split()[0]


class ManagedDataServices(unittest.TestCase):
    secrets_dir: tempfile.TemporaryDirectory[str]
    hba_before: str
    first: str
    second: str
    start_seconds: float

    @classmethod
    def setUpClass(cls) -> None:
        started = time.monotonic()
        compose("down", "--volumes", "--remove-orphans", check=False)
        docker("volume", "rm", "--force", TLS_VOLUME)
        docker("volume", "create", TLS_VOLUME)
        for image, script in ((POSTGRES_IMAGE, MAKE_TLS), (REDIS_IMAGE, REDIS_OWNS_ITS_KEY)):
            docker(
                "run", "--rm", "--user", "0", "--entrypoint", "sh",
                "--volume", f"{TLS_VOLUME}:/tls", image, "-c", script,
            )  # fmt: skip
        # The admin's URL, with verify-full against the test CA (a secret file of this run).
        cls.secrets_dir = tempfile.TemporaryDirectory()
        secrets = Path(cls.secrets_dir.name)
        admin_password = (PROJECT_ROOT / ".secrets/postgres_admin_password").read_text().strip()
        url_file = secrets / "database_admin_url"
        url_file.write_text(
            f"postgresql://db_admin:{admin_password}@db:5432/postgres"
            "?sslmode=verify-full&sslrootcert=/tls/ca.crt\n"
        )
        url_file.chmod(0o644)
        secrets.chmod(0o755)
        os.environ.update(
            MANAGED_TLS_VOLUME=TLS_VOLUME, POSTGRES_ADMIN_URL_FILE=str(url_file), EDGE_PORT=PORT
        )
        compose("up", "--detach", "--wait", "db")
        cls.hba_before = hba_digest()
        compose("up", "--detach", "--wait", "--no-build")
        cls.first = compose("logs", "--no-log-prefix", "bootstrap").stdout
        cls.second = compose("run", "--rm", "--no-deps", "bootstrap").stdout
        cls.start_seconds = time.monotonic() - started

    @classmethod
    def tearDownClass(cls) -> None:
        compose("down", "--volumes", "--remove-orphans", check=False)
        docker("volume", "rm", "--force", TLS_VOLUME, check=False)
        cls.secrets_dir.cleanup()
        for name in ("MANAGED_TLS_VOLUME", "POSTGRES_ADMIN_URL_FILE", "EDGE_PORT"):
            os.environ.pop(name, None)

    def test_the_admin_is_not_a_superuser(self) -> None:
        admin = psql(
            "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = 'db_admin'"
        )
        self.assertEqual(admin, "f|t|t")
        supers = psql("SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolsuper")
        report(f"superusers: {supers}; the admin: super=f createrole=t createdb=t")

    def test_bootstrap_db_changes_nothing_the_second_time(self) -> None:
        count = re.search(r"bootstrap-db: (\d+) changes", self.first)
        self.assertIsNotNone(count, self.first)
        self.assertIn("bootstrap-db: nothing to change", self.second)
        report(
            f"bootstrap-db: {count and count.group(1)} changes, then none; stack up in "
            f"{self.start_seconds:.1f} s"
        )

    def test_pg_hba_conf_is_untouched_and_refuses_plain_connections(self) -> None:
        self.assertEqual(hba_digest(), self.hba_before)
        attempt = compose(
            "exec",
            "-T",
            "db",
            "psql",
            "host=db sslmode=disable user=app dbname=postgres",
            "-c",
            "SELECT 1",
            check=False,
        )
        self.assertNotEqual(attempt.returncode, 0)
        self.assertIn("no encryption", attempt.stderr)

    def test_the_migration_ran_as_the_owner(self) -> None:
        owners = psql(
            "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'"
        )
        self.assertEqual(owners, "app_owner")
        self.assertTrue(psql("SELECT version_num FROM alembic_version"))

    def test_the_smoke_requests_pass(self) -> None:
        key = api_key()
        self.assertEqual(http_get(f"{URL}/health/ready").status, 200)
        created = http_request(
            "POST", f"{URL}/api/v1/items", {"name": "Lamp", "price": "12.50"}, key
        )
        self.assertEqual(created.status, 201, created.body)
        item = created.json()
        self.assertEqual(http_get(f"{URL}/api/v1/items/{item['id']}").status, 200)
        self.assertEqual(http_get(f"{URL}/api/v1/items?limit=5").status, 200)

    def test_every_app_connection_is_its_role_over_tls_and_no_superuser(self) -> None:
        http_get(f"{URL}/api/v1/items?limit=5")
        rows = psql(
            "SELECT a.usename, s.ssl, r.rolsuper FROM pg_stat_activity a"
            " JOIN pg_stat_ssl s USING (pid) JOIN pg_roles r ON r.rolname = a.usename"
            " WHERE a.application_name = 'fastapi-starter'"
        ).splitlines()
        report(f"app connections: {len(rows)}, each (role, ssl, rolsuper) in {sorted(set(rows))}")
        self.assertTrue(rows)
        self.assertEqual(set(rows), {"app|t|f"})

    def test_the_app_role_cannot_write_alembic_version_nor_reach_the_shared_databases(self) -> None:
        self.assertEqual(
            psql(
                "SELECT has_table_privilege('app', 'alembic_version',"
                " 'INSERT, UPDATE, DELETE, TRUNCATE')"
            ),
            "f",
        )
        for database in ("postgres", "template1"):
            with self.subTest(database=database):
                self.assertEqual(
                    psql(f"SELECT has_database_privilege('app', '{database}', 'CONNECT')"), "f"
                )

    def test_the_cache_and_the_queue_store_take_tls_only(self) -> None:
        for service in ("redis", "queue"):
            with self.subTest(service=service):
                tls = redis_cli(compose, *REDIS_CLI_TLS, "PING", service=service)
                self.assertEqual(tls, "PONG")
                plain = compose("exec", "-T", service, "redis-cli", "ping", check=False)
                self.assertNotIn("PONG", plain.stdout + plain.stderr)
                self.assertNotIn("NOAUTH", plain.stdout + plain.stderr)

    def test_a_cached_read_lands_in_the_cache_over_tls(self) -> None:
        key = api_key()
        created = http_request(
            "POST", f"{URL}/api/v1/items", {"name": "Desk", "price": "80.00"}, key
        )
        self.assertEqual(created.status, 201, created.body)
        item_id = created.json()["id"]
        self.assertEqual(http_get(f"{URL}/api/v1/items/{item_id}").status, 200)
        key_name = f"cache:items:{item_id.replace('-', '')}"
        entry = redis_cli(compose, *REDIS_CLI_TLS, "EXISTS", key_name)
        self.assertEqual(entry, "1")

    def test_an_export_runs_through_the_queue_over_tls(self) -> None:
        key = api_key()
        started = http_request("POST", f"{URL}/api/v1/items/exports", api_key=key)
        self.assertIn(started.status, (200, 202), started.body)
        export_url = f"{URL}{started.headers['location']}"

        def succeeded() -> bool:
            status = http_get(export_url).json()["status"]
            self.assertNotEqual(status, "failed")
            return bool(status == "succeeded")

        seconds = wait_for(succeeded, timeout=60, what="the export to succeed")
        report(f"an export through the TLS-only queue store: succeeded in {seconds:.1f} s")

    def test_the_worker_reads_the_queue_depth_over_tls(self) -> None:
        metrics = compose(
            "exec",
            "-T",
            "worker",
            "python",
            "-c",
            "import urllib.request; print(urllib.request.urlopen("
            "'http://127.0.0.1:9464/metrics', timeout=5).read().decode())",
        ).stdout
        self.assertRegex(metrics, r'(?m)^queue_depth\{state="waiting"\} \d')


if __name__ == "__main__":
    unittest.main()
