"""Exports in process, against real Postgres and the real queue store, on an export kind of the
tests' own (so they hold whatever resources the app has): the API's answers, the job (run here
as the worker would run it), its idempotency, retries, size bound, the sweeper and retention."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import func, select, update

from app.core.config import Settings
from app.core.resources import Resources
from app.exports import producer, tasks
from app.exports.config import ExportSettings
from app.exports.models import Export, ExportChunk
from app.exports.registry import EXPORTS, CsvExport
from app.exports.service import ExportService, ExportStorageFull, TooManyExports
from tests.unit.support import queue_client

NUMBERS = CsvExport(
    kind="test-numbers",
    header=("n", "padding"),
    query=lambda: select(func.generate_series(1, 200)),
    fields=lambda n: (str(n), "x" * 40),
)


@pytest.fixture(autouse=True)
def numbers_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' own kind in the registry (and out of it again after each test)."""
    monkeypatch.setitem(EXPORTS, NUMBERS.kind, NUMBERS)


@pytest.fixture
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    opened = Resources.open(settings)
    yield opened
    await opened.close()


@pytest.fixture
async def queue(settings: Settings) -> AsyncIterator[Redis]:
    redis = queue_client(settings)
    await redis.delete("jobs")
    yield redis
    await redis.aclose()


async def start(resources: Resources) -> uuid.UUID:
    started = await ExportService(resources).start(NUMBERS.kind)
    assert started.export.status == "queued"
    assert not started.reused
    return started.export.id


async def test_an_export_is_queued_and_its_message_carries_only_its_id(
    client: AsyncClient, resources: Resources, queue: Redis
) -> None:
    export_id = await start(resources)

    state = (await client.get(f"/api/v1/exports/{export_id}")).json()
    assert state["status"] == "queued"
    assert state["attempts"] == 0
    messages = await queue.xrange("jobs") or []
    assert len(messages) == 1
    assert str(export_id).encode() in message_data(messages[0])


