"""The production image keeps the production rules (docs/testing.md)."""

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import uuid
from typing import Any

from tests.container.docker import (
    IMAGE,
    IMAGE_SIZE_LIMIT,
    MB,
    PROJECT_ROOT,
    docker,
    health_status,
    http_get,
    image_size,
    inspect,
    published_url,
    report,
    wait_for,
)

APP_UID = "10001"


def run_in_image(*command: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    options = ["--user", user] if user else []
    return docker(
        "run", "--rm", *options, "--entrypoint", command[0], IMAGE, *command[1:], check=False
    )


class ImageConfiguration(unittest.TestCase):
    config: dict[str, Any]

    @classmethod
    def setUpClass(cls) -> None:
        cls.config = inspect("image", IMAGE)["Config"]

    def test_base_image_is_pinned_by_digest(self) -> None:
        dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
        default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
        assert default, "the Dockerfile declares no PYTHON_IMAGE default"
        self.assertRegex(default.group(1), r"^python:3\.13[\w.-]*@sha256:[0-9a-f]{64}$")
        # Every stage starts from the pin, or from an earlier stage that did.
        stages: set[str] = set()
        for base, name in re.findall(r"^FROM (\S+) AS (\S+)", dockerfile, re.MULTILINE):
            self.assertIn(base, {"${PYTHON_IMAGE}", *stages})
            stages.add(name)
        self.assertEqual(len(stages), len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)))
        self.assertNotRegex(dockerfile, r"(?m)^#\s*syntax=", "no frontend to fetch")

    def test_python_writes_no_bytecode_and_does_not_buffer_output(self) -> None:
        self.assertIn("PYTHONDONTWRITEBYTECODE=1", self.config["Env"])
        self.assertIn("PYTHONUNBUFFERED=1", self.config["Env"])

    def test_cmd_is_exec_form_gunicorn_with_uvicorn_workers(self) -> None:
        self.assertEqual(self.config["Cmd"][0], "gunicorn", "exec form: gunicorn is PID 1")
        self.assertIsNone(self.config["Entrypoint"], "no shell wrapper in front of it")
        # gunicorn.conf.py is read from the working directory, as CMD does.
        # The worker class is uvicorn's, with uvicorn's public settings (app/server.py).
        conf = run_in_image(
            "python",
            "-c",
            "import runpy, pydoc, uvicorn_worker; "
            "name = runpy.run_path('gunicorn.conf.py')['worker_class']; "
            "print(name, issubclass(pydoc.locate(name), uvicorn_worker.UvicornWorker))",
        )
        self.assertEqual(conf.stdout.strip(), "app.server.ServerProcess True")

    def test_each_server_process_settles_its_garbage_collection_once_loaded(self) -> None:
        # What gunicorn runs in a server process once the app is loaded (app/server.py).
        settled = run_in_image(
            "python",
            "-c",
            "import gc, runpy; "
            "runpy.run_path('gunicorn.conf.py')['post_worker_init'](None); "
            "print(gc.get_freeze_count() > 0, gc.get_threshold())",
        )
        self.assertEqual(settled.stdout.strip(), "True (20000, 20, 20)", settled.stderr)

    def test_healthcheck_probes_liveness_without_curl(self) -> None:
        probe = " ".join(self.config["Healthcheck"]["Test"])
        self.assertIn("/health/live", probe)
        self.assertNotIn("curl", probe)
        self.assertNotEqual(
            run_in_image("sh", "-c", "command -v curl || command -v wget").returncode, 0
        )

    def test_oci_labels_carry_source_revision_version_and_date(self) -> None:
        labels = self.config["Labels"]
        for key in ("source", "revision", "version", "created"):
            self.assertTrue(labels.get(f"org.opencontainers.image.{key}"), key)
        self.assertEqual(self.config["ExposedPorts"], {"8000/tcp": {}})

    def test_image_is_under_200_mb(self) -> None:
        total, ours = image_size(IMAGE)
        architecture = inspect("image", IMAGE)["Architecture"]
        report(
            f"image {IMAGE} ({architecture}): {total / MB:.1f} MB in all, "
            f"{ours / MB:.1f} MB added by the project"
        )
        self.assertLess(total, IMAGE_SIZE_LIMIT)


