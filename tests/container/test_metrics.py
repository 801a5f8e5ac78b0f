"""Metrics under gunicorn's pre-fork workers, black-box: N requests served by two workers scrape
as N, whichever worker served them, and still N after a worker is killed and replaced (its
counts neither lost nor counted twice). /metrics answers on the metrics port and not on the
public one."""

import json
import re
import unittest
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.container.docker import (
    IMAGE,
    docker,
    http_get,
    http_request,
    published_url,
    report,
    wait_for,
)

METRICS_PORT = "9464/tcp"  # the default of METRICS_PORT (app/core/config.py)
COUNTED = "/health/live"
SAMPLE = re.compile(r"^http_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.MULTILINE)

# Run inside the container: each worker's own count of GET /health/live, read from its file in
# PROMETHEUS_MULTIPROC_DIR, and the pids of gunicorn's workers (PID 1's children).
PER_WORKER = """
import glob, json, os
from prometheus_client.mmap_dict import MmapedDict
ROUTE = os.environ["ROUTE"]
counts = {}
for path in glob.glob(os.environ["PROMETHEUS_MULTIPROC_DIR"] + "/counter_*.db"):
    pid = path.rsplit("_", 1)[1].removesuffix(".db")
    for key, value, *_ in MmapedDict.read_all_values_from_file(path):
        _, sample, labels, _ = json.loads(key)
        if sample == "http_requests_total" and labels.get("route") == ROUTE:
            if labels.get("method") == "GET":
                counts[pid] = counts.get(pid, 0) + value
workers = []
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == "1":
            workers.append(entry)
print(json.dumps({"counts": counts, "workers": workers}))
"""


class MetricsAcrossWorkers(unittest.TestCase):
    name: str
    url: str
    metrics_url: str

    @classmethod
    def setUpClass(cls) -> None:
        cls.name = f"smoke-metrics-{uuid.uuid4().hex[:8]}"
        # No healthcheck: its probes of /health/live would be counted too. No Postgres or Redis:
        # /health/live needs neither, and the pools connect lazily.
        docker(
            "run", "-d", "--name", cls.name, "--read-only", "--tmpfs", "/tmp", "--no-healthcheck",
            "-e", "WEB_CONCURRENCY=2", "-p", "127.0.0.1::8000", "-p", f"127.0.0.1::{METRICS_PORT}",
            IMAGE,
        )  # fmt: skip
        cls.url = published_url(cls.name)
        cls.metrics_url = published_url(cls.name, METRICS_PORT)
        wait_for(lambda: len(cls.state()["workers"]) == 2, 60, "two gunicorn workers")
        # HEAD, not GET: the readiness polls are not among the requests counted.
        wait_for(lambda: http_request("HEAD", f"{cls.url}{COUNTED}").status == 200, 60, "the app")

    @classmethod
    def tearDownClass(cls) -> None:
        docker("rm", "-f", "--volumes", cls.name, check=False)

    @classmethod
    def state(cls) -> dict[str, dict[str, float] | list[str]]:
        out = docker("exec", "-e", f"ROUTE={COUNTED}", cls.name, "python", "-c", PER_WORKER).stdout
        state: dict[str, dict[str, float] | list[str]] = json.loads(out)
        return state

    def settled_scrape(self, expected: float) -> float:
        """The scrape once the last requests are counted: a worker counts a request just after
        its response's last byte, so a client can be a moment ahead of the count."""
        wait_for(lambda: self.scraped() >= expected, 30, f"{expected:g} requests counted")
        return self.scraped()

    def scraped(self) -> float:
        reply = http_get(f"{self.metrics_url}/metrics")
        self.assertEqual(reply.status, 200)
        total = 0.0
        for match in SAMPLE.finditer(reply.body.decode()):
            if f'route="{COUNTED}"' in match["labels"] and 'method="GET"' in match["labels"]:
                total += float(match["value"])
        return total

    def send(self, count: int) -> None:
        def one(_: int) -> int:
            return http_get(f"{self.url}{COUNTED}").status

        with ThreadPoolExecutor(max_workers=8) as pool:
            self.assertEqual(set(pool.map(one, range(count))), {200})

    def test_1_counts_are_summed_over_both_workers_and_survive_a_killed_worker(self) -> None:
        sent = 0
        # Until both workers have served some: the kernel, not the test, spreads connections.
        for _ in range(20):
            self.send(50)
            sent += 50
            counts = self.state()["counts"]
            assert isinstance(counts, dict)
            if len(counts) == 2 and all(counts.values()):
                break
        else:
            self.fail(f"the requests never reached both workers: {counts}")
        report(f"{sent} requests served by two workers as {sorted(counts.values())}")
        self.assertEqual(self.settled_scrape(sent), sent)
        self.assertEqual(sum(self.state()["counts"].values()), sent)  # type: ignore[union-attr]

        # SIGKILL: no clean exit; gunicorn's master sees the child die and starts another.
        killed = max(counts, key=lambda pid: counts[pid])
        docker("exec", self.name, "sh", "-c", f"kill -KILL {killed}")

        def replaced() -> bool:
            workers = self.state()["workers"]
            return len(workers) == 2 and killed not in workers

        wait_for(replaced, 60, "gunicorn to replace the killed worker")
        self.assertEqual(
            self.settled_scrape(sent), sent, "the dead worker's counts lost or doubled"
        )

        self.send(40)
        self.assertEqual(self.settled_scrape(sent + 40), sent + 40)
        # Its live gauges were dropped (child_exit): none of its files but its counters remain.
        leftovers = docker(
            "exec", self.name, "sh", "-c", f'ls "$PROMETHEUS_MULTIPROC_DIR" | grep "_{killed}.db"'
        ).stdout.split()
        self.assertTrue(leftovers)
        self.assertFalse([f for f in leftovers if f.startswith("gauge_live")], leftovers)

    def test_2_metrics_answer_on_their_port_and_not_on_the_public_one(self) -> None:
        self.assertEqual(http_get(f"{self.url}/metrics").status, 404)
        reply = http_get(f"{self.metrics_url}/metrics")
        self.assertEqual(reply.status, 200)
        self.assertTrue(reply.headers["content-type"].startswith("text/plain"))
        body = reply.body.decode()
        for name in ("http_requests_total", "http_request_duration_seconds_bucket",
                     "http_requests_in_flight", "app_build_info"):  # fmt: skip
            self.assertIn(name, body)
