"""The pooling test (make managed): 6 app replicas x 2 processes x a pool of 10 (120 client
connections) through PgBouncer in transaction mode, against a Postgres with max_connections=40,
under a mixed load of reads, creates, updates and exports for 60 s: no 5xx, and the server
connections stay within PgBouncer's budget."""

import collections
import http.client
import json
import os
import subprocess
import threading
import time
import unittest
import uuid
from typing import Any

from tests.container.docker import PROJECT_ROOT, compose_stack, first_key_secret, report

PROJECT = os.environ.get("MANAGED_PROJECT", "fastapi-starter-managed") + "-pooling"
PORT = int(os.environ.get("POOLING_PORT", "18071"))
FILES = ("deploy/pgbouncer/compose.pgbouncer.yml", "tests/managed/compose.pooling.yml")
REPLICAS, SECONDS, THREADS = 6, float(os.environ.get("POOLING_SECONDS", "60")), 16
MAX_DB_CONNECTIONS = 25  # PgBouncer's default budget (deploy/pgbouncer/entrypoint.sh)


def compose(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    return compose_stack(PROJECT, *args, extra_files=FILES, **options)


def server_connections() -> int:
    """Postgres backends serving clients (PgBouncer's, the worker's, the scheduler's)."""
    output = compose(
        "exec",
        "-T",
        "db",
        "sh",
        "-c",
        'psql -q -At -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$0"',
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
        " AND usename <> current_user",
        check=False,
    ).stdout.strip()
    return int(output) if output.isdigit() else 0


class Traffic:
    """Threads sending a mix of requests through the edge, each on its own keep-alive connection."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.statuses: collections.Counter[tuple[str, int]] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()

    def request(
        self,
        connection: http.client.HTTPConnection,
        kind: str,
        method: str,
        path: str,
        body: Any = None,
    ) -> Any:
        headers = {"X-API-Key": self.api_key}
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        data = response.read()
        with self.lock:
            self.statuses[(kind, response.status)] += 1
        return json.loads(data) if data and response.status < 300 else None

    def run(self, deadline: float) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        mine: list[str] = []
        step = 0
        while time.monotonic() < deadline:
            step += 1
            try:
                if step % 7 == 1 or not mine:
                    name = f"pool {uuid.uuid4().hex}"
                    item = self.request(
                        connection,
                        "create",
                        "POST",
                        "/api/v1/items",
                        {"name": name, "price": "1.00"},
                    )
                    if item:
                        mine.append(item["id"])
                elif step % 7 == 2:
                    self.request(
                        connection,
                        "update",
                        "PATCH",
                        f"/api/v1/items/{mine[-1]}",
                        {"price": f"{step % 100}.50"},
                    )
                elif step % 29 == 0:
                    self.request(connection, "export", "POST", "/api/v1/items/exports")
                elif step % 2:
                    self.request(
                        connection, "read", "GET", f"/api/v1/items/{mine[step % len(mine)]}"
                    )
                else:
                    self.request(connection, "list", "GET", "/api/v1/items?limit=20")
            except (OSError, http.client.HTTPException) as error:
                with self.lock:
                    self.errors[type(error).__name__] += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        connection.close()


class PoolingThroughPgBouncer(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        # The load comes from one address: the edge's per-client limits are raised for it, as
        # make bench and make scale do, so what is measured is the pool, not the edge's 429s.
        settings = {
            "EDGE_PORT": str(PORT),
            "EDGE_CLIENT_CONNECTIONS": "1000",
            "EDGE_CLIENT_RATE": "100000r/s",
            "EDGE_CLIENT_BURST": "100000",
        }
        os.environ.update(settings)
        try:
            compose("down", "--volumes", "--remove-orphans", check=False)
            compose("up", "--detach", "--wait", "--scale", f"app={REPLICAS}", timeout=600)
        finally:
            for name in settings:
                os.environ.pop(name, None)

    @classmethod
    def tearDownClass(cls) -> None:
        compose("down", "--volumes", "--remove-orphans", check=False)

    def test_a_mixed_load_gets_no_5xx_within_the_connection_budget(self) -> None:
        api_key = first_key_secret((PROJECT_ROOT / ".secrets/api_keys").read_text())
        traffic = Traffic(api_key)
        deadline = time.monotonic() + SECONDS
        threads = [threading.Thread(target=traffic.run, args=(deadline,)) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        peak = 0
        while any(thread.is_alive() for thread in threads):
            peak = max(peak, server_connections())
            time.sleep(1)
        total = sum(traffic.statuses.values())
        by_kind: collections.Counter[str] = collections.Counter()
        for (kind, _), count in traffic.statuses.items():
            by_kind[kind] += count
        failed = {key: n for key, n in traffic.statuses.items() if key[1] >= 500}
        report(
            f"{total} requests in {SECONDS:.0f} s through PgBouncer ({dict(by_kind)}); statuses "
            f"{dict(collections.Counter(s for (_, s) in traffic.statuses.elements()))}; "
            f"5xx {sum(failed.values())}; connection errors {dict(traffic.errors)}; "
            f"peak server connections {peak} (max_connections 40, PgBouncer's budget "
            f"{MAX_DB_CONNECTIONS}); client pools {REPLICAS} x 2 x 10 = {REPLICAS * 20}"
        )
        self.assertEqual(failed, {})
        self.assertEqual(dict(traffic.errors), {})
        self.assertGreater(total, 0)
        refused = {key: n for key, n in traffic.statuses.items() if key[1] >= 400}
        self.assertEqual(refused, {})
        self.assertLessEqual(peak, 40 - 3)


if __name__ == "__main__":
    unittest.main()
