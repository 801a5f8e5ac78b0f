"""Headless Chromium driven over the Chrome DevTools Protocol, with the standard library only.

Chromium started with ``--remote-debugging-pipe`` reads commands from its file descriptor 3 and
writes replies and events to 4, each message one JSON object ended by a NUL byte: no WebSocket,
no port, no third-party client. One thread reads with ``select`` against a deadline, so every
wait is bounded: a browser that hangs or dies fails the test instead of stalling it.
"""

import json
import os
import select
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

CHROMIUM = os.environ.get("CHROMIUM", "chromium")


class BrowserError(AssertionError):
    """The browser died, did not answer in time, or refused a command."""


@dataclass(frozen=True)
class Event:
    method: str
    params: dict[str, Any]
    session: str | None


@dataclass
class Chromium:
    """One headless Chromium with a fresh profile; use it as a context manager.

    ``only_host``: every other host name resolves to nothing inside the browser, a safeguard
    that keeps a page (a broken one included) from reaching any server but the app's.
    """

    only_host: str
    window: tuple[int, int] = (1280, 1024)
    events: list[Event] = field(default_factory=list)
    # Called for each event as it arrives, e.g. to let a new worker run (see Page).
    listeners: list[Callable[[Event], None]] = field(default_factory=list)
    _next_id: int = field(default=0, init=False)
    _buffer: bytes = field(default=b"", init=False)
    _replies: dict[int, dict[str, Any]] = field(default_factory=dict, init=False)

    def __enter__(self) -> Self:
        self._profile = tempfile.TemporaryDirectory(prefix="chromium-")
        self._log = Path(self._profile.name) / "stderr.log"
        commands_read, self._commands = os.pipe()
        self._replies_fd, replies_write = os.pipe()
        flags = [
            "--headless",
            # The container is the sandbox: Chromium's own needs user namespaces, which
            # Docker's default seccomp profile does not grant.
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile.name}/profile",
            f"--window-size={self.window[0]},{self.window[1]}",
            # No traffic of the browser's own: updates, sync, field trials, safe browsing.
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-sync",
            "--no-default-browser-check",
            "--no-first-run",
            "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable",
            f"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE {self.only_host}",
            "about:blank",
        ]
        with self._log.open("wb") as log:
            # The shell moves the pipes to descriptors 3 and 4, where Chromium expects them,
            # and gives it an empty stdin and its log as stdout.
            self._process = subprocess.Popen(  # noqa: S603 - fixed program and flags
                ["/bin/sh", "-c", 'exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>&2', CHROMIUM, *flags],
                stdin=commands_read,
                stdout=replies_write,
                stderr=log,
            )
        os.close(commands_read)
        os.close(replies_write)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.post("Browser.close")
            self._process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait(timeout=5)
        finally:
            os.close(self._commands)
            os.close(self._replies_fd)
            self._profile.cleanup()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # --- messages ----------------------------------------------------------------------------

    def post(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> int:
        """Send a command without waiting for its reply; return its id."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        return self._next_id

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 10,
    ) -> dict[str, Any]:
        """Send a command and return its result; an error reply raises BrowserError."""
        command = self.post(method, params, session)
        deadline = time.monotonic() + timeout
        while command not in self._replies:
            self._read(deadline, f"the reply to {method}")
        reply = self._replies.pop(command)
        if "error" in reply:
            raise BrowserError(f"{method} failed: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def wait_for_event(
        self, matches: Callable[[Event], bool], timeout: float, what: str, since: int = 0
    ) -> Event:
        """The first event (from index ``since`` of ``events``) that matches, within the time."""
        deadline = time.monotonic() + timeout
        checked = since
        while True:
            for event in self.events[checked:]:
                if matches(event):
                    return event
            checked = len(self.events)
            self._read(deadline, what)

    def _read(self, deadline: float, what: str) -> None:
        """Read at least one message, or fail once the deadline has passed."""
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"timed out waiting for {what}")
            ready, _, _ = select.select([self._replies_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._replies_fd, 1 << 16)
            if not chunk:
                raise BrowserError(
                    f"Chromium exited while waiting for {what}; its log ends:\n{self.log_tail()}"
                )
            self._buffer += chunk
        *messages, self._buffer = self._buffer.split(b"\0")
        for raw in messages:
            message = json.loads(raw)
            if "id" in message:
                self._replies[message["id"]] = message
            else:
                event = Event(
                    message["method"], message.get("params", {}), message.get("sessionId")
                )
                self.events.append(event)
                for listener in self.listeners:
                    listener(event)


class Page:
    """A tab attached in flat mode. Its workers and frames are attached as they start, with the
    Network domain on before their first request, so no request of theirs goes unrecorded."""

    def __init__(self, browser: Chromium, timeout: float = 10) -> None:
        self.browser = browser
        self.timeout = timeout
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session: str = browser.send(
            "Target.attachToTarget", {"targetId": target, "flatten": True}
        )["sessionId"]
        self.sessions = {self.session}
        browser.listeners.append(self._attach_child)
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send(
            "Target.setAutoAttach",
            {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True},
        )

    def _attach_child(self, event: Event) -> None:
        if event.method != "Target.attachedToTarget" or event.session not in self.sessions:
            return
        child = event.params["sessionId"]
        self.sessions.add(child)
        # Posted, not awaited: this runs while another command waits for its reply. Chromium
        # handles a session's commands in order, so Network is on before the child resumes.
        for method in ("Network.enable", "Log.enable", "Runtime.runIfWaitingForDebugger"):
            self.browser.post(method, session=child)

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self.session, timeout=self.timeout)

    def events(self, method: str) -> list[dict[str, Any]]:
        """The parameters of every event of this kind from this page or its children."""
        return [
            event.params
            for event in self.browser.events
            if event.method == method and event.session in self.sessions
        ]

    def navigate(self, url: str, timeout: float = 20) -> None:
        since = len(self.browser.events)
        result = self.send("Page.navigate", {"url": url})
        if "errorText" in result:
            raise BrowserError(f"navigating to {url} failed: {result['errorText']}")
        self.browser.wait_for_event(
            lambda event: event.method == "Page.loadEventFired" and event.session == self.session,
            timeout,
            f"{url} to load",
            since,
        )

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited if it is a promise)."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"{expression!r} threw: {text}")
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float, what: str, interval: float = 0.2) -> Any:
        """Poll the expression until it is truthy; return its value, or fail naming the wait."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(interval)

    def click(self, selector: str, timeout: float = 10) -> None:
        """Click the first element the selector finds, with the mouse, as a person would: it
        must be there and visible, and nothing may cover its centre."""
        found = json.dumps(selector)
        point = self.wait_until(
            f"""(() => {{
                const element = document.querySelector({found});
                if (!element) return null;
                element.scrollIntoView({{block: "center"}});
                const box = element.getBoundingClientRect();
                if (box.width === 0 || box.height === 0) return null;
                const x = box.left + box.width / 2, y = box.top + box.height / 2;
                const top = document.elementFromPoint(x, y);
                return element.contains(top) ? [x, y] : null;
            }})()""",
            timeout,
            f"{selector} to be visible and clickable",
        )
        x, y = point
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )
