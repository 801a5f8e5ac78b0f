"""The worker's metrics: jobs by task and outcome, their duration, and the queue's depth read
from the real queue store."""

import uuid
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from redis import Redis
from taskiq import InMemoryBroker

from app.core.config import Settings
from app.core.metrics import JOB_DURATION, JOBS
from app.observability.jobs import JobObservability, QueueDepthCollector, queue_store_client


def value(metric: object) -> float:
    return float(metric._value.get())  # type: ignore[attr-defined]


async def test_jobs_are_counted_by_task_and_outcome_and_timed() -> None:
    broker = InMemoryBroker().with_middlewares(JobObservability())

    @broker.task(task_name="tests.fine")
    async def fine() -> None:
        return None

    @broker.task(task_name="tests.broken")
    async def broken() -> None:
        raise RuntimeError("planted")

    succeeded, failed = (
        JOBS.labels("tests.fine", "succeeded"),
        JOBS.labels("tests.broken", "failed"),
    )
    before = value(succeeded), value(failed)
    durations = JOB_DURATION.labels("tests.fine")._sum.get()

    await (await fine.kiq()).wait_result(timeout=5)
    await (await broken.kiq()).wait_result(timeout=5)

    assert (value(succeeded), value(failed)) == (before[0] + 1, before[1] + 1)
    assert JOB_DURATION.labels("tests.fine")._sum.get() > durations


@pytest.fixture
def queue_store(settings: Settings) -> Iterator[Redis]:
    client = queue_store_client(
        settings.queue_redis_url.get_secret_value(),
        settings.queue_redis_password.get_secret_value() or None,
        settings.redis_socket_timeout_seconds,
    )
    yield client
    client.close()


def test_queue_depth_counts_waiting_and_running_jobs(queue_store: Redis) -> None:
    stream = f"tests-queue-{uuid.uuid4().hex}"
    queue_store.xgroup_create(stream, "workers", id="0", mkstream=True)
    try:
        for n in range(5):
            queue_store.xadd(stream, {"data": str(n)})
        queue_store.xreadgroup("workers", "worker-1", {stream: ">"}, count=2)  # 2 taken
        registry = CollectorRegistry()
        registry.register(QueueDepthCollector(queue_store, stream, "workers"))

        depth = {
            state: registry.get_sample_value("queue_depth", {"state": state})
            for state in ("waiting", "running")
        }
    finally:
        queue_store.delete(stream)

    assert depth == {"waiting": 3, "running": 2}


def test_an_unreachable_queue_store_gives_no_sample_rather_than_a_wrong_one(
    unreachable_port: int,
) -> None:
    registry = CollectorRegistry()
    client = queue_store_client(f"redis://127.0.0.1:{unreachable_port}/0", None, 0.5)
    registry.register(QueueDepthCollector(client, "jobs", "workers"))

    assert registry.get_sample_value("queue_depth", {"state": "waiting"}) is None
