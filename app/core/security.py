"""Who is calling: API keys in the X-API-Key header, several valid at once so a key can be
rotated without downtime.

A route that needs a key takes ``caller: CurrentCaller``. The caller is the key's id, never the
key: an id is safe to log (the access line carries it) and to store beside what the caller did.
Routes of an ``APIRouter(route_class=KeyCheckedFirst)`` check the key before the body is read,
so a client without one gets 401 and never makes the app read or parse a body.
"""

import hashlib
import hmac
import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

from fastapi import Request, Response, Security
from fastapi.params import Depends
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader

from app.core.errors import ProblemError
from app.core.resources import SettingsDep

API_KEY_HEADER = "X-API-Key"
# Where the caller's key id is left for the access log (app.core.middleware).
KEY_ID_STATE = "key_id"

# auto_error=False: a missing key is answered by our own problem+json 401, not FastAPI's.
api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated client: the id of the key it presented."""

    key_id: str


def key_id(key: bytes) -> str:
    """A key's public name: a digest prefix, which names the key without revealing it."""
    return "key_" + hashlib.sha256(key).hexdigest()[:16]


class Unauthorized(ProblemError):
    status = 401

    def __init__(self, presented: str | None) -> None:
        if presented:
            detail = "The API key is not valid."
        else:
            detail = f"This operation needs an API key in the {API_KEY_HEADER} header."
        super().__init__(detail, {"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'})


def caller_for(presented: str | None, keys: tuple[bytes, ...]) -> Caller | None:
    """The caller a presented key names, or None. Compares against every key in constant time,
    so timing reveals neither a key nor which one matched."""
    if not presented:
        return None
    candidate = presented.encode("utf-8", "surrogateescape")
    matched = None
    for key in keys:
        if hmac.compare_digest(candidate, key):
            matched = key
    return None if matched is None else Caller(key_id(matched))


async def authenticate(
    request: Request,
    presented: Annotated[str | None, Security(api_key_header)],
    settings: SettingsDep,
) -> Caller:
    caller = caller_for(presented, settings.api_key_set)
    if caller is None:
        raise Unauthorized(presented)
    request.state.key_id = caller.key_id
    return caller


CurrentCaller = Annotated[Caller, Security(authenticate)]

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class KeyCheckedFirst(APIRoute):
    """A route that, when it needs a key, checks it before FastAPI reads the body.

    FastAPI reads and parses a body before it runs a route's dependencies, so ``authenticate``
    alone would make the app read up to MAX_BODY_BYTES from a client without a key, and answer
    its malformed JSON with 422 instead of 401. A route needs a key when its endpoint takes a
    ``CurrentCaller`` or its ``dependencies`` include one; the dependency still runs, and
    documents the security scheme in OpenAPI.
    """

    def get_route_handler(self) -> Handler:
        handler: Handler = super().get_route_handler()
        if not self._needs_key():
            return handler

        async def key_checked_first(request: Request) -> Response:
            settings = request.state.resources.settings
            presented = request.headers.get(API_KEY_HEADER)
            if caller_for(presented, settings.api_key_set) is None:
                raise Unauthorized(presented)
            return await handler(request)

        return key_checked_first

    def _needs_key(self) -> bool:
        declared = [*self.dependencies]
        for parameter in inspect.signature(self.endpoint).parameters.values():
            if get_origin(parameter.annotation) is Annotated:
                declared.extend(get_args(parameter.annotation)[1:])
        return any(isinstance(d, Depends) and d.dependency is authenticate for d in declared)
