"""The alert rules in a real Prometheus, on real faults (`make alerts`): the compose.yml stack
with its observability profile, Prometheus scraping every replica every second and evaluating
alerts.yml with every duration divided by TIME_SCALE (stack.py). Each alert is read from
Prometheus' /api/v1/alerts, and the time it took is reported.

Under Compose nothing polls /health/ready (the edge has no active health checks): here the
suite probes it every half second, as Kubernetes, an ALB or Cloud Run does in production."""

import threading
import time
import unittest
import urllib.error

from tests.alerts import stack
from tests.alerts.stack import APP_URL, EVALUATION_SECONDS, SCRAPE_SECONDS, compose
from tests.container.docker import http_get, report, wait_for

# What may pass between the fault and the alert firing beyond its `for:`: two scrapes (rate()
# needs two samples of the new series), the evaluation that notices, and this suite's polling.
SLACK_SECONDS = 2 * SCRAPE_SECONDS + EVALUATION_SECONDS + 1
FAILED_JOBS = 'jobs_total{task="tests.failing", outcome="failed"}'


def setUpModule() -> None:
    started = time.monotonic()
    try:
        stack.up()
        stack.wait_ready()
        wait_for(
            lambda: all(
                stack.active_targets(job)
                and all(t["health"] == "up" for t in stack.active_targets(job))
                for job in ("app", "worker")
            ),
            60,
            "every app and worker target up",
        )
    except BaseException:
        stack.down()
        raise
    report(
        f"stack with Prometheus up and every target scraped in {time.monotonic() - started:.1f} s"
    )


def tearDownModule() -> None:
    stack.down()


class Traffic:
    """Client requests and an orchestrator's readiness probes, every half second, in a thread;
    remembers when each first answered 5xx."""

    def __init__(self) -> None:
        self.first_5xx: dict[str, float] = {}
        self.statuses: dict[str, list[int]] = {"/health/ready": [], "/api/v1/items": []}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self) -> "Traffic":
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)

    def run(self) -> None:
        while not self.stopping.is_set():
            for path, statuses in self.statuses.items():
                try:
                    status = http_get(f"{APP_URL}{path}", timeout=3).status
                except (OSError, urllib.error.URLError):
                    status = 599
                statuses.append(status)
                if status >= 500:
                    self.first_5xx.setdefault(path, time.monotonic())
            self.stopping.wait(0.5)


