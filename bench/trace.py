"""Which of the project's own files one request runs through: ``make trace``.

Runs the app in-process (its lifespan, a real Postgres and Redis: the test stack's), makes each
request once to warm up, then once under a profiler that records every function entered whose
code lives under app/. Prints, per request, the files and the number of functions.

    python bench/trace.py                    # the table
    python bench/trace.py --files            # and each request's files
    python bench/trace.py --max-files 12     # and fail if a request enters more files
"""

import argparse
import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType
from typing import Any

from alembic import command
from alembic.config import Config
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient, Response
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.config import Settings  # noqa: E402
from app.main import create_app  # noqa: E402

APP_DIR = str(ROOT / "app")
ITEMS = "/api/v1/items"
KEY = "trace-" + "0123456789abcdef" * 3


class Recorder:
    """Every function under app/ that is entered (called, or a coroutine resumed)."""

    def __init__(self) -> None:
        self.functions: set[tuple[str, str]] = set()

    def __call__(self, frame: FrameType, event: str, _: Any) -> None:
        if event == "call" and frame.f_code.co_filename.startswith(APP_DIR):
            code = frame.f_code
            path = str(Path(code.co_filename).relative_to(ROOT))
            self.functions.add((path, code.co_qualname))

    @property
    def files(self) -> list[str]:
        return sorted({path for path, _ in self.functions})


async def traced(request: Callable[[], Awaitable[Response]], expected: int) -> Recorder:
    recorder = Recorder()
    sys.setprofile(recorder)
    try:
        response = await request()
    finally:
        sys.setprofile(None)
    if response.status_code != expected:
        raise SystemExit(f"expected {expected}, got {response.status_code}: {response.text}")
    return recorder


async def main(show_files: bool, max_files: int | None) -> int:
    settings = Settings.model_validate(
        Settings.load().model_dump()
        | {"api_keys": f"trace:write:{KEY}", "rate_limit_requests": 1_000_000}
    )
    config = Config(toml_file=ROOT / "pyproject.toml")
    await asyncio.to_thread(command.upgrade, config, "head")
    redis = Redis.from_url(
        settings.redis_url.get_secret_value(),
        password=settings.redis_password.get_secret_value() or None,
    )
    app = create_app(settings)
    headers = {"X-API-Key": KEY}
    async with (
        LifespanManager(app) as manager,
        AsyncClient(transport=ASGITransport(app=manager.app), base_url="http://trace") as http,
    ):

        def create() -> Awaitable[Response]:
            body = {"name": f"trace {uuid.uuid4().hex}", "price": "1.00"}
            return http.post(ITEMS, json=body, headers=headers)

        item_id = (await create()).json()["id"]

        async def uncached_read() -> Response:
            await redis.flushdb()
            return await http.get(f"{ITEMS}/{item_id}")

        def cached_read() -> Awaitable[Response]:
            return http.get(f"{ITEMS}/{item_id}")

        def list_page() -> Awaitable[Response]:
            return http.get(ITEMS, params={"limit": 20})

        scenarios: dict[str, tuple[Callable[[], Awaitable[Response]], int]] = {
            "cached read": (cached_read, 200),
            "uncached read": (uncached_read, 200),
            "list": (list_page, 200),
            "create": (create, 201),
        }
        results = {}
        for name, (request, expected) in scenarios.items():
            await request()  # warm up: first-use work is not the request path
            if name == "cached read":
                await request()
            results[name] = await traced(request, expected)
    await redis.aclose()

    print(f"{'request':<15} {'files':>5} {'functions':>9}")
    for name, recorder in results.items():
        print(f"{name:<15} {len(recorder.files):>5} {len(recorder.functions):>9}")
    if show_files:
        for name, recorder in results.items():
            print(f"\n{name}:")
            for path in recorder.files:
                print(f"  {path}")
    if max_files is None:
        return 0
    over = [name for name, recorder in results.items() if len(recorder.files) > max_files]
    if over:
        print(f"\nmore than {max_files} files: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", action="store_true", help="list each request's files")
    parser.add_argument("--max-files", type=int, help="fail if a request enters more files")
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.files, arguments.max_files)))
