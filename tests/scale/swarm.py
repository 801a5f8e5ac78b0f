"""The Swarm stack under test (deploy/swarm/stack), the releases it rolls between, and the
clients the scenarios use: a steady load through the edge, and requests made inside a replica."""

import http.client
import json
import os
import subprocess
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.container.docker import (
    IMAGE,
    PROJECT_ROOT,
    docker,
    first_key_secret,
    http_request,
    report,
    wait_for,
)
from tests.container.load import Load, Outcome

STACK = os.environ.get("SWARM_STACK", "fastapi-starter-swarm")
PORT = int(os.environ.get("SWARM_PORT", "18090"))
HOST = "127.0.0.1"
URL = f"http://{HOST}:{PORT}"
ITEMS = "/api/v1/items"
RELEASE_CONTEXT = PROJECT_ROOT / "tests" / "scale" / "release"
REPLICAS = 3

# The stack as deploy/swarm/stack deploys it, with a rate limit the scenarios can reach on
# purpose and their steady load never does: the load's keyed requests stay under 30 a second,
# 1,800 a window, and the global-limit scenario spends one window's 2,000 at once.
RATE_LIMIT = 2000
STACK_ENVIRONMENT = {
    "SWARM_STACK": STACK,
    "SWARM_PORT": str(PORT),
    "APP_REPLICAS": str(REPLICAS),
    "RATE_LIMIT_REQUESTS": str(RATE_LIMIT),
    "RATE_LIMIT_WINDOW_SECONDS": "60",
    # The load comes from one address: the edge's per-client limits must not turn it into 429s.
    "EDGE_CLIENT_CONNECTIONS": "1000",
    "EDGE_CLIENT_RATE": "100000r/s",
    "EDGE_CLIENT_BURST": "100000",
}


@dataclass(frozen=True)
class Release:
    """An image of the app under a version of its own (tests/scale/release/Dockerfile)."""

    version: str
    target: str = "release"

    @property
    def image(self) -> str:
        return f"{STACK}:{self.version}"

    def build(self) -> None:
        docker(
            "build",
            "--quiet",
            "--target",
            self.target,
            "--build-arg",
            f"BASE_IMAGE={IMAGE}",
            "--build-arg",
            f"APP_VERSION={self.version}",
            "--tag",
            self.image,
            str(RELEASE_CONTEXT),
            timeout=300,
        )


def write_expand_migration() -> None:
    """The migration the next release carries, chained on the image's own head: a table that
    records when it ran (once, or the suite sees two rows) and a nullable column on items,
    which the replicas still on the old version neither read nor write."""
    head = docker("run", "--rm", "--entrypoint", "alembic", IMAGE, "heads").stdout.split()[0]
    (RELEASE_CONTEXT / "migration.py").write_text(
        f'''"""scale suite: an expand step (tests/scale)"""

import sqlalchemy as sa
from alembic import op

revision = "scale_expand"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scale_migration_runs",
        sa.Column("ran_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    op.execute("INSERT INTO scale_migration_runs DEFAULT VALUES")
    op.add_column("items", sa.Column("scale_note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("items", "scale_note")
    op.drop_table("scale_migration_runs")
'''
    )


@dataclass
class Deploy:
    returncode: int
    seconds: float
    output: str


def stack(command: str, image: str | None = None) -> Deploy:
    """deploy/swarm/stack up|down, as `make swarm-up`/`swarm-down` run it."""
    environment = {**os.environ, **STACK_ENVIRONMENT}
    if image is not None:
        environment["APP_IMAGE"] = image
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603 - the project's own script
        [str(PROJECT_ROOT / "deploy" / "swarm" / "stack"), command],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env=environment,
    )
    return Deploy(result.returncode, time.monotonic() - started, result.stdout + result.stderr)


def service(name: str) -> str:
    return f"{STACK}_{name}"


def containers(name: str) -> list[str]:
    """The running containers of one of the stack's services."""
    found = docker(
        "ps", "--quiet", "--filter", f"label=com.docker.swarm.service.name={service(name)}"
    )
    return found.stdout.split()


