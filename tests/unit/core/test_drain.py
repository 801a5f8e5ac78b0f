"""The drain on SIGTERM (app/core/drain.py): readiness fails at once, the server's own handler
runs only after the drain period, and a second signal (or no drain period) runs it at once."""

import asyncio
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from app.core import drain


class ServerHandler:
    """The server's own SIGTERM handler (uvicorn's stops the server): records its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, FrameType | None]] = []

    def __call__(self, sig: int, frame: FrameType | None) -> None:
        self.calls.append((sig, frame))


@pytest.fixture(autouse=True)
def serving() -> Iterator[None]:
    drain.reset()
    yield
    drain.reset()


@pytest.fixture
def then() -> ServerHandler:
    return ServerHandler()


async def test_sigterm_drains_first_then_calls_the_servers_handler(then: ServerHandler) -> None:
    on_sigterm = drain.draining_handler(then, 0.2, asyncio.get_running_loop())

    on_sigterm(signal.SIGTERM, None)

    assert drain.draining.is_set()
    assert then.calls == []
    await asyncio.sleep(0.1)
    assert then.calls == [], "still serving during the drain"
    await asyncio.sleep(0.3)
    assert then.calls == [(signal.SIGTERM, None)]


async def test_a_second_sigterm_calls_the_servers_handler_at_once(then: ServerHandler) -> None:
    on_sigterm = drain.draining_handler(then, 30, asyncio.get_running_loop())

    on_sigterm(signal.SIGTERM, None)
    assert then.calls == []
    on_sigterm(signal.SIGTERM, None)

    assert then.calls == [(signal.SIGTERM, None)]
    assert drain.draining.is_set()


async def test_no_drain_period_calls_the_servers_handler_at_once(then: ServerHandler) -> None:
    on_sigterm = drain.draining_handler(then, 0, asyncio.get_running_loop())

    on_sigterm(signal.SIGTERM, None)

    assert then.calls == [(signal.SIGTERM, None)]
    assert not drain.draining.is_set()


@pytest.fixture
def sigterm_handler() -> Iterator[None]:
    """Whatever SIGTERM handler the test installs is undone afterwards."""
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.usefixtures("sigterm_handler")
async def test_drain_on_sigterm_puts_itself_before_the_servers_handler_and_restores_it(
    then: ServerHandler,
) -> None:
    signal.signal(signal.SIGTERM, then)
    drain.drain_this_process()

    restore = drain.drain_on_sigterm(0.2)
    installed = signal.getsignal(signal.SIGTERM)
    assert callable(installed)
    assert installed is not then
    installed(signal.SIGTERM, None)  # as the interpreter calls it on a SIGTERM
    assert drain.draining.is_set()
    assert then.calls == []
    await asyncio.sleep(0.4)
    assert then.calls == [(signal.SIGTERM, None)]

    restore()

    assert signal.getsignal(signal.SIGTERM) is then


@pytest.mark.usefixtures("sigterm_handler")
@pytest.mark.parametrize(
    ("server_handler", "seconds"),
    [(signal.SIG_DFL, 5.0), (signal.SIG_IGN, 5.0), (ServerHandler(), 0.0)],
)
async def test_without_a_server_handler_or_a_drain_period_nothing_changes(
    server_handler: signal.Handlers | ServerHandler, seconds: float
) -> None:
    signal.signal(signal.SIGTERM, server_handler)
    drain.drain_this_process()

    restore = drain.drain_on_sigterm(seconds)

    assert signal.getsignal(signal.SIGTERM) is server_handler
    restore()
    assert signal.getsignal(signal.SIGTERM) is server_handler


@pytest.mark.usefixtures("sigterm_handler")
async def test_a_process_that_does_not_drain_keeps_the_servers_handler(
    then: ServerHandler,
) -> None:
    """A reloading dev server or a test: no drain_this_process, so SIGTERM stops at once."""
    signal.signal(signal.SIGTERM, then)

    restore = drain.drain_on_sigterm(5.0)

    assert signal.getsignal(signal.SIGTERM) is then
    restore()
