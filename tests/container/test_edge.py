"""The edge in front of three app replicas (`docker compose up --scale app=3`, compose.yml alone):
every replica is used, the app sees the client's own address, in its rate-limit bucket and in its
access line, whatever the client claims in X-Forwarded-For, and oversized requests are refused
by the edge with problem documents before any replica sees them."""

import ipaddress
import json
import os
import subprocess
import time
import unittest
import urllib.error
import urllib.request
import uuid
from typing import Any

from tests.container import services
from tests.container.docker import (
    compose_stack,
    docker,
    inspect,
    report,
    subnet_for,
    wait_for,
)

PROJECT = os.environ.get("SMOKE_PROJECT", "fastapi-starter-smoke") + "-edge"
REPLICAS = 3


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    os.environ["EDGE_PORT"] = ""  # a port of Docker's choosing: nothing to collide with
    return compose_stack(PROJECT, *args, env=env)


def log_lines(container: str) -> list[dict[str, Any]]:
    logs = docker("logs", container)
    lines = []
    for line in (logs.stdout + logs.stderr).splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    """A GET's status and headers, error statuses included."""
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http only
    try:
        response = urllib.request.urlopen(request, timeout=5)  # noqa: S310
    except urllib.error.HTTPError as error:
        response = error
    with response:
        response.read()
        return response.status, {k.lower(): v for k, v in response.headers.items()}


def upstream_connections(edge: str) -> set[str]:
    """The edge's TCP connections to a replica's port 8000, in any state (TIME_WAIT too), by
    their local address and port: a connection opened since an earlier call is a new entry."""
    rows = docker("exec", edge, "cat", "/proc/net/tcp").stdout.splitlines()[1:]
    pairs = (row.split()[1:3] for row in rows)
    return {local for local, remote in pairs if remote.endswith(":1F40")}  # 8000 in hex


def nginx_workers(edge: str) -> int:
    """The edge's nginx processes, its master left out."""
    comms = docker("exec", edge, "sh", "-c", "cat /proc/[0-9]*/comm").stdout.split()
    return comms.count("nginx") - 1


def problem(
    url: str, headers: dict[str, str] | None = None, data: bytes | None = None
) -> tuple[int, str, dict[str, Any]]:
    """A request's status, content type and JSON body (a POST when there is data)."""
    headers = {**(headers or {}), **({"Content-Type": "application/json"} if data else {})}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - http only
    try:
        response = urllib.request.urlopen(request, timeout=5)  # noqa: S310
    except urllib.error.HTTPError as error:
        response = error
    with response:
        return response.status, response.headers["Content-Type"], json.loads(response.read())


