"""Who is calling: API keys in the X-API-Key header, several valid at once so a key can be
rotated without downtime.

A route that needs a key declares it: ``caller: CurrentCaller`` when it uses the caller, or
``dependencies=[Security(authenticate)]`` when it does not (a dependency of the route may take
it too). The caller is the key's id, never the key: an id is safe to log (the access line
carries it). It is derived from the key itself, so a rotated key is a new id; the key file's
ids and scopes come with the issue "security, second pass".

Routes of an ``APIRouter(route_class=KeyCheckedFirst)`` check the key before the body is read,
so a client without one gets 401 and never makes the app read or parse a body. Declare the key
on the route or its router, not in ``include_router(dependencies=...)``: a route checks only
what it declares. tests/unit/core/test_security.py holds every write route to this.
"""

import hashlib
import hmac
import inspect
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from fastapi import Request, Response, Security
from fastapi.params import Depends
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader

from app.core.errors import ProblemError
from app.core.resources import SettingsDep

API_KEY_HEADER = "X-API-Key"

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
    request.state.key_id = caller.key_id  # for the access line (app.core.middleware)
    return caller


CurrentCaller = Annotated[Caller, Security(authenticate)]

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def declared(call: Callable[..., Any]) -> Iterator[Depends]:
    """The dependencies a callable declares: in ``Annotated`` metadata or as defaults."""
    try:
        hints = get_type_hints(
            call.__init__ if inspect.isclass(call) else call, include_extras=True
        )
    except (NameError, TypeError):
        hints = {}
    for name, parameter in inspect.signature(call).parameters.items():
        annotation = hints.get(name, parameter.annotation)
        if get_origin(annotation) is Annotated:
            yield from (meta for meta in get_args(annotation)[1:] if isinstance(meta, Depends))
        if isinstance(parameter.default, Depends):
            yield parameter.default


def needs_key(dependencies: Iterable[Depends]) -> bool:
    """Whether ``authenticate`` is among these dependencies, or theirs, at any depth."""
    return any(
        dependency.dependency is authenticate
        or (dependency.dependency is not None and needs_key(declared(dependency.dependency)))
        for dependency in dependencies
    )


class KeyCheckedFirst(APIRoute):
    """A route that, when it needs a key, checks it before FastAPI reads the body.

    FastAPI reads and parses a body before it runs a route's dependencies, so ``authenticate``
    alone would make the app read up to MAX_BODY_BYTES from a client without a key, and answer
    its malformed JSON with 422 instead of 401. A route needs a key when its endpoint, its
    ``dependencies`` or a dependency of theirs declares ``authenticate``; the dependency still
    runs, and documents the security scheme in OpenAPI.
    """

    def get_route_handler(self) -> Handler:
        handler: Handler = super().get_route_handler()
        if not needs_key([*self.dependencies, *declared(self.endpoint)]):
            return handler

        async def key_checked_first(request: Request) -> Response:
            settings = request.state.resources.settings
            presented = request.headers.get(API_KEY_HEADER)
            caller = caller_for(presented, settings.api_key_set)
            if caller is None:
                raise Unauthorized(presented)
            request.state.key_id = caller.key_id  # logged even if the body is then refused
            return await handler(request)

        return key_checked_first
