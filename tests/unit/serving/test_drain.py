"""The drain on SIGTERM (app/serving/worker.py): readiness fails at once, the server stops
only after the drain period, and a second signal stops it at once."""

import asyncio
import signal
from collections.abc import Iterator

import pytest
from uvicorn import Config

from app.core import drain
from app.serving.worker import DrainingServer


async def nothing(scope: object, receive: object, send: object) -> None:
    """An ASGI app that is never called: only the signal handling is under test."""


@pytest.fixture(autouse=True)
def serving() -> Iterator[None]:
    drain.reset()
    yield
    drain.reset()


async def test_sigterm_drains_first_then_stops() -> None:
    server = DrainingServer(Config(nothing), drain_seconds=0.2)

    server.handle_exit(signal.SIGTERM, None)

    assert drain.is_draining()
    assert not server.should_exit
    await asyncio.sleep(0.1)
    assert not server.should_exit, "still serving during the drain"
    await asyncio.sleep(0.3)
    assert server.should_exit


async def test_a_second_sigterm_stops_at_once() -> None:
    server = DrainingServer(Config(nothing), drain_seconds=30)

    server.handle_exit(signal.SIGTERM, None)
    server.handle_exit(signal.SIGTERM, None)

    assert server.should_exit


@pytest.mark.parametrize(("sig", "drain_seconds"), [(signal.SIGINT, 30.0), (signal.SIGTERM, 0.0)])
async def test_sigint_or_no_drain_period_stops_at_once(
    sig: signal.Signals, drain_seconds: float
) -> None:
    server = DrainingServer(Config(nothing), drain_seconds=drain_seconds)

    server.handle_exit(sig, None)

    assert server.should_exit
    assert drain.is_draining() == (sig == signal.SIGTERM and drain_seconds > 0)
