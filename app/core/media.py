"""Request bodies are JSON: anything else is refused with 415 before the body is parsed."""

from typing import Annotated

from fastapi import Header

from app.core.errors import ProblemError

JSON = "application/json"


class UnsupportedMediaType(ProblemError):
    status = 415


async def require_json(
    content_type: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    """FastAPI dependency for endpoints that take a body: application/json or any +json type."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != JSON and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaType(f"Send the body as {JSON}.")
