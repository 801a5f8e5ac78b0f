"""The arm64 image (`make arm64`): built from the same Dockerfile for linux/arm64, under the
budget, its native wheels loaded on aarch64, and serving in the compose.yml stack (the data
services and the edge on the machine's own platform): health, create, a read and its ETag,
the list, an export run by the arm64 worker, and a graceful stop that exits 0.

Under emulation (qemu on an amd64 machine) every step is slower than natively, hence the
timeouts; the figures it reports are the emulated ones."""

import os
import subprocess
import time
import unittest
import urllib.error
import urllib.request
from typing import Any

from tests.container import services
from tests.container.docker import (
    IMAGE_SIZE_LIMIT,
    MB,
    compose_stack,
    docker,
    http_get,
    http_request,
    image_size,
    inspect,
    report,
    wait_for,
)

ARM64_IMAGE = os.environ.get("ARM64_IMAGE", "fastapi-starter:local-arm64")
PROJECT = os.environ.get("ARM64_PROJECT", "fastapi-starter-arm64")
ITEMS = "/api/v1/items"
EXPORTS = "/api/v1/exports"
# The services that run the app's image here, on arm64 (compose.arm64.yml leaves the scheduler
# out under emulation).
APP_SERVICES = ("app", "worker", "migrate")
# Emulated, an interpreter starts in seconds rather than a fraction of one.
EMULATED_TIMEOUT = 1200