def healthy_replicas() -> list[str]:
    return [
        app
        for app in containers("app")
        if docker(
            "inspect", "--format", "{{.State.Health.Status}}", app, check=False
        ).stdout.strip()
        == "healthy"
    ]


def update_state() -> str:
    spec = docker(
        "service",
        "inspect",
        "--format",
        "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}",
        service("app"),
    )
    return spec.stdout.strip()


def image_of(container: str) -> str:
    return docker("inspect", "--format", "{{.Config.Image}}", container).stdout.strip()


def environment_of(name: str) -> dict[str, str]:
    """The environment one of the stack's services is deployed with."""
    spec = docker(
        "service",
        "inspect",
        "--format",
        "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
        service(name),
    )
    return dict(line.split("=", 1) for line in json.loads(spec.stdout))


def addresses(name: str) -> set[str]:
    """Every address the running containers of one of the stack's services have."""
    found: set[str] = set()
    for container in containers(name):
        networks = docker(
            "inspect",
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            container,
        )
        found.update(networks.stdout.split())
    return found


def psql(sql: str) -> str:
    """SQL as the database's superuser, through the db container's socket."""
    (db,) = containers("db")
    return docker(
        "exec",
        db,
        "sh",
        "-c",
        'psql -v ON_ERROR_STOP=1 -q -At -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$0"',
        sql,
    ).stdout.strip()


def api_key() -> str:
    return first_key_secret((PROJECT_ROOT / ".secrets" / "api_keys").read_text())


def create_item() -> str:
    """A new item's id."""
    reply = http_request("POST", f"{URL}{ITEMS}", item_body(), api_key())
    assert reply.status == 201, (reply.status, reply.body)
    return str(reply.json()["id"])


def item_body() -> dict[str, str]:
    return {"name": f"scale {uuid.uuid4()}", "price": "1.00"}


# Runs inside a replica: requests to its own server on loopback, not through the edge. Prints
# one JSON line per request: its status, its ETag (an item's version) and the body's "version"
# (the app's, on /health/*).
INSIDE = """
import json, sys, urllib.error, urllib.request
for path in sys.argv[1:]:
    request = urllib.request.Request("http://127.0.0.1:8000" + path,
                                     headers={"X-Request-ID": "suite-inside"})
    try:
        response = urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        response = error
    body = json.loads(response.read() or b"{}")
    print(json.dumps({"status": response.status, "etag": response.headers.get("ETag"),
                      "version": body.get("version")}))
"""


def inside(container: str, *paths: str) -> list[dict[str, Any]]:
    """GET each path from inside the replica (its loopback): that replica's own answer."""
    result = docker("exec", container, "python", "-c", INSIDE, *paths, timeout=30)
    return [json.loads(line) for line in result.stdout.splitlines()]


# Runs inside a replica: a POST whose body arrives over SECONDS, so the request is in flight
# (headers read, the handler waiting for its body) for that long. Prints the final status.
SLOW_POST = """
import json, socket, sys, time
key, seconds = sys.argv[1], float(sys.argv[2])
body = json.dumps({"name": "slow " + str(time.time()), "price": "1.00"}).encode()
conn = socket.create_connection(("127.0.0.1", 8000), timeout=60)
conn.sendall(b"POST /api/v1/items HTTP/1.1\\r\\nHost: app\\r\\nContent-Type: application/json\\r\\n"
             b"X-Request-ID: suite-slow\\r\\nX-API-Key: " + key.encode() +
             b"\\r\\nContent-Length: " + str(len(body)).encode() + b"\\r\\n\\r\\n")
step = seconds / len(body)
for byte in body:
    time.sleep(step)
    conn.sendall(bytes([byte]))
print(conn.recv(65536).split(b" ", 2)[1].decode())
"""


