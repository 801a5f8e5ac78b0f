"""Small helpers around the docker CLI and HTTP, shared by the container checks."""

import hashlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
IMAGE = os.environ.get("APP_IMAGE", "fastapi-starter:local")


def first_key_secret(key_file: str) -> str:
    """The secret of the first key in a key file (ID:SCOPE:SECRET, comma-separated): what a
    client sends in X-API-Key. `make config` makes that first key one of scope write."""
    first = key_file.split(",", 1)[0].strip()
    return first.split(":", 2)[2]


def docker(
    *args: str, check: bool = True, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a docker CLI command; on failure, the error says what docker printed. ``env`` adds
    variables to its environment (``exec -e NAME`` passes one on without putting it on argv)."""
    result = subprocess.run(  # noqa: S603 - fixed program, arguments from the tests
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **env} if env else None,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def compose_stack(
    project: str,
    *args: str,
    timeout: float = 180,
    check: bool = True,
    env: dict[str, str] | None = None,
    extra_files: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """docker compose on compose.yml alone (the production shape) under a project of its own,
    with its own edge network (subnet_for), plus extra_files (paths from the project's root)."""
    os.environ["EDGE_SUBNET"] = subnet_for(project)
    files = [
        arg
        for name in ("compose.yml", *extra_files)
        for arg in ("--file", str(PROJECT_ROOT / name))
    ]
    return docker(
        "compose", "--project-name", project, *files, *args, timeout=timeout, check=check, env=env
    )


def subnet_for(project: str) -> str:
    """The edge network's subnet of a stack: scripts/subnet's, so two stacks never collide."""
    digest = hashlib.sha256(project.encode()).hexdigest()
    return f"10.{int(digest[0:2], 16) % 128 + 100}.{int(digest[2:4], 16)}.0/24"


def inspect(kind: str, name: str) -> Any:
    return json.loads(docker(kind, "inspect", name).stdout)[0]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    method: str, url: str, body: Any = None, api_key: str | None = None, timeout: float = 5
) -> Reply:
    """An HTTP request that returns error statuses instead of raising them."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if api_key is not None:
        headers["X-API-Key"] = api_key
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http only
            return Reply(
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as error:
        return Reply(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def http_get(url: str, timeout: float = 5) -> Reply:
    return http_request("GET", url, timeout=timeout)


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2
) -> float:
    """Poll until the condition holds; return how long it took, or fail naming what was awaited."""
    started = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - started
        except (OSError, urllib.error.URLError):
            pass  # not up yet
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def health_status(container: str) -> str:
    state = inspect("container", container)["State"]
    return str(state.get("Health", {}).get("Status", "none"))


def published_url(container: str, port: str = "8000/tcp") -> str:
    binding = inspect("container", container)["NetworkSettings"]["Ports"][port][0]
    host = binding["HostIp"] if binding["HostIp"] not in ("", "0.0.0.0") else "127.0.0.1"  # noqa: S104
    return f"http://{host}:{binding['HostPort']}"


MB = 1000 * 1000
IMAGE_SIZE_LIMIT = 200 * MB


def image_size(image: str) -> tuple[int, int]:
    """An image's size in bytes, and the part the project's layers add: those of its last
    stage, down to the first (useradd), above the base's own history."""
    total = int(inspect("image", image)["Size"])
    history = docker(
        "history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", image, "--human=false"
    )
    ours = 0
    for line in history.stdout.splitlines():
        size, created_by = line.split("\t", 1)
        ours += int(size)
        if "useradd" in created_by:  # the first instruction of the runtime stage
            break
    return total, ours


def report(line: str) -> None:
    """Measured figures go to stderr, next to unittest's own output."""
    print(f"    [measured] {line}", flush=True)
