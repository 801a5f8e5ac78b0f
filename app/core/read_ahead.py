"""Read-ahead: a Redis read that a request is known to need, made in the rate limiter's round
trip instead of a round trip of its own.

A cached read used to cost two Redis commands, the limiter's count and then the cache read, and
redis-py's per-command cost is most of what separated the cached read from its floor
(bench/README.md, "one Redis round trip per cached read"). A resource whose read follows from
the path alone registers a rule with ``reads_ahead``; the limiter then counts and reads in one
script, and the reader takes the value with ``take`` instead of asking Redis again.

Only what the reader would have read a moment later is read ahead, and the reader still decides
whether to read at all (cache off, Redis known down, a write of that row pending). A rule that
matches a path no reader serves costs a wasted read, never a wrong answer: the value is taken
only by a reader asking for that very key, in that very request.
"""

from collections.abc import Callable
from contextvars import ContextVar, Token

from starlette.types import Scope

# A request path → the Redis hash key and field its reader will read, or None.
KeyOfPath = Callable[[str], tuple[str, str] | None]
ReadAheadToken = Token[tuple[str, bytes | None] | None]

READS = frozenset({"GET", "HEAD"})
_rules: list[KeyOfPath] = []


def reads_ahead(rule: KeyOfPath) -> None:
    """Registers a rule (a resource's module does, next to its routes)."""
    _rules.append(rule)


def key_for(scope: Scope) -> tuple[str, str] | None:
    """What this request's reader will read from Redis, if a rule knows."""
    if scope["method"] not in READS:
        return None
    path: str = scope["path"]
    for rule in _rules:
        if (key := rule(path)) is not None:
            return key
    return None


# What was read ahead for the request being served: its key, and the value (None: not there).
_read: ContextVar[tuple[str, bytes | None] | None] = ContextVar("read_ahead", default=None)


def keep(key: str, value: bytes | None) -> ReadAheadToken:
    """The limiter's side: the value read ahead, for this request's reader (``forget`` it once
    the request is served)."""
    return _read.set((key, value))


def forget(token: ReadAheadToken) -> None:
    _read.reset(token)


def take(key: str) -> tuple[bool, bytes | None]:
    """The reader's side: whether ``key`` was read ahead for this request, and its value."""
    kept = _read.get()
    if kept is None or kept[0] != key:
        return False, None
    return True, kept[1]
