"""The chaos stack (compose.yml, its own project and port) and the clients that drive it.

compose.chaos.yml adds the app's own published port and mounts the test-only jobs (tests/jobs)
into the app and the worker, which runs them beside the production tasks."""

import functools
import http.client
import json
import os
import socket
import subprocess
import uuid
from collections.abc import Callable
from typing import Any

from tests.container import services
from tests.container.docker import (
    PROJECT_ROOT,
    Reply,
    compose_stack,
    docker,
    first_key_secret,
    http_request,
    inspect,
    wait_for,
)
from tests.container.load import Load as HostLoad

PROJECT = os.environ.get("CHAOS_PROJECT", "fastapi-starter-chaos")
HOST = "127.0.0.1"
PORT = int(os.environ.get("CHAOS_PORT", "18001"))
URL = f"http://{HOST}:{PORT}"
# The edge's published port: the scenarios about what the edge alone bounds (the request line,
# the headers, slow clients) go through it. Not bench's 18002, so both stacks can run at once.
EDGE_PORT = int(os.environ.get("CHAOS_EDGE_PORT", "18003"))
EDGE_URL = f"http://{HOST}:{EDGE_PORT}"
# Seconds the edge gives a connection to send its request headers (the template's default: 10).
EDGE_HEADER_TIMEOUT_SECONDS = 3
ITEMS = "/api/v1/items"
IN_CI = os.environ.get("CI", "").lower() == "true"

# The stack as production runs it, but with a rate limit no scenario's load can reach: the
# limiter itself is proven by the unit tests; here it must not turn load into 429s.
# The OpenAPI document is on, for schemathesis; the edge gives headers 3 s, so the slow-client
# scenario sees them dropped without waiting the default 10 s.
STACK_ENVIRONMENT = {
    # Most scenarios prove the app's own behaviour, so they talk to the app directly
    # (compose.chaos.yml publishes it); those about the edge's limits use its port.
    "APP_PORT": str(PORT),
    "EDGE_PORT": str(EDGE_PORT),
    "EDGE_CLIENT_HEADER_TIMEOUT": f"{EDGE_HEADER_TIMEOUT_SECONDS}s",
    "RATE_LIMIT_REQUESTS": "100000000",
    "DOCS_ENABLED": "true",
    # A killed worker's job is claimed by another after 5 s, and exports run in small batches,
    # so a job is long enough to be interrupted and short enough for the suite.
    "WORKER_RECLAIM_IDLE_SECONDS": "5",
    "EXPORT_BATCH_ROWS": "100",
    # Each scenario needs an export of its own, not the previous one's result reused.
    "EXPORT_REUSE_SECONDS": "0",
}


def compose(
    *args: str, timeout: float = 180, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    os.environ.update(STACK_ENVIRONMENT)
    return compose_stack(
        PROJECT,
        *args,
        timeout=timeout,
        check=check,
        env=env,
        extra_files=("tests/chaos/compose.chaos.yml",),
    )


def container(service: str) -> str:
    return compose("ps", "--all", "--quiet", service).stdout.strip()


def app_state() -> dict[str, Any]:
    state: dict[str, Any] = inspect("container", container("app"))["State"]
    return state


def health() -> str:
    return str(app_state().get("Health", {}).get("Status", "none"))


def up() -> None:
    compose("up", "--detach", "--wait", "--no-build")


@functools.cache
def api_key() -> str:
    return first_key_secret((PROJECT_ROOT / ".secrets" / "api_keys").read_text())


def call(
    method: str, path: str, body: Any = None, *, key: bool = True, timeout: float = 5
) -> Reply:
    return http_request(method, f"{URL}{path}", body, api_key() if key else None, timeout=timeout)


def create_item(name: str | None = None, price: str = "1.00") -> dict[str, Any]:
    reply = call("POST", ITEMS, {"name": name or f"chaos {uuid.uuid4()}", "price": price})
    assert reply.status == 201, (reply.status, reply.body)
    item: dict[str, Any] = reply.json()
    return item


def ready_checks() -> tuple[int, dict[str, str]]:
    reply = call("GET", "/health/ready", key=False)
    return reply.status, {
        name: results[0]["status"] for name, results in reply.json()["checks"].items()
    }


@functools.cache
def health_paths() -> list[dict[str, Any]]:
    """Each platform's health checks of the app, read from deploy/ and compose.yml in the dev
    image (tests/deploy/health_paths.py renders the Kubernetes overlays with its kubectl)."""
    run = docker(
        "run",
        "--rm",
        "--network",
        "none",
        "--volume",
        f"{PROJECT_ROOT}:/src:ro",
        "--workdir",
        "/src",
        "--env",
        "HOME=/tmp",
        os.environ.get("DEV_IMAGE", "fastapi-starter:dev"),
        "python",
        "tests/deploy/health_paths.py",
    )
    found: list[dict[str, Any]] = json.loads(run.stdout)
    assert found, "no health check found in deploy/"
    return found


def wait_ready(timeout: float = 30) -> float:
    return wait_for(lambda: ready_checks()[0] == 200, timeout, "ready to pass")


def psql(sql: str) -> str:
    """Runs SQL in the db container as its superuser (the socket); returns unaligned output."""
    result = compose(
        "exec",
        "-T",
        "db",
        "sh",
        "-c",
        'psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -At -c "$0"',
        sql,
    )
    return result.stdout.strip()


def redis_cli(*args: str) -> str:
    """redis-cli in the redis container, as its admin user."""
    return services.redis_cli(compose, *args)


def queue_cli(*args: str) -> str:
    """redis-cli in the queue store, as its admin user."""
    return services.redis_cli(compose, *args, service="queue")


def app_log_lines(since: str) -> list[str]:
    logs = docker("logs", "--since", since, container("app"))
    return [line for line in (logs.stdout + logs.stderr).splitlines() if line.strip()]


def raw_request(request: bytes, timeout: float = 5) -> tuple[int, bytes]:
    """Sends bytes as they are (no client validation), returns the status and the raw answer."""
    with socket.create_connection((HOST, PORT), timeout=timeout) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    return int(status_line.split()[1]), answer


# The load of the chaos scenarios: against this stack's app.
Load = functools.partial(HostLoad, host=HOST, port=PORT)


def get(path: str) -> Callable[[http.client.HTTPConnection], int]:
    def request(connection: http.client.HTTPConnection) -> int:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()  # a complete body, or an exception
        return response.status

    return request


def post_item() -> Callable[[http.client.HTTPConnection], int]:
    def request(connection: http.client.HTTPConnection) -> int:
        body = json.dumps({"name": f"load {uuid.uuid4()}", "price": "1.00"})
        headers = {
            "Content-Type": "application/json",
            "X-API-Key": api_key(),
            "Connection": "close",
        }
        connection.request("POST", ITEMS, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status

    return request