class RuntimeUserAndFiles(unittest.TestCase):
    def test_runs_as_a_non_root_system_user(self) -> None:
        self.assertEqual(inspect("image", IMAGE)["Config"]["User"], f"{APP_UID}:{APP_UID}")
        ids = run_in_image("id", "-u").stdout.strip()
        self.assertEqual(ids, APP_UID)
        shell = run_in_image("getent", "passwd", "app").stdout.strip().rsplit(":", 1)[-1]
        self.assertEqual(shell, "/usr/sbin/nologin")

    def test_the_user_cannot_change_the_code_or_the_virtualenv(self) -> None:
        for path in (
            "/app/app/main.py",
            "/app/app/new.py",
            "/opt/venv/lib/new.py",
            "/opt/venv/bin/gunicorn",
        ):
            with self.subTest(path=path):
                attempt = run_in_image("python", "-c", f"open({path!r}, 'a')")
                self.assertNotEqual(attempt.returncode, 0)
                self.assertIn("PermissionError", attempt.stderr)

    def test_no_build_tools_or_caches_at_run_time(self) -> None:
        for tool in ("gcc", "cc", "uv", "make"):
            with self.subTest(tool=tool):
                self.assertNotEqual(run_in_image("sh", "-c", f"command -v {tool}").returncode, 0)
        caches = run_in_image(
            "sh", "-c", "ls -d /root/.cache /root/.cache/uv 2>/dev/null", user="0"
        )
        self.assertEqual(caches.stdout.strip(), "")

    def test_the_virtualenv_carries_nothing_the_runtime_never_runs(self) -> None:
        # No bytecode (each process compiles what it imports, in memory: ADR 0023), no C, C++,
        # Cython or protobuf sources, no type stubs, no test suites.
        found = run_in_image(
            "find", "/opt/venv", "(", "-name", "__pycache__", "-o", "-name", "*.pyc",
            "-o", "-name", "*.c", "-o", "-name", "*.cpp", "-o", "-name", "*.pyx",
            "-o", "-name", "*.pyi", "-o", "-name", "*.proto", "-o", "-type", "d", "-name", "tests",
            ")", "-print",
        )  # fmt: skip
        self.assertEqual(found.stdout.split(), [])

    def test_only_the_code_is_copied_not_git_env_tests_or_caches(self) -> None:
        listing = run_in_image("find", "/app", "-mindepth", "1").stdout.splitlines()
        unwanted = [
            p
            for p in listing
            if re.search(r"/(\.git|\.env|\.secrets|tests|__pycache__|\.venv)(/|$)", p)
        ]
        self.assertEqual(unwanted, [])
        self.assertIn("/app/app/main.py", listing)
        self.assertIn("/app/migrations/env.py", listing)


class WorkerCount(unittest.TestCase):
    def booted_workers(self, *options: str) -> int:
        name = f"smoke-workers-{uuid.uuid4().hex[:8]}"
        docker("run", "-d", "--name", name, "--read-only", "--tmpfs", "/tmp", *options, IMAGE)
        try:
            wait_for(
                lambda: docker("logs", name).stdout.count("Booting worker") >= 1, 30, "a worker"
            )
            time.sleep(1.5)  # let every worker announce itself
            return docker("logs", name).stdout.count("Booting worker")
        finally:
            docker("rm", "-f", "--volumes", name)

    def test_defaults_to_the_cpus_the_container_may_use(self) -> None:
        self.assertEqual(self.booted_workers("--cpus", "1"), 1)

    def test_web_concurrency_sets_it(self) -> None:
        self.assertEqual(self.booted_workers("--cpus", "1", "-e", "WEB_CONCURRENCY=3"), 3)


