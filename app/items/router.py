"""HTTP for items: status codes, headers and documentation; the work is in the service."""

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from app.core.config import Settings
from app.core.errors import problem_responses
from app.core.media import JSON, require_json
from app.core.security import require_api_key
from app.items.cache import ItemCache
from app.items.schemas import ItemCreate, ItemOut, ItemPage, ItemUpdate
from app.items.service import ItemService, Representation, parse_id

router = APIRouter(prefix="/items", tags=["items"])


def get_item_service(request: Request) -> ItemService:
    """One service per app, built on first use from the app's pools."""
    state = request.app.state
    service: ItemService | None = getattr(state, "item_service", None)
    if service is None:
        settings: Settings = state.settings
        cache = ItemCache(
            state.redis, state.redis_guard, settings.item_cache_ttl_seconds, settings.cache_enabled
        )
        service = state.item_service = ItemService(
            state.sessionmaker, state.read_sessionmaker, cache
        )
    return service


Service = Annotated[ItemService, Depends(get_item_service)]
WRITE = [Depends(require_api_key), Depends(require_json)]


def caching_headers(representation: Representation) -> dict[str, str]:
    # Clients may keep the item but must revalidate it: the ETag makes that a cheap 304.
    return {"ETag": representation.etag, "Cache-Control": "no-cache"}


def item_response(
    representation: Representation, status_code: int = 200, **headers: str
) -> Response:
    headers = caching_headers(representation) | headers
    return Response(representation.body, status_code, headers, media_type=JSON)


def weak_match(if_none_match: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes do not count."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.post(
    "",
    status_code=201,
    response_model=ItemOut,
    dependencies=WRITE,
    summary="Create an item",
    responses=problem_responses(401, 409, 413, 415, 422, 429, 503),
)
async def create_item(data: ItemCreate, request: Request, service: Service) -> Response:
    item_id, representation = await service.create(data)
    location = request.app.url_path_for("read_item", item_id=str(item_id))
    return item_response(representation, 201, Location=location)


@router.head("", include_in_schema=False)
@router.get(
    "",
    response_model=ItemPage,
    summary="List items, newest first",
    responses=problem_responses(422, 429, 503),
)
async def list_items(
    service: Service,
    limit: Annotated[int, Query(ge=1, le=100, description="items per page")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the page before")
    ] = None,
) -> Response:
    return Response(await service.page(limit, cursor), media_type=JSON)


@router.head("/{item_id}", include_in_schema=False)
@router.get(
    "/{item_id}",
    response_model=ItemOut,
    summary="Read an item",
    responses={
        304: {"description": "Not Modified: the If-None-Match tag is current"},
        **problem_responses(404, 429, 503),
    },
)
async def read_item(
    item_id: str,
    service: Service,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    representation = await service.read(parse_id(item_id))
    if if_none_match is not None and weak_match(if_none_match, representation.etag):
        return Response(status_code=304, headers=caching_headers(representation))
    return item_response(representation)


@router.patch(
    "/{item_id}",
    response_model=ItemOut,
    dependencies=WRITE,
    summary="Change some fields of an item",
    responses=problem_responses(401, 404, 409, 412, 413, 415, 422, 429, 503),
)
async def update_item(
    item_id: str,
    changes: ItemUpdate,
    service: Service,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    return item_response(await service.update(parse_id(item_id), changes, if_match))


@router.delete(
    "/{item_id}",
    status_code=204,
    dependencies=[Depends(require_api_key)],
    summary="Delete an item",
    responses=problem_responses(401, 404, 412, 429, 503),
)
async def delete_item(
    item_id: str,
    service: Service,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    await service.delete(parse_id(item_id), if_match)
    return Response(status_code=204)
