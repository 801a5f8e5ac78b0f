"""API keys for writes: several may be valid at once, so a key can be rotated without downtime."""

import hmac
from typing import Annotated

from fastapi import Security
from fastapi.security import APIKeyHeader

from app.core.errors import ProblemError
from app.core.resources import SettingsDep

API_KEY_HEADER = "X-API-Key"

# auto_error=False: a missing key is answered by our own problem+json 401, not FastAPI's.
api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)


class Unauthorized(ProblemError):
    status = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail, {"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'})

    @classmethod
    def for_key(cls, presented: str | None) -> "Unauthorized":
        """The refusal of a missing or invalid key."""
        if not presented:
            return cls(f"This operation needs an API key in the {API_KEY_HEADER} header.")
        return cls("The API key is not valid.")


def is_valid_api_key(presented: str | None, keys: tuple[bytes, ...]) -> bool:
    """Compares against every key in constant time, so timing reveals neither key nor match."""
    if not presented:
        return False
    candidate = presented.encode("utf-8", "surrogateescape")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(candidate, key)
    return matched


async def require_api_key(
    presented: Annotated[str | None, Security(api_key_header)],
    settings: SettingsDep,
) -> None:
    """FastAPI dependency for write endpoints."""
    if not is_valid_api_key(presented, settings.api_key_set):
        raise Unauthorized.for_key(presented)