class ReadOnlyRunAndGracefulStop(unittest.TestCase):
    """The container runs on a read-only root with only /tmp writable, and stops cleanly."""

    def setUp(self) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.network = f"smoke-net-{suffix}"
        self.app = f"smoke-app-{suffix}"
        self.hung = f"smoke-hung-{suffix}"
        docker("network", "create", self.network)
        self.addCleanup(docker, "network", "rm", self.network, check=False)
        # A "Redis" that accepts connections and never answers: it holds a readiness request in
        # flight for the check's whole deadline, long enough to send SIGTERM in the middle of it.
        docker(
            "run",
            "-d",
            "--name",
            self.hung,
            "--network",
            self.network,
            "--entrypoint",
            "python",
            IMAGE,
            "-c",
            "import socket, time\ns = socket.create_server(('', 6379))\n"
            "conns = []\nwhile True: conns.append(s.accept())",
        )
        self.addCleanup(docker, "rm", "-f", "--volumes", self.hung, check=False)
        started = time.monotonic()
        docker(
            "run",
            "-d",
            "--name",
            self.app,
            "--network",
            self.network,
            "--read-only",
            "--tmpfs",
            "/tmp",
            "-p",
            "127.0.0.1::8000",
            "-e",
            f"REDIS_URL=redis://{self.hung}:6379/0",
            "-e",
            "HEALTH_CHECK_TIMEOUT_SECONDS=1",
            IMAGE,
        )
        self.addCleanup(docker, "rm", "-f", "--volumes", self.app, check=False)
        wait_for(lambda: health_status(self.app) == "healthy", 60, "healthy")
        self.healthy_after = time.monotonic() - started
        self.url = published_url(self.app)

    def test_becomes_healthy_on_a_read_only_root_filesystem(self) -> None:
        report(f"start to healthy (read-only, no dependencies): {self.healthy_after:.1f} s")
        self.assertTrue(inspect("container", self.app)["HostConfig"]["ReadonlyRootfs"])
        self.assertEqual(http_get(f"{self.url}/health/live").status, 200)

    def test_sigterm_lets_the_request_in_flight_finish_and_exits_0_quickly(self) -> None:
        replies = []
        request = threading.Thread(
            target=lambda: replies.append(http_get(f"{self.url}/health/ready", timeout=10))
        )
        request.start()
        time.sleep(0.4)  # the readiness check is now waiting on the hung "Redis"
        started = time.monotonic()
        docker("stop", self.app)
        stop_seconds = time.monotonic() - started
        request.join(10)

        report(f"docker stop with a request in flight: {stop_seconds:.2f} s")
        self.assertEqual(len(replies), 1, "the in-flight request got no response")
        self.assertEqual(replies[0].status, 503)
        # No Postgres here: 503 for it; the hung Redis is only a warning, cut at its deadline.
        self.assertEqual(replies[0].json()["checks"]["redis:connection"][0]["status"], "warn")
        self.assertEqual(inspect("container", self.app)["State"]["ExitCode"], 0)
        # The drain first (DRAIN_SECONDS, 5 s: readiness 503, still serving), then the stop.
        self.assertLess(stop_seconds, 5 + 5)


class LayerCaching(unittest.TestCase):
    def test_a_code_only_change_reuses_the_dependency_layer(self) -> None:
        with tempfile.TemporaryDirectory() as context:
            shutil.copytree(
                PROJECT_ROOT,
                context,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", ".*_cache"),
            )
            with open(f"{context}/app/main.py", "a") as main:
                main.write(f"\n# code-only change {uuid.uuid4()}\n")
            args = ["build", "--progress=plain", "--target", "runtime", "-t", f"{IMAGE}-cachecheck"]
            if os.environ.get("PYTHON_IMAGE"):
                args += ["--build-arg", f"PYTHON_IMAGE={os.environ['PYTHON_IMAGE']}"]
            started = time.monotonic()
            build = docker(*args, context, timeout=600)
            seconds = time.monotonic() - started
        self.addCleanup(docker, "rmi", f"{IMAGE}-cachecheck", check=False)
        log = build.stderr
        sync_step = re.search(
            r"#(\d+) \[build \d/\d\] RUN --mount=type=cache.*uv sync --locked --no-dev", log
        )
        assert sync_step, log
        self.assertRegex(log, rf"#{sync_step.group(1)} CACHED")
        self.assertNotRegex(log, r"#\d+ \[runtime \d+/\d+\] COPY app \./app\n#\d+ CACHED")
        report(f"code-only rebuild: {seconds:.1f} s, dependency layer reused")


if __name__ == "__main__":
    unittest.main()