def compose(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    os.environ["APP_IMAGE"] = ARM64_IMAGE  # compose.yml's image for the app's services
    os.environ["EDGE_PORT"] = ""  # a port of Docker's choosing: nothing to collide with
    return compose_stack(PROJECT, *args, extra_files=("tests/arm64/compose.arm64.yml",), **options)


def container_of(service: str) -> str:
    return compose("ps", "--all", "--quiet", service).stdout.strip()


class Arm64Image(unittest.TestCase):
    def test_is_a_linux_arm64_image(self) -> None:
        image = inspect("image", ARM64_IMAGE)
        self.assertEqual((image["Os"], image["Architecture"]), ("linux", "arm64"))

    def test_is_under_200_mb(self) -> None:
        total, ours = image_size(ARM64_IMAGE)
        report(
            f"image {ARM64_IMAGE} (arm64): {total / MB:.1f} MB in all, "
            f"{ours / MB:.1f} MB added by the project"
        )
        self.assertLess(total, IMAGE_SIZE_LIMIT)

    def test_loads_its_native_wheels_on_aarch64(self) -> None:
        # The compiled extensions the service runs on: a wheel for the wrong architecture, or
        # one stripped too far, fails here rather than at the first request. (The app itself is
        # imported by the build and started by the stack below.)
        probe = (
            "import platform, asyncpg, hiredis, httptools, pydantic_core, uvloop; "
            "print(platform.machine())"
        )
        result = docker(
            "run", "--rm", "--platform", "linux/arm64", "--entrypoint", "python",
            ARM64_IMAGE, "-c", probe, timeout=EMULATED_TIMEOUT,
        )  # fmt: skip
        self.assertEqual(result.stdout.strip(), "aarch64")


class Arm64Stack(unittest.TestCase):
    """The compose.yml stack with the arm64 app, worker and migration."""

    url: str
    api_key: str

    @classmethod
    def setUpClass(cls) -> None:
        compose("down", "--volumes", "--remove-orphans")
        started = time.monotonic()
        compose("up", "--detach", "--wait", "--no-build", timeout=EMULATED_TIMEOUT)
        report(f"arm64 stack up and healthy: {time.monotonic() - started:.1f} s")
        address = compose("port", "edge", "8080").stdout.strip()
        cls.url = f"http://{address.replace('0.0.0.0', '127.0.0.1')}"  # noqa: S104
        cls.api_key = services.api_key(compose)
        # Warm-up, not a check: under emulation a route's first request compiles the modules it
        # imports lazily (the image ships no bytecode), long enough for the edge to give up on
        # it (502). Read and write paths are asked until they answer; the tests follow.
        started = time.monotonic()
        wait_for(
            lambda: http_get(f"{cls.url}/health/ready", timeout=60).status == 200,
            600,
            "the arm64 app to answer readiness through the edge",
            interval=5,
        )
        wait_for(
            lambda: (
                http_request(
                    "POST", f"{cls.url}{ITEMS}", {"name": "warm-up", "price": "1"}, cls.api_key, 60
                ).status
                == 201
            ),
            600,
            "the arm64 app to answer a create through the edge",
            interval=5,
        )
        report(f"arm64 app warmed up (first requests): {time.monotonic() - started:.1f} s")

    @classmethod
    def tearDownClass(cls) -> None:
        compose("down", "--volumes", "--remove-orphans", timeout=EMULATED_TIMEOUT)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return http_request(method, f"{self.url}{path}", body, self.api_key, timeout=30)

    def test_1_every_app_service_runs_the_arm64_image(self) -> None:
        for service in APP_SERVICES:
            container = inspect("container", container_of(service))
            image = inspect("image", container["Image"])
            self.assertEqual(image["Architecture"], "arm64", service)
        machine = compose("exec", "-T", "app", "uname", "-m").stdout.strip()
        self.assertEqual(machine, "aarch64")

    def test_2_is_ready_with_every_check_passing(self) -> None:
        reply = http_get(f"{self.url}/health/ready", timeout=30)
        self.assertEqual(reply.status, 200, reply.body)
        statuses = {name: results[0]["status"] for name, results in reply.json()["checks"].items()}
        self.assertEqual(set(statuses.values()), {"pass"}, statuses)

    def test_3_create_read_with_its_etag_and_list(self) -> None:
        name = f"arm64 {time.time()}"
        created = self.call("POST", ITEMS, {"name": name, "price": "12.5"})
        self.assertEqual(created.status, 201, created.body)
        location = created.headers["location"]
        read = self.call("GET", location)
        self.assertEqual(read.status, 200)
        self.assertEqual(read.json()["price"], "12.50")
        self.assertEqual(read.headers["etag"], created.headers["etag"])
        request_headers = {"If-None-Match": read.headers["etag"]}
        revalidated = http_request_with_headers(f"{self.url}{location}", request_headers)
        self.assertEqual(revalidated, 304)
        listed = self.call("GET", f"{ITEMS}?limit=100")
        self.assertEqual(listed.status, 200)
        self.assertIn(name, listed.body.decode())

    def test_4_an_export_runs_to_its_csv_on_the_arm64_worker(self) -> None:
        name = f"exported on arm64 {time.time()}"
        self.assertEqual(self.call("POST", ITEMS, {"name": name, "price": "1"}).status, 201)
        started = time.monotonic()
        accepted = self.call("POST", f"{ITEMS}/exports")
        self.assertEqual(accepted.status, 202, accepted.body)
        export_id = accepted.json()["id"]
        wait_for(
            lambda: self.call("GET", f"{EXPORTS}/{export_id}").json()["status"] == "succeeded",
            300,
            "the export to succeed",
            interval=1,
        )
        report(f"export on the arm64 worker: succeeded in {time.monotonic() - started:.1f} s")
        state = self.call("GET", f"{EXPORTS}/{export_id}").json()
        csv = self.call("GET", f"{EXPORTS}/{export_id}/download")
        self.assertEqual(csv.status, 200)
        self.assertIn(name, csv.body.decode())
        self.assertEqual(csv.body.count(b"\r\n") - 1, state["rows"])  # less the header

    def test_5_a_graceful_stop_exits_0(self) -> None:
        # Last by name: it stops the services the others talk to.
        stopping = ("app", "worker")
        started = time.monotonic()
        # Emulated, a process in the middle of an import answers SIGTERM late: more time than
        # the production grace (make smoke proves that one).
        compose("stop", "--timeout", "180", *stopping, timeout=EMULATED_TIMEOUT)
        report(f"arm64 app and worker stopped in {time.monotonic() - started:.1f} s")
        for service in stopping:
            state = inspect("container", container_of(service))["State"]
            self.assertEqual(state["ExitCode"], 0, f"{service}: {state}")
            self.assertFalse(state["OOMKilled"], service)


def http_request_with_headers(url: str, headers: dict[str, str]) -> int:
    """A GET's status with request headers of the caller's (If-None-Match)."""
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http only
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


if __name__ == "__main__":
    unittest.main()