class EdgeInFrontOfReplicas(unittest.TestCase):
    url: str
    apps: list[str]
    edge: str

    @classmethod
    def setUpClass(cls) -> None:
        compose("down", "--volumes", "--remove-orphans")
        started = time.monotonic()
        compose("up", "--detach", "--wait", "--no-build", "--scale", f"app={REPLICAS}")
        report(f"compose.yml with --scale app={REPLICAS} up: {time.monotonic() - started:.1f} s")
        cls.url = "http://" + compose("port", "edge", "8080").stdout.strip()
        cls.apps = compose("ps", "--quiet", "app").stdout.split()
        cls.edge = compose("ps", "--quiet", "edge").stdout.strip()

    @classmethod
    def tearDownClass(cls) -> None:
        compose("down", "--volumes", "--remove-orphans")

    def test_every_replica_serves_requests_through_the_edge(self) -> None:
        self.assertEqual(len(self.apps), REPLICAS)
        marker = f"spread-{uuid.uuid4().hex[:8]}"
        for n in range(30):
            status, _ = get(f"{self.url}/health/live", {"X-Request-ID": f"{marker}-{n}"})
            self.assertEqual(status, 200)
        time.sleep(0.5)  # the access lines are written in batches
        served = [
            sum(1 for line in log_lines(app) if str(line.get("request_id")).startswith(marker))
            for app in self.apps
        ]
        report(f"30 requests through the edge, per replica: {served}")
        self.assertEqual(sum(served), 30)
        self.assertTrue(all(served), f"a replica got nothing: {served}")

    def test_the_edge_keeps_its_connections_to_the_replicas(self) -> None:
        before = upstream_connections(self.edge)
        for _ in range(60):
            status, _ = get(f"{self.url}/health/live", {})
            self.assertEqual(status, 200)
        opened = upstream_connections(self.edge) - before
        report(f"60 requests through the edge opened {len(opened)} connections to the replicas")
        # At most one per replica and nginx worker process: the rest reused a kept one.
        self.assertLessEqual(len(opened), REPLICAS * nginx_workers(self.edge))

    def test_the_edge_runs_one_nginx_process_for_its_one_cpu(self) -> None:
        # The image's own `worker_processes auto` starts one per CPU of the host (two here),
        # all taking turns on the one CPU the edge may use (deploy/edge/nginx.conf).
        cpus = inspect("container", self.edge)["HostConfig"]["NanoCpus"] / 1e9
        self.assertEqual((nginx_workers(self.edge), cpus), (1, 1.0))

    def test_the_app_sees_the_clients_address_not_the_edges_nor_a_forged_one(self) -> None:
        request_id = f"client-{uuid.uuid4().hex}"
        # A path no resource has (the suite holds without the example): the app's own 404, which
        # the rate limiter counted like any request under the API.
        status, headers = get(
            f"{self.url}/api/v1/no-such-resource",
            {"X-Request-ID": request_id, "X-Forwarded-For": "203.0.113.9"},
        )
        self.assertEqual((status, headers["content-type"]), (404, "application/problem+json"))
        self.assertEqual(headers["x-request-id"], request_id, "a sane incoming id is kept")

        # Both write their access lines in batches: the edge within a second (its access_log
        # flush), the app within 50 ms.
        def edge_lines() -> list[dict[str, Any]]:
            return [line for line in log_lines(self.edge) if line.get("request_id") == request_id]

        def app_lines() -> list[dict[str, Any]]:
            return [
                line
                for app in self.apps
                for line in log_lines(app)
                if line.get("request_id") == request_id and line.get("logger") == "app.access"
            ]

        wait_for(lambda: bool(edge_lines() and app_lines()), 5, "both access lines")
        (edge_line,), (app_line,) = edge_lines(), app_lines()
        client = edge_line["client"]  # the address the edge took the connection from
        report(f"client as the edge and the app see it: {client} / {app_line['client']}")
        self.assertEqual(app_line["client"], client)
        self.assertNotIn(
            ipaddress.ip_address(client), ipaddress.ip_network(subnet_for(PROJECT)), "not the edge"
        )
        buckets = services.redis_cli(compose, "--scan", "--pattern", "ratelimit:addr:*").split()
        self.assertTrue([b for b in buckets if b.startswith(f"ratelimit:addr:{client}:")], buckets)
        self.assertFalse([b for b in buckets if "203.0.113.9" in b], "a forged address counted")
        self.assertFalse([b for b in buckets if b.startswith("ratelimit:addr:10.")], buckets)

    def test_an_insane_request_id_is_replaced_by_the_edges_own(self) -> None:
        status, headers = get(f"{self.url}/health/live", {"X-Request-ID": "not sane!" * 20})
        self.assertEqual(status, 200)
        self.assertRegex(headers["x-request-id"], r"^[0-9a-f]{32}$")

    def test_the_edge_refuses_oversized_requests_before_any_replica_sees_them(self) -> None:
        # The request line and the headers are bounded by the edge alone (the app does not check
        # them); the body by both. Each refusal is a problem document, like the app's errors.
        marker = f"refused-{uuid.uuid4().hex}"
        refused = {
            "a 20 KiB URL": (problem(f"{self.url}/{marker}/{'a' * 20_000}"), 414),
            "a 100 KiB header": (problem(f"{self.url}/{marker}", {"X-Big": "h" * 100_000}), 431),
            "100 headers of 1 KiB": (
                problem(f"{self.url}/{marker}", {f"X-{n}": "v" * 1000 for n in range(100)}),
                431,
            ),
            "a body over 1 MiB": (
                problem(f"{self.url}/api/v1/items", data=b'{"name": "' + b"x" * 1_100_000 + b'"}'),
                413,
            ),
        }
        for name, ((status, content_type, body), expected) in refused.items():
            with self.subTest(name):
                self.assertEqual(status, expected)
                self.assertEqual(content_type, "application/problem+json")
                self.assertEqual((body["type"], body["status"]), ("about:blank", expected))
        time.sleep(0.5)  # the access lines are written in batches
        reached = [line for app in self.apps for line in log_lines(app) if marker in str(line)]
        self.assertEqual(reached, [], "a replica saw a request the edge refuses")

    def test_the_edge_is_non_root_read_only_and_healthy(self) -> None:
        config = inspect("container", self.edge)
        self.assertEqual(config["Config"]["User"], "101:101")
        self.assertTrue(config["HostConfig"]["ReadonlyRootfs"])
        self.assertEqual(config["HostConfig"]["CapDrop"], ["ALL"])
        self.assertEqual(config["State"]["Health"]["Status"], "healthy")
        self.assertFalse(inspect("container", self.apps[0])["HostConfig"]["PortBindings"])
