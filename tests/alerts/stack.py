"""The alerts stack: compose.yml with its observability profile (Prometheus with the project's
rules), its own project and ports, and Prometheus' HTTP API.

Prometheus scrapes and evaluates every second here, and reads the project's rules with every
duration divided by TIME_SCALE: each `for:` and each range (`[5m]` is `[20s]`), nothing else.
The expressions, thresholds and labels are alerts.yml's own; the durations themselves are
proven by the unit tests (`promtool test rules`, make lint-deploy). Without the division, the
job-failure alert alone would need 15 minutes of failing jobs."""

import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

from tests.chaos import stack as chaos
from tests.container.docker import PROJECT_ROOT, compose_stack, http_get, subnet_for, wait_for

PROJECT = os.environ.get("ALERTS_PROJECT", "fastapi-starter-alerts")
HOST = "127.0.0.1"
# Not chaos' (18001, 18003) nor bench's (18002): the stacks can run side by side.
APP_PORT = int(os.environ.get("ALERTS_APP_PORT", "18011"))
EDGE_PORT = int(os.environ.get("ALERTS_EDGE_PORT", "18012"))
PROMETHEUS_PORT = int(os.environ.get("ALERTS_PROMETHEUS_PORT", "18013"))
APP_URL = f"http://{HOST}:{APP_PORT}"
PROMETHEUS_URL = f"http://{HOST}:{PROMETHEUS_PORT}"

RULES = PROJECT_ROOT / "deploy" / "observability" / "alerts.yml"
PROMETHEUS_CONFIG = PROJECT_ROOT / "deploy" / "observability" / "prometheus.yml"
SCRAPE_SECONDS = 1
EVALUATION_SECONDS = 1
TIME_SCALE = int(os.environ.get("ALERTS_TIME_SCALE", "15"))

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")


def seconds(duration: str) -> float:
    parts = DURATION.findall(duration)
    assert "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    return sum(int(n) * UNITS[u] for n, u in parts)


def scaled(duration: str) -> str:
    """A duration divided by TIME_SCALE, in whole seconds; never under 4 scrapes."""
    return f"{max(round(seconds(duration) / TIME_SCALE), 4 * SCRAPE_SECONDS)}s"


def scaled_rules(text: str) -> str:
    text = re.sub(r"\[(\d+(?:ms|s|m|h|d)+)\]", lambda m: f"[{scaled(m.group(1))}]", text)
    return re.sub(r"^(\s*for: )(\S+)$", lambda m: m.group(1) + scaled(m.group(2)), text, flags=re.M)


def fast_config(text: str) -> str:
    """The profile's configuration, scraping, evaluating and resolving names every second."""
    keys = "scrape_interval|evaluation_interval|refresh_interval|scrape_timeout"
    return re.sub(rf"^(\s*(?:{keys}): )\S+$", rf"\g<1>{SCRAPE_SECONDS}s", text, flags=re.M)


def for_seconds(rules_text: str) -> dict[str, float]:
    """Each alert's `for:`, in seconds, from a rule file."""
    fors: dict[str, float] = {}
    alert = None
    for line in rules_text.splitlines():
        if match := re.match(r"^\s*- alert: (\S+)$", line):
            alert = match.group(1)
        elif (match := re.match(r"^\s*for: (\S+)$", line)) and alert:
            fors[alert] = seconds(match.group(1))
    return fors


class Configuration:
    """The scaled rules and the fast configuration, in a directory Prometheus (nobody) reads."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="alerts-"))
        self.directory.chmod(0o755)
        self.rules = scaled_rules(RULES.read_text())
        self.fors = for_seconds(self.rules)
        for name, text in (
            ("alerts.yml", self.rules),
            ("prometheus.yml", fast_config(PROMETHEUS_CONFIG.read_text())),
        ):
            (self.directory / name).write_text(text)
            (self.directory / name).chmod(0o644)

    def environment(self) -> dict[str, str]:
        return {
            **chaos.STACK_ENVIRONMENT,
            "APP_PORT": str(APP_PORT),
            "EDGE_PORT": str(EDGE_PORT),
            "PROMETHEUS_PORT": str(PROMETHEUS_PORT),
            "PROMETHEUS_CONFIG_FILE": str(self.directory / "prometheus.yml"),
            "PROMETHEUS_RULES_FILE": str(self.directory / "alerts.yml"),
        }

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


CONFIGURATION: Configuration | None = None


def configure() -> Configuration:
    global CONFIGURATION  # noqa: PLW0603 - one per run, shared by the module's tests
    CONFIGURATION = CONFIGURATION or Configuration()
    return CONFIGURATION


EXTRA_FILES = ("tests/chaos/compose.chaos.yml", "tests/alerts/compose.alerts.yml")


def compose(
    *args: str, timeout: float = 180, check: bool = True
) -> subprocess.CompletedProcess[str]:
    os.environ.update(configure().environment())
    return compose_stack(
        PROJECT,
        "--profile",
        "observability",
        *args,
        timeout=timeout,
        check=check,
        extra_files=EXTRA_FILES,
    )


def compose_in_background(*args: str) -> "subprocess.Popen[str]":
    """The same, not waited for: its output (stdout and stderr) from communicate()."""
    os.environ.update(configure().environment())
    os.environ["EDGE_SUBNET"] = subnet_for(PROJECT)
    files = [
        a for name in ("compose.yml", *EXTRA_FILES) for a in ("--file", str(PROJECT_ROOT / name))
    ]
    return subprocess.Popen(  # noqa: S603 - fixed program, the suite's arguments
        [
            "docker",
            "compose",
            "--project-name",
            PROJECT,
            *files,
            "--profile",
            "observability",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def up() -> None:
    compose("up", "--detach", "--wait", "--no-build", timeout=300)


def down() -> None:
    compose("down", "--volumes", "--remove-orphans", check=False, timeout=300)
    if CONFIGURATION is not None:
        CONFIGURATION.remove()


def api(path: str) -> Any:
    reply = http_get(f"{PROMETHEUS_URL}{path}", timeout=5)
    assert reply.status == 200, (path, reply.status, reply.body[:300])
    return reply.json()["data"]


def query(expr: str) -> list[dict[str, Any]]:
    """An instant query's result: the series of the vector, empty when none."""
    data = api(f"/api/v1/query?{urllib.parse.urlencode({'query': expr})}")
    result: list[dict[str, Any]] = data["result"]
    return result


def alerts() -> list[dict[str, Any]]:
    """The alerts pending or firing now (a resolved one is no longer listed)."""
    found: list[dict[str, Any]] = api("/api/v1/alerts")["alerts"]
    return found


def states() -> dict[str, str]:
    """alertname: its state, firing over pending when several series differ."""
    result: dict[str, str] = {}
    for alert in alerts():
        name = alert["labels"]["alertname"]
        if result.get(name) != "firing":
            result[name] = alert["state"]
    return result


def active_targets(job: str) -> list[dict[str, Any]]:
    targets = api("/api/v1/targets?state=active")["activeTargets"]
    return [t for t in targets if t["labels"].get("job") == job]


def wait_ready() -> float:
    return wait_for(
        lambda: http_get(f"{PROMETHEUS_URL}/-/ready").status == 200, 60, "Prometheus ready"
    )


def wait_state(alert: str, state: str | None, timeout: float) -> float:
    """Seconds until the alert is in the state (None: neither pending nor firing)."""
    return wait_for(lambda: states().get(alert) == state, timeout, f"{alert} {state}", 0.25)


def elapsed_since(started: float) -> float:
    return time.monotonic() - started
