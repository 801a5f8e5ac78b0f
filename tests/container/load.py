"""A steady load from threads on the host, and what became of every request it sent."""

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Outcome:
    started: float
    status: int | None  # None: no HTTP answer (refused, reset, timed out)
    error: str = ""


@dataclass
class Load:
    """Threads sending one request after another, each on a new connection, for a bounded time.

    A new connection per request makes every outcome unambiguous: refused means the request was
    never accepted; anything but a full response after that means a request was lost.
    """

    request: Callable[[http.client.HTTPConnection], int]
    host: str
    port: int
    threads: int = 4
    seconds: float = 10.0
    # Between one request and the next in a thread: a steady rate, not the most the host can do.
    pause: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> "Load":
        deadline = time.monotonic() + self.seconds
        for _ in range(self.threads):
            worker = threading.Thread(target=self._run, args=(deadline,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(self.seconds + 10)

    def _run(self, deadline: float) -> None:
        while not self._stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                outcome = Outcome(started, self.request(connection))
            except (OSError, http.client.HTTPException) as error:
                outcome = Outcome(started, None, f"{type(error).__name__}: {error}")
                time.sleep(0.05)  # the server is down: do not spin
            finally:
                connection.close()
            self.outcomes.append(outcome)
            if self.pause:
                time.sleep(self.pause)

    def after(self, moment: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.started >= moment]

    def before(self, moment: float) -> list[Outcome]:
        return [o for o in self.outcomes if o.started < moment]

    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is None or not 200 <= o.status < 400]