def start_slow_post(container: str, seconds: float) -> "subprocess.Popen[str]":
    return subprocess.Popen(  # noqa: S603 - fixed program
        ["docker", "exec", container, "python", "-c", SLOW_POST, api_key(), str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def log_lines(container: str) -> list[dict[str, Any]]:
    logs = docker("logs", container)
    return [
        json.loads(line)
        for line in (logs.stdout + logs.stderr).splitlines()
        if line.startswith("{")
    ]


def logged_at(line: dict[str, Any]) -> float:
    return datetime.fromisoformat(line["time"]).timestamp()


@dataclass
class Versions:
    """What /health/live said, and when (wall clock, to compare with the database's)."""

    seen: list[tuple[float, str]] = field(default_factory=list)

    def request(self, connection: http.client.HTTPConnection) -> int:
        connection.request("GET", "/health/live", headers={"Connection": "close"})
        response = connection.getresponse()
        body = response.read()
        if response.status == 200:
            self.seen.append((time.time(), json.loads(body)["version"]))
        return response.status

    def first(self, version: str) -> float:
        return min(at for at, seen in self.seen if seen == version)

    def distinct(self) -> list[str]:
        """The versions in the order they were first seen."""
        return list(dict.fromkeys(version for _, version in self.seen))


def read_item(path: str) -> Any:
    def request(connection: http.client.HTTPConnection) -> int:
        headers = {"X-API-Key": api_key(), "Connection": "close"}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status

    return request


def create_item_request(connection: http.client.HTTPConnection) -> int:
    # Writes are never retried by the edge (not idempotent): each one must land the first time.
    headers = {"Content-Type": "application/json", "X-API-Key": api_key(), "Connection": "close"}
    connection.request("POST", ITEMS, body=json.dumps(item_body()), headers=headers)
    response = connection.getresponse()
    response.read()
    return response.status


class EdgeLoad:
    """A steady load through the edge: liveness (unthrottled, and it names the version that
    answered), item reads and item creations (keyed, paced under the rate limit)."""

    def __init__(self, item_path: str, seconds: float = 600) -> None:
        self.versions = Versions()
        self.loads = [
            Load(self.versions.request, HOST, PORT, threads=2, seconds=seconds, pause=0.01),
            Load(read_item(item_path), HOST, PORT, threads=2, seconds=seconds, pause=0.1),
            Load(create_item_request, HOST, PORT, threads=1, seconds=seconds, pause=0.25),
        ]
        self._stack = ExitStack()

    def __enter__(self) -> "EdgeLoad":
        for load in self.loads:
            self._stack.enter_context(load)
        return self

    def __exit__(self, *_: object) -> None:
        self._stack.close()

    def outcomes(self) -> list[Outcome]:
        return [outcome for load in self.loads for outcome in load.outcomes]

    def failed(self) -> list[Outcome]:
        return [outcome for load in self.loads for outcome in load.failed()]

    def summary(self) -> str:
        kinds = ("liveness", "reads", "creations")
        counts = ", ".join(
            f"{len(load.outcomes)} {kind} ({len(load.failed())} failed)"
            for kind, load in zip(kinds, self.loads, strict=True)
        )
        return f"{counts}; {len(self.failed())} failed of {len(self.outcomes())}"


def wait_for_replicas(without: frozenset[str] = frozenset(), timeout: float = 120) -> float:
    """Until REPLICAS healthy replicas run, none of them one of ``without``."""
    return wait_for(
        lambda: (
            len(set(healthy_replicas()) - without) == REPLICAS
            and not (set(containers("app")) & without)
        ),
        timeout,
        f"{REPLICAS} healthy replicas",
        interval=0.5,
    )


def remove_images(*releases: Release) -> None:
    for release in releases:
        docker("image", "rm", "--force", release.image, check=False)
    (RELEASE_CONTEXT / "migration.py").unlink(missing_ok=True)


def report_deploy(what: str, deploy: Deploy) -> None:
    report(f"{what}: {deploy.seconds:.1f} s (exit {deploy.returncode})")
