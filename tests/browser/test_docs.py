"""/docs and /redoc of the dev stack in a real headless Chromium, as a developer opens them.

Each page is visited once (in setUpClass) with every network request and console entry recorded
through the DevTools Protocol, its workers' included; the tests then judge what was recorded:
every operation of /openapi.json on the page, a Try it out call answered 200 on the page, no
request to another origin, no Content-Security-Policy violation, no error in the console.
Every wait is bounded. `make browser` runs them (see the Makefile for where the browser runs).
"""

import os
import time
import unittest
from typing import Any, ClassVar
from urllib.parse import urlsplit

from tests.browser.cdp import BrowserError, Chromium, Page
from tests.container.docker import http_get, report, wait_for

# The app as the browser reaches it: `make browser` runs it in the app container's network
# namespace, so this is the address a developer's browser has too (localhost).
APP_URL = os.environ.get("APP_URL", "http://localhost:8000").rstrip("/")
HOST = urlsplit(APP_URL).hostname or "localhost"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Try it out on the list of items: a call through the whole stack (rate limiter, Postgres,
# Redis) that needs neither a key nor data; on liveness where the example resource was removed.
TRY_IT_OUT = (("GET", "/api/v1/items"), ("GET", "/health/live"))

# Installed before any script of the page runs: the browser reports each CSP violation to the
# document as an event, and a listener set up first sees them all.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.effectiveDirective} refused ${event.blockedURI || "inline code"}`);
});
"""


def operations_in(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(METHOD, path) of each operation, once per tag, as Swagger UI lists them."""
    return sorted(
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in METHODS
        for _ in operation.get("tags") or [None]
    )


def operation_ids(spec: dict[str, Any]) -> list[str]:
    return sorted(
        operation["operationId"]
        for item in spec["paths"].values()
        for method, operation in item.items()
        if method in METHODS
    )


def is_local(url: str) -> bool:
    """The app's own origin. data: URLs reach no server, and blob: URLs of this origin are
    the page's own memory."""
    return url.startswith((f"{APP_URL}/", f"blob:{APP_URL}/", "data:"))


def mentions(text: str, urls: frozenset[str]) -> bool:
    return any(url in text for url in urls)


class Visit(unittest.TestCase):
    """One page, visited once; subclasses say which, and what to do there (``use``)."""

    path: ClassVar[str]
    # Other-origin URLs that a vendored page is known to ask for, and that the policy must
    # refuse before any connection: each is checked to have been blocked, never loaded.
    refused_by_policy: ClassVar[frozenset[str]] = frozenset()
    spec: ClassVar[dict[str, Any]]
    requests: ClassVar[list[str]]
    blocked: ClassVar[set[str]]
    csp_violations: ClassVar[list[str]]
    errors: ClassVar[list[str]]
    failure: ClassVar[str] = ""

    @classmethod
    def setUpClass(cls) -> None:
        wait_for(lambda: http_get(f"{APP_URL}/health/live").status == 200, 60, APP_URL)
        answer = http_get(f"{APP_URL}/openapi.json")
        if answer.status != 200:
            raise AssertionError(
                f"{APP_URL}/openapi.json answered {answer.status}: are the docs off "
                "(DOCS_ENABLED=false in .env)? They are on by default in development."
            )
        cls.spec = answer.json()
        started = time.monotonic()
        with Chromium(only_host=HOST) as browser:
            page = Page(browser)
            page.send("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_CSP_VIOLATIONS})
            page.navigate(f"{APP_URL}{cls.path}")
            try:
                cls.use(page)
            except BrowserError as error:  # judged by the test that needs what failed here
                cls.failure = str(error)
                report(f"{cls.path}: {error}")
            time.sleep(0.5)  # for the last events in flight
            page.evaluate("1")
            cls.record(page)
        report(f"{cls.path}: visited in {time.monotonic() - started:.1f} s")

    @classmethod
    def record(cls, page: Page) -> None:
        sent = page.events("Network.requestWillBeSent")
        cls.requests = [event["request"]["url"] for event in sent]
        urls = {event["requestId"]: event["request"]["url"] for event in sent}
        failed = page.events("Network.loadingFailed")
        cls.blocked = {
            urls.get(event["requestId"], "?")
            for event in failed
            if event.get("blockedReason") == "csp"
        }
        entries = [event["entry"] for event in page.events("Log.entryAdded")]
        violations = list(page.evaluate("window.__cspViolations") or [])
        violations += [
            entry["text"] for entry in entries if "Content Security Policy" in entry["text"]
        ]
        violations += [f"the policy blocked {url}" for url in cls.blocked]
        known = cls.refused_by_policy
        cls.csp_violations = [text for text in violations if not mentions(text, known)]
        # The browser's own messages (network, security), the page's console.error and
        # console.assert calls, and exceptions no script caught.
        errors = [f"{e['source']}: {e['text']}" for e in entries if e["level"] == "error"]
        errors += [
            "console: "
            + " ".join(str(arg.get("value", arg.get("description"))) for arg in call["args"])
            for call in page.events("Runtime.consoleAPICalled")
            if call["type"] in ("error", "assert")
        ]
        errors += [
            "exception: "
            + (
                thrown["exceptionDetails"].get("exception", {}).get("description")
                or thrown["exceptionDetails"]["text"]
            )
            for thrown in page.events("Runtime.exceptionThrown")
        ]
        cls.errors = [text for text in errors if not mentions(text, known)]
        report(f"{cls.path}: {len(cls.requests)} requests recorded")
        for url in cls.requests:
            report(f"  {url[:100]}")

    @classmethod
    def use(cls, page: Page) -> None:
        """What to do once the page has loaded."""

    def test_no_request_goes_to_another_origin(self) -> None:
        self.assertTrue(self.requests, f"{self.path}: no request was recorded at all")
        foreign = [url for url in self.requests if not is_local(url)]
        unexpected = [url for url in foreign if url not in self.refused_by_policy]
        self.assertEqual(unexpected, [], f"{self.path} asked for URLs outside {APP_URL}")
        loaded = [url for url in foreign if url not in self.blocked]
        self.assertEqual(loaded, [], f"{self.path}: the policy did not refuse these")

    def test_no_content_security_policy_violation(self) -> None:
        self.assertEqual(self.csp_violations, [], f"{self.path} broke its own policy")

    def test_no_error_in_the_console(self) -> None:
        self.assertEqual(self.errors, [], f"{self.path} logged errors")


class SwaggerUI(Visit):
    path = "/docs"
    listed: ClassVar[list[tuple[str, str]]] = []
    tried: ClassVar[str] = "nothing"
    status_shown: ClassVar[str | None] = None

    @classmethod
    def use(cls, page: Page) -> None:
        expected = len(operations_in(cls.spec))
        # Swagger UI renders once it has fetched /openapi.json.
        try:
            page.wait_until(
                f"document.querySelectorAll('.opblock').length >= {expected}",
                20,
                f"{expected} operations on /docs",
            )
        finally:
            cls.listed = sorted(
                (method, path)
                for method, path in page.evaluate(
                    """[...document.querySelectorAll(".opblock")].map((block) => [
                        block.querySelector(".opblock-summary-method")?.textContent.trim(),
                        block.querySelector(".opblock-summary-path")?.dataset.path])"""
                )
            )
            report(f"/docs lists {len(cls.listed)} operations: {cls.listed}")

        # Expand the operation, click "Try it out", then "Execute", with the mouse.
        method, path = next(op for op in TRY_IT_OUT if op in operations_in(cls.spec))
        cls.tried = f"{method} {path}"
        block = page.evaluate(
            f"""[...document.querySelectorAll(".opblock")].find((block) =>
                block.querySelector(".opblock-summary-method")?.textContent.trim() === "{method}"
                && block.querySelector(".opblock-summary-path")?.dataset.path === "{path}"
            )?.id"""
        )
        if not block:
            raise BrowserError(f"{cls.tried} is not on the page")
        page.click(f"#{block} .opblock-summary-control")
        page.click(f"#{block} .try-out__btn")
        page.click(f"#{block} button.execute")
        cls.status_shown = page.wait_until(
            f"""document.querySelector(
                "#{block} .live-responses-table .response .response-col_status"
            )?.textContent.trim()""",
            15,
            f"the response to {cls.tried} on the page",
        )
        url = page.evaluate(f"document.querySelector('#{block} .request-url pre')?.textContent")
        report(f"Try it out: {method} {url} -> {cls.status_shown} shown on the page")

    def test_every_operation_of_the_openapi_document_is_listed(self) -> None:
        expected = operations_in(self.spec)
        self.assertEqual(
            self.listed,
            expected,
            f"/docs lists {len(self.listed)} operations, /openapi.json has {len(expected)}"
            f"{f' ({self.failure})' if self.failure else ''}",
        )

    def test_try_it_out_calls_the_api_and_shows_200(self) -> None:
        self.assertEqual(
            self.status_shown, "200", f"Try it out on {self.tried}: {self.failure or 'no status'}"
        )


class ReDoc(Visit):
    path = "/redoc"
    # ReDoc 2 hard-codes the logo of its "API docs by Redocly" link (no option turns it off);
    # img-src 'self' refuses it before any connection, and ReDoc then drops the image.
    refused_by_policy = frozenset({"https://cdn.redoc.ly/redoc/logo-mini.svg"})
    listed: ClassVar[list[str]] = []

    @classmethod
    def use(cls, page: Page) -> None:
        expected = len(operation_ids(cls.spec))
        query = """[...new Set([...document.querySelectorAll("[data-section-id]")]
            .map((section) => section.dataset.sectionId.match(/operation\\/(.+)$/)?.[1])
            .filter(Boolean))]"""
        try:
            page.wait_until(f"{query}.length >= {expected}", 20, f"{expected} operations on /redoc")
        finally:
            cls.listed = sorted(page.evaluate(query))
            report(f"/redoc lists {len(cls.listed)} operations")

    def test_every_operation_of_the_openapi_document_is_listed(self) -> None:
        self.assertEqual(self.listed, operation_ids(self.spec), self.failure or "/redoc")


def load_tests(
    loader: unittest.TestLoader, tests: unittest.TestSuite, pattern: str | None
) -> unittest.TestSuite:
    """The pages, not the shared base class."""
    return unittest.TestSuite(loader.loadTestsFromTestCase(case) for case in (SwaggerUI, ReDoc))


if __name__ == "__main__":
    unittest.main()
