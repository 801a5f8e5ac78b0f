"""Writes need a valid API key, checked before anything reads the body.

FastAPI parses (and validates) a request body before it runs an endpoint's dependencies, so
``require_api_key`` alone lets a client without a key make the app read and parse bodies up to
MAX_BODY_BYTES, and answers its malformed JSON with 422 instead of 401. This gate answers 401
first; the dependency stays on each write endpoint, where it documents the requirement in
OpenAPI and backs this up.
"""

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.errors import problem_response
from app.core.security import API_KEY_HEADER, Unauthorized, is_valid_api_key

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class WriteAuthMiddleware:
    def __init__(self, app: ASGIApp, api_prefix: str, api_keys: tuple[bytes, ...]) -> None:
        self.app = app
        self.api_prefix = api_prefix
        self.api_keys = api_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or not scope["path"].startswith(self.api_prefix)
        ):
            await self.app(scope, receive, send)
            return
        presented = Headers(scope=scope).get(API_KEY_HEADER)
        if is_valid_api_key(presented, self.api_keys):
            await self.app(scope, receive, send)
            return
        refusal = Unauthorized.for_key(presented)
        await problem_response(401, refusal.detail, headers=refusal.headers)(scope, receive, send)
