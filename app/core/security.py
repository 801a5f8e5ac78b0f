"""Who is calling: API keys in the X-API-Key header, several valid at once so a key can be
rotated without downtime.

A route that needs a key declares it: ``caller: CurrentCaller`` when it uses the caller, or
``dependencies=[Security(authenticate)]`` when it does not (a dependency of the route may take
it too). The caller is the key's id from the key file (``ID:SCOPE:SECRET``, app/core/config.py),
never its secret: an id is safe to log (the access line carries it) and to record, and a
rotated secret keeps it. A ``read`` key is answered 403 on anything but GET and HEAD.

Routes of an ``APIRouter(route_class=KeyCheckedFirst)`` check the key before the body is read,
so a client without one gets 401 and never makes the app read or parse a body. Declare the key
on the route or its router, not in ``include_router(dependencies=...)``: a route checks only
what it declares. tests/unit/core/test_security.py holds every write route to this.
"""

import hmac
import inspect
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from fastapi import Request, Response, Security
from fastapi.params import Depends
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader

from app.core.config import ApiKey
from app.core.errors import ProblemError
from app.core.resources import SettingsDep

API_KEY_HEADER = "X-API-Key"

# auto_error=False: a missing key is answered by our own problem+json 401, not FastAPI's.
api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated client: the id of the key it presented, and that key's scope."""

    key_id: str
    scope: str = "write"


class Unauthorized(ProblemError):
    status = 401

    def __init__(self, presented: str | None) -> None:
        if presented:
            detail = "The API key is not valid."
        else:
            detail = f"This operation needs an API key in the {API_KEY_HEADER} header."
        super().__init__(detail, {"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'})


class Forbidden(ProblemError):
    status = 403

    def __init__(self) -> None:
        super().__init__("This API key may only read: writes need a key of scope write.")


READ_METHODS = frozenset({"GET", "HEAD"})


def caller_for(presented: str | None, keys: tuple[ApiKey, ...]) -> Caller | None:
    """The caller a presented key names, or None. Compares against every key in constant time,
    so timing reveals neither a key nor which one matched."""
    if not presented:
        return None
    candidate = presented.encode("utf-8", "surrogateescape")
    matched = None
    for key in keys:
        if hmac.compare_digest(candidate, key.secret):
            matched = key
    return None if matched is None else Caller(matched.key_id, matched.scope)


def checked(caller: Caller | None, presented: str | None, method: str) -> Caller:
    """The caller, if its key may do this: 401 without a valid key, 403 for a read key's write."""
    if caller is None:
        raise Unauthorized(presented)
    if caller.scope != "write" and method not in READ_METHODS:
        raise Forbidden
    return caller


async def authenticate(
    request: Request,
    presented: Annotated[str | None, Security(api_key_header)],
    settings: SettingsDep,
) -> Caller:
    caller = caller_for(presented, settings.api_key_set)
    if caller is not None:
        request.state.key_id = caller.key_id  # for the access line (app.core.middleware)
    return checked(caller, presented, request.method)


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
            if caller is not None:
                request.state.key_id = caller.key_id  # logged even if the body is then refused
            checked(caller, presented, request.method)
            return await handler(request)

        return key_checked_first
