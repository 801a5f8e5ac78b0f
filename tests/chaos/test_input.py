"""Concurrent writers, generated and hostile input, and memory under load: always a clear answer."""

import json
import os
import threading
import time
import unittest
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from tests.chaos import stack
from tests.chaos.stack import IN_CI, ITEMS, PROJECT, Load, api_key, call, create_item, raw_request
from tests.container.docker import PROJECT_ROOT, docker, inspect, report

FUZZ_EXAMPLES = 50 if IN_CI else 200
CGROUP_V2_PEAK = "/sys/fs/cgroup/memory.peak"
CGROUP_V1_PEAK = "/sys/fs/cgroup/memory/memory.max_usage_in_bytes"


def setUpModule() -> None:
    stack.up()


def together(count: int, action: Callable[[int], int]) -> list[int]:
    """Runs ``action`` in ``count`` threads released at the same instant; returns the statuses."""
    start = threading.Barrier(count)
    statuses: list[int] = [0] * count

    def run(n: int) -> None:
        start.wait()
        statuses[n] = action(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return statuses


class Concurrency(unittest.TestCase):
    def test_fifty_creates_of_one_name_make_exactly_one_item(self) -> None:
        name = f"contested {uuid.uuid4()}"
        statuses = together(
            50,
            lambda n: (
                call("POST", ITEMS, {"name": name.upper() if n % 2 else name, "price": "1"}).status
            ),
        )
        self.assertEqual(sorted(statuses), [201] + [409] * 49)
        count = stack.psql(f"SELECT count(*) FROM items WHERE lower(name) = lower('{name}')")
        self.assertEqual(count, "1")

    def test_concurrent_patches_never_leave_a_version_the_database_no_longer_has(self) -> None:
        item = create_item(price="0.00")
        url = f"{ITEMS}/{item['id']}"

        def patch_or_read(n: int) -> int:
            if n % 3:
                return call("GET", url).status
            return call("PATCH", url, {"price": f"{n}.00"}).status

        statuses = together(45, patch_or_read)
        self.assertEqual(set(statuses), {200})
        in_database = stack.psql(f"SELECT price FROM items WHERE id = '{item['id']}'")
        self.assertEqual(call("GET", url).json()["price"], in_database)


class Fuzzing(unittest.TestCase):
    def test_schemathesis_finds_nothing_in_any_operation(self) -> None:
        started = time.monotonic()
        run = docker(
            "run",
            "--rm",
            "--network",
            f"{PROJECT}_default",
            "--volume",
            f"{PROJECT_ROOT}:/src:ro",
            "--workdir",
            "/src",
            "--env",
            "HOME=/tmp",
            os.environ.get("DEV_IMAGE", "fastapi-starter:dev"),
            "st",
            "--config-file",
            "tests/chaos/schemathesis.toml",
            "run",
            "http://app:8000/openapi.json",
            "--header",
            f"X-API-Key: {api_key()}",
            "--max-examples",
            str(FUZZ_EXAMPLES),
            "--workers",
            "2",
            "--seed",
            "20261128",
            check=False,
            timeout=900,
        )
        summary = run.stdout[run.stdout.rfind("SUMMARY") :]
        report(
            f"schemathesis, {FUZZ_EXAMPLES} examples per operation: "
            f"{time.monotonic() - started:.0f} s\n{summary}"
        )
        self.assertEqual(run.returncode, 0, run.stdout[-6000:] + run.stderr[-2000:])


def request_bytes(
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str = "application/json",
    extra: bytes = b"",
) -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: chaos\r\nConnection: close\r\n"
        f"X-API-Key: {api_key()}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    ).encode()
    return head + extra + b"\r\n" + body


def item_body(name: str = '"hostile"', price: str = '"1.00"', description: str = "null") -> bytes:
    return f'{{"name": {name}, "price": {price}, "description": {description}}}'.encode()


HOSTILE = {
    "oversized body": request_bytes(
        "POST", ITEMS, b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    ),
    "deeply nested body": request_bytes("POST", ITEMS, b"[" * 100_000 + b"]" * 100_000),
    "deeply nested object": request_bytes("POST", ITEMS, b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    "invalid UTF-8": request_bytes("POST", ITEMS, b'{"name": "\xc3\x28", "price": "1.00"}'),
    "NUL in a string": request_bytes("POST", ITEMS, item_body(name='"a\\u0000b"')),
    "NUL in the description": request_bytes("POST", ITEMS, item_body(description='"a\\u0000b"')),
    "control characters": request_bytes("POST", ITEMS, item_body(name='"bell\\u0007"')),
    "very long string": request_bytes("POST", ITEMS, item_body(name='"' + "y" * 500_000 + '"')),
    "huge number": request_bytes("POST", ITEMS, item_body(price="1e400")),
    "huge integer": request_bytes("POST", ITEMS, item_body(price="9" * 5000)),
    "NaN": request_bytes("POST", ITEMS, item_body(price="NaN")),
    "Infinity": request_bytes("POST", ITEMS, item_body(price="Infinity")),
    "negative price": request_bytes("POST", ITEMS, item_body(price='"-1.00"')),
    "price as a float": request_bytes("POST", ITEMS, item_body(price="12.5")),
    "wrong content type": request_bytes("POST", ITEMS, item_body(), content_type="text/plain"),
    "form content type": request_bytes(
        "POST", ITEMS, b"name=x&price=1", content_type="application/x-www-form-urlencoded"
    ),
    "no content type": request_bytes("POST", ITEMS, item_body()).replace(
        b"Content-Type: application/json\r\n", b""
    ),
    "CR in X-Request-ID": request_bytes("GET", ITEMS, extra=b"X-Request-ID: abc\rdef\r\n"),
    "LF in X-Request-ID": request_bytes("GET", ITEMS, extra=b"X-Request-ID: abc\ndef\r\n"),
    "NUL in X-Request-ID": request_bytes("GET", ITEMS, extra=b"X-Request-ID: abc\x00def\r\n"),
    "malformed id": request_bytes("GET", f"{ITEMS}/not-a-uuid"),
    "NUL in the id": request_bytes("GET", f"{ITEMS}/%00"),
    "path traversal id": request_bytes("GET", f"{ITEMS}/..%2F..%2Fetc%2Fpasswd"),
    "malformed cursor": request_bytes("GET", f"{ITEMS}?cursor=%FF%FE"),
    "huge limit": request_bytes("GET", f"{ITEMS}?limit=99999999999999999999999"),
    "malformed If-Match": request_bytes(
        "PATCH", f"{ITEMS}/{uuid.uuid4()}", item_body(), extra=b"If-Match: \x01\x02\r\n"
    ),
}
# Answered by the HTTP parser itself, before the app: a plain 400, not a problem document.
REFUSED_BY_THE_PARSER = {
    "CR in X-Request-ID",
    "LF in X-Request-ID",
    "NUL in X-Request-ID",
    "malformed If-Match",
}


class HostileInput(unittest.TestCase):
    def test_each_gets_a_clear_4xx_and_the_log_stays_intact(self) -> None:
        since = datetime.now(UTC).isoformat()
        for case, request in HOSTILE.items():
            with self.subTest(case):
                status, answer = raw_request(request, timeout=15)
                self.assertTrue(400 <= status < 500, f"{case}: {answer[:300]!r}")
                if case not in REFUSED_BY_THE_PARSER:
                    self.assertIn(b"content-type: application/problem+json", answer.lower())
        self.assertEqual(call("GET", "/health/ready", key=False).status, 200, "still healthy")
        time.sleep(0.5)  # the log writer thread flushes
        for line in stack.app_log_lines(since):
            with self.subTest(line=line[:120]):
                record = json.loads(line)  # every line one intact JSON object
                self.assertIn("level", record)
                self.assertNotEqual(record.get("status"), 500)


class MemoryLimit(unittest.TestCase):
    def test_the_app_stays_under_its_memory_limit_under_read_load(self) -> None:
        app = stack.container("app")
        limit = inspect("container", app)["HostConfig"]["Memory"]
        item = create_item()
        with Load(stack.get(f"{ITEMS}/{item['id']}"), threads=8, seconds=15) as load:
            time.sleep(load.seconds)
        peak = int(
            docker(
                "exec",
                app,
                "sh",
                "-c",
                f"cat {CGROUP_V2_PEAK} 2>/dev/null || cat {CGROUP_V1_PEAK}",
            ).stdout
        )
        served = sum(1 for o in load.outcomes if o.status == 200)
        report(
            f"memory: peak {peak / 2**20:.0f} MiB of a {limit / 2**20:.0f} MiB limit, "
            f"after {served} reads in 15 s"
        )
        self.assertEqual(served, len(load.outcomes))
        self.assertLess(peak, limit)
        self.assertFalse(inspect("container", app)["State"]["OOMKilled"])


if __name__ == "__main__":
    unittest.main()
