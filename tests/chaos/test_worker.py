"""The worker and its queue under faults: a worker killed mid-export, the queue store
restarted with jobs waiting, Postgres stopped during a job, a thousand jobs from concurrent
producers, and a worker stopped mid-job. Every accepted job completes, once in effect."""

import json
import time
import unittest
import uuid
from typing import Any

from tests.chaos import stack
from tests.chaos.stack import ITEMS, call, compose
from tests.container import services
from tests.container.docker import docker, inspect, report, wait_for

EXPORTS = "/api/v1/exports"
SEEDED_ITEMS = 30_000


def setUpModule() -> None:
    stack.up()
    # Enough rows that an export runs for seconds (EXPORT_BATCH_ROWS is small in this stack).
    stack.psql(
        "INSERT INTO items (id, name, price, version, created_at, updated_at) "
        f"SELECT gen_random_uuid(), 'seeded ' || n, 1, 1, now(), now() "
        f"FROM generate_series(1, {SEEDED_ITEMS}) AS n ON CONFLICT DO NOTHING"
    )


def start_export() -> str:
    reply = call("POST", f"{ITEMS}/exports")
    assert reply.status == 202, (reply.status, reply.body)
    export_id: str = reply.json()["id"]
    return export_id


def export_state(export_id: str) -> dict[str, Any]:
    state: dict[str, Any] = call("GET", f"{EXPORTS}/{export_id}").json()
    return state


def wait_for_status(export_id: str, status: str, timeout: float) -> float:
    return wait_for(
        lambda: export_state(export_id)["status"] == status, timeout, f"export {status}"
    )


def wait_running_with_progress(export_id: str) -> None:
    wait_for(lambda: export_state(export_id)["rows"] > 0, 30, "the export to be under way")


def result_rows(export_id: str) -> int:
    body = call("GET", f"{EXPORTS}/{export_id}/download").body
    return body.count(b"\r\n") - 1  # less the header


def probe(*args: str) -> dict[str, Any]:
    """The test jobs' probe in the app's container, as the queue store's admin: it sends jobs and
    reads what the worker's jobs wrote (worker:* keys, which the producer may not read)."""
    output = compose(
        "exec", "-T", "--env", "QUEUE_REDIS_URL=redis://admin@queue/0",
        "--env", "QUEUE_REDIS_PASSWORD", "app", "python", "-m", "tests.jobs.probe", *args,
        env={"QUEUE_REDIS_PASSWORD": services.redis_admin_password()},
        timeout=300,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


def queued_jobs_done(batch: str) -> int:
    return int(stack.queue_cli("ZCARD", f"worker:noop:{batch}"))


class WorkerKilledMidExport(unittest.TestCase):
    def test_the_export_completes_once_after_another_worker_claims_it(self) -> None:
        export_id = start_export()
        wait_running_with_progress(export_id)
        docker("kill", "--signal", "KILL", stack.container("worker"))
        killed_at = time.monotonic()
        compose("up", "--detach", "--no-build", "worker")
        took = wait_for_status(export_id, "succeeded", 120)
        state = export_state(export_id)
        report(
            f"worker killed mid-export: succeeded {time.monotonic() - killed_at:.1f} s later "
            f"(waited {took:.1f} s), after {state['attempts']} attempts"
        )
        self.assertGreaterEqual(state["attempts"], 2)
        self.assertEqual(result_rows(export_id), state["rows"])
        self.assertGreaterEqual(state["rows"], SEEDED_ITEMS)


class QueueStoreRestarted(unittest.TestCase):
    def test_two_hundred_waiting_jobs_all_complete_after_a_restart(self) -> None:
        batch = uuid.uuid4().hex
        compose("stop", "worker")
        try:
            self.assertEqual(probe("--jobs", "200", "--batch", batch)["sent"], 200)
            compose("restart", "queue")
            wait_for(lambda: stack.queue_cli("PING") == "PONG", 30, "the queue store back")
        finally:
            compose("up", "--detach", "--no-build", "worker")
        took = wait_for(lambda: queued_jobs_done(batch) == 200, 60, "all 200 jobs done")
        report(f"queue store restarted with 200 jobs waiting: all done {took:.1f} s after")


class PostgresStoppedDuringAJob(unittest.TestCase):
    def test_the_export_retries_and_completes_once_postgres_is_back(self) -> None:
        export_id = start_export()
        wait_running_with_progress(export_id)
        compose("stop", "db")
        time.sleep(3)
        compose("start", "db")
        took = wait_for_status(export_id, "succeeded", 120)
        state = export_state(export_id)
        report(
            f"Postgres stopped mid-export: succeeded {took:.1f} s after it returned, "
            f"after {state['attempts']} attempts"
        )
        self.assertGreaterEqual(state["attempts"], 2)
        self.assertEqual(result_rows(export_id), state["rows"])
        stack.wait_ready()


class ManyProducers(unittest.TestCase):
    def test_a_thousand_jobs_from_concurrent_producers_each_run_once_in_effect(self) -> None:
        result = probe("--jobs", "1000", "--producers", "16", "--wait")
        report(
            f"1000 no-op jobs from 16 producers: {result['done']} done in {result['seconds']} s "
            f"({result['jobs_per_second']} jobs/s), "
            f"enqueue-to-start p50 {result['latency_p50_ms']} ms"
        )
        self.assertEqual(result["done"], 1000)


class WorkerStoppedMidJob(unittest.TestCase):
    def test_the_worker_exits_0_and_the_job_is_finished_or_handed_back(self) -> None:
        export_id = start_export()
        wait_running_with_progress(export_id)
        started = time.monotonic()
        compose("stop", "worker", timeout=60)
        stopped_in = time.monotonic() - started
        exit_code = inspect("container", stack.container("worker"))["State"]["ExitCode"]
        compose("up", "--detach", "--no-build", "worker")
        wait_for_status(export_id, "succeeded", 120)
        report(f"docker compose stop worker mid-export: {stopped_in:.1f} s, exit code {exit_code}")
        self.assertEqual(exit_code, 0)
        self.assertLess(stopped_in, 30)