class AlertsOnRealFaults(unittest.TestCase):
    """In order (unittest runs the methods by name): quiet when healthy, then each fault."""

    def assert_fires_in_time(self, alert: str, since: float) -> float:
        """Waits until the alert fires; returns seconds since `since`, checked against `for:`."""
        bound = stack.configure().fors[alert] + SLACK_SECONDS
        wait_for(lambda: stack.states().get(alert) == "firing", bound + 30, f"{alert} firing", 0.25)
        took = stack.elapsed_since(since)
        self.assertLessEqual(took, bound, f"{alert} fired {took:.1f} s after its fault")
        return took

    def test_0_a_healthy_stack_is_quiet_and_every_replica_is_scraped(self) -> None:
        # Once every target has been scraped and the rules evaluated on what it said.
        wait_for(lambda: stack.alerts() == [], 15, "no alert pending or firing")
        with Traffic() as traffic:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                self.assertEqual(
                    stack.alerts(), [], "an alert is pending or firing on a healthy stack"
                )
                time.sleep(0.5)
        self.assertFalse(traffic.first_5xx, "a request failed on the healthy stack")
        # --scale is followed: a second worker is scraped, found through Docker's DNS.
        compose("up", "--detach", "--wait", "--no-build", "--scale", "worker=2", "worker")
        try:
            took = wait_for(
                lambda: sum(t["health"] == "up" for t in stack.active_targets("worker")) == 2,
                30,
                "two worker targets up",
            )
            report(f"a second worker scraped {took:.1f} s after it was healthy (DNS discovery)")
        finally:
            compose("up", "--detach", "--wait", "--no-build", "--scale", "worker=1", "worker")
        wait_for(lambda: len(stack.active_targets("worker")) == 1, 30, "one worker target again")
        self.assertEqual(stack.alerts(), [])

    def test_1_postgres_stopped_fires_readiness_and_error_rate_then_both_resolve(self) -> None:
        with Traffic() as traffic:
            stopped_at = time.monotonic()
            compose("stop", "db")
            try:
                wait_for(lambda: len(traffic.first_5xx) == 2, 30, "503s from the app")
                readiness = self.assert_fires_in_time(
                    "ReadinessFailing", traffic.first_5xx["/health/ready"]
                )
                errors = self.assert_fires_in_time(
                    "HighErrorRate", traffic.first_5xx["/api/v1/items"]
                )
                fors = stack.configure().fors
                report(
                    f"Postgres stopped: ReadinessFailing firing {readiness:.1f} s after the first "
                    f"503 of /health/ready (for: {fors['ReadinessFailing']:.0f} s), "
                    f"{stack.elapsed_since(stopped_at):.1f} s after the stop"
                )
                report(
                    f"a burst of 503s on /api/v1/items: HighErrorRate firing {errors:.1f} s after "
                    f"the first (for: {stack.configure().fors['HighErrorRate']:.0f} s)"
                )
                # The fault's neighbours: Redis and the queue are fine, and say so; slow
                # requests could start HighLatencyP99's wait, never end it in this time.
                states = stack.states()
                for quiet in ("RedisUnavailable", "QueueBacklog", "QueueDepthUnknown"):
                    self.assertNotIn(quiet, states)
                self.assertNotEqual(states.get("HighLatencyP99"), "firing")
            finally:
                compose("start", "db")
            started_at = time.monotonic()
            wait_for(lambda: http_get(f"{APP_URL}/health/ready").status == 200, 60, "ready again")
            back = stack.elapsed_since(started_at)
            window = stack.configure().fors["HighErrorRate"]  # [5m] and for: 5m scale alike
            for alert in ("ReadinessFailing", "HighErrorRate"):
                stack.wait_state(alert, None, window + 60)
                report(
                    f"{alert} resolved {stack.elapsed_since(started_at):.1f} s after Postgres "
                    f"restarted (ready again after {back:.1f} s; the rule's window {window:.0f} s)"
                )

    def test_2_jobs_that_keep_failing_fire_the_job_alert_for_their_task_only(self) -> None:
        for_ = stack.configure().fors["JobsFailing"]
        sending = for_ + 15  # failing for longer than `for:`, then no more
        sender = stack.compose_in_background(
            "exec", "-T", "app", "python", "-m", "tests.jobs.failing",
            "--seconds", str(sending), "--every", "1",
        )  # fmt: skip
        try:
            # The first failure Prometheus scraped: the fault as the rule can first see it.
            wait_for(lambda: bool(stack.query(FAILED_JOBS)), 60, "a failed job scraped", 0.25)
            first_sample_at = time.monotonic()
            # Pending, not firing, for most of `for:`: it waits as the rule says.
            stack.wait_state("JobsFailing", "pending", 30)
            time.sleep(max(0.0, for_ - SLACK_SECONDS - stack.elapsed_since(first_sample_at)))
            self.assertNotEqual(stack.states().get("JobsFailing"), "firing", "fired before for:")
            took = self.assert_fires_in_time("JobsFailing", first_sample_at)
            tasks = {
                a["labels"].get("task")
                for a in stack.alerts()
                if a["labels"]["alertname"] == "JobsFailing" and a["state"] == "firing"
            }
            self.assertEqual(tasks, {"tests.failing"})
            report(
                f"one failing job a second: JobsFailing firing {took:.1f} s after the first "
                f"failure was scraped (for: {for_:.0f} s)"
            )
        finally:
            output, _ = sender.communicate(timeout=sending + 60)
        self.assertEqual(sender.returncode, 0, output)
        stopped_at = time.monotonic()
        stack.wait_state("JobsFailing", None, 90)
        took = stack.elapsed_since(stopped_at)
        report(f"JobsFailing resolved {took:.1f} s after the failures stopped")