@pytest.mark.parametrize("export_id", [str(uuid.uuid4()), "not-an-id"])
async def test_an_unknown_export_is_404(client: AsyncClient, export_id: str) -> None:
    for path in (f"/api/v1/exports/{export_id}", f"/api/v1/exports/{export_id}/download"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


async def test_the_result_is_409_until_the_export_has_succeeded_then_the_csv(
    client: AsyncClient, resources: Resources
) -> None:
    export_id = await start(resources)

    early = await client.get(f"/api/v1/exports/{export_id}/download")
    await tasks.run_export_now(resources, export_id, ExportSettings())
    done = await client.get(f"/api/v1/exports/{export_id}/download")

    assert early.status_code == 409
    assert "queued" in early.json()["detail"]
    assert done.status_code == 200
    assert done.content.startswith(b"n,padding\r\n1,xxx")
    assert done.content.count(b"\r\n") == 201
    assert int(done.headers["content-length"]) == len(done.content)


async def test_a_job_that_runs_twice_makes_one_result_and_one_success(resources: Resources) -> None:
    export_id = await start(resources)

    await asyncio.gather(
        *(tasks.run_export_now(resources, export_id, ExportSettings()) for _ in range(2))
    )
    first = await read(resources, export_id)
    await tasks.run_export_now(resources, export_id, ExportSettings())
    again = await read(resources, export_id)

    assert first.status == again.status == "succeeded"
    assert again.finished_at == first.finished_at  # one succeeded transition
    assert first.attempts == 1  # the duplicates found it done and did nothing
    async with resources.autocommit_sessions() as session:
        chunks = await session.scalar(
            select(func.count()).where(ExportChunk.export_id == export_id)
        )
    assert chunks == 1


async def test_transient_failures_are_retried_with_backoff_then_succeed(
    resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_id = await start(resources)
    real, failures = producer.produce, [ConnectionRefusedError(), TimeoutError()]
    delays: list[float] = []

    async def flaky(*args: Any) -> None:
        if failures:
            raise failures.pop(0)
        await real(*args)

    async def no_wait(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr(tasks, "produce", flaky)
    monkeypatch.setattr(tasks, "sleep", no_wait)
    await tasks.run_export_now(resources, export_id, ExportSettings(export_retry_base_seconds=1))

    assert (await read(resources, export_id)).status == "succeeded"
    assert len(delays) == 2
    assert 0.5 <= delays[0] <= 1.5  # the base delay, with jitter
    assert 1.0 <= delays[1] <= 3.0  # doubled


async def test_after_the_last_attempt_the_export_fails_with_the_reason(
    resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    export_id = await start(resources)

    async def down(*_: Any) -> None:
        raise ConnectionRefusedError

    async def no_wait(_: float) -> None:
        pass

    monkeypatch.setattr(tasks, "produce", down)
    monkeypatch.setattr(tasks, "sleep", no_wait)
    await tasks.run_export_now(resources, export_id, ExportSettings(export_max_attempts=3))

    failed = await read(resources, export_id)
    assert failed.status == "failed"
    assert failed.error == "gave up after 3 attempts: ConnectionRefusedError"


async def test_a_result_over_the_size_bound_fails_the_export(resources: Resources) -> None:
    export_id = await start(resources)

    await tasks.run_export_now(
        resources, export_id, ExportSettings(export_max_bytes=500, export_batch_rows=5)
    )

    failed = await read(resources, export_id)
    assert failed.status == "failed"
    assert "EXPORT_MAX_BYTES" in (failed.error or "")


async def test_the_sweeper_enqueues_exports_whose_message_was_lost(
    resources: Resources, queue: Redis
) -> None:
    stuck = await start(resources)
    fresh = await start(resources)
    await queue.delete("jobs")  # both messages lost
    await age(resources, stuck, minutes=10)

    swept = await tasks.sweep_now(resources, ExportSettings(export_stuck_seconds=60))

    assert swept == 1
    messages = await queue.xrange("jobs") or []
    assert [str(stuck).encode() in message_data(m) for m in messages] == [True]
    assert (await read(resources, fresh)).status == "queued"


async def test_old_results_are_deleted_with_their_chunks(resources: Resources) -> None:
    old = await start(resources)
    recent = await start(resources)
    for export_id in (old, recent):
        await tasks.run_export_now(resources, export_id, ExportSettings())
    async with resources.autocommit_sessions() as session:
        two_days_ago = datetime.now(UTC) - timedelta(days=2)
        await session.execute(
            update(Export).where(Export.id == old).values(finished_at=two_days_ago)
        )

    deleted = await tasks.delete_old_now(resources, ExportSettings(export_retention_hours=24))

    assert deleted == 1
    async with resources.autocommit_sessions() as session:
        assert await session.get(Export, old) is None
        left = select(func.count()).select_from(ExportChunk).where(ExportChunk.export_id == old)
        assert await session.scalar(left) == 0
    assert (await read(resources, recent)).status == "succeeded"


def test_backoff_doubles_up_to_a_minute_with_jitter() -> None:
    for attempt, centre in ((1, 1.0), (2, 2.0), (3, 4.0), (10, 60.0)):
        for _ in range(20):
            assert 0.5 * centre <= tasks.backoff_seconds(attempt, 1.0) <= 1.5 * centre


def message_data(message: Any) -> bytes:
    """A stream entry's payload: (id, {b"data": ...})."""
    data: bytes = message[1][b"data"]
    return data


async def read(resources: Resources, export_id: uuid.UUID) -> Export:
    async with resources.autocommit_sessions() as session:
        export = await session.get(Export, export_id)
    assert export is not None
    return export


async def age(resources: Resources, export_id: uuid.UUID, *, minutes: int) -> None:
    async with resources.autocommit_sessions() as session:
        then = datetime.now(UTC) - timedelta(minutes=minutes)
        await session.execute(update(Export).where(Export.id == export_id).values(updated_at=then))


async def test_a_key_has_at_most_three_exports_under_way_even_when_it_asks_at_once(
    resources: Resources,
) -> None:
    service = ExportService(resources)

    outcomes = await asyncio.gather(
        *(service.start(NUMBERS.kind, "hasty") for _ in range(10)), return_exceptions=True
    )

    assert sum(not isinstance(outcome, BaseException) for outcome in outcomes) == 3
    assert all(isinstance(o, TooManyExports) for o in outcomes if isinstance(o, BaseException))
    assert not (await service.start(NUMBERS.kind, "another")).reused  # its own three
    first = next(o for o in outcomes if not isinstance(o, BaseException))
    await tasks.run_export_now(resources, first.export.id, ExportSettings(export_reuse_seconds=0))
    assert not (  # one has finished: a place is free again
        await ExportService(resources, ExportSettings(export_reuse_seconds=0)).start(
            NUMBERS.kind, "hasty"
        )
    ).reused


async def test_past_the_storage_bound_a_new_export_is_503(resources: Resources) -> None:
    done = await start(resources)
    await tasks.run_export_now(resources, done, ExportSettings())
    bounded = ExportSettings(export_storage_max_bytes=1000, export_reuse_seconds=0)

    with pytest.raises(ExportStorageFull):
        await ExportService(resources, bounded).start(NUMBERS.kind, "tests")
