"""HTTP for items: routes, status codes and documentation; the work is in ItemService."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, Security

from app.core.security import KeyCheckedFirst, authenticate
from app.items.schemas import ItemCreate, ItemOut, ItemPage, ItemUpdate
from app.items.service import ItemServiceDep, serialized
from app.kit.http import (
    API_PREFIX,
    IfMatch,
    IfNoneMatch,
    caching_headers,
    etag,
    representation,
    require_json,
)
from app.kit.problems import documented_errors

# An item's id is a UUID in the path itself: anything else matches no route (404).
router = APIRouter(prefix=f"{API_PREFIX}/items", tags=["items"], route_class=KeyCheckedFirst)

# Writes need an API key (checked before the body is read) and a JSON body.
NEEDS_KEY = [Security(authenticate)]
NEEDS_KEY_AND_JSON = [Security(authenticate), Depends(require_json)]


def with_etag(response: Response, item: ItemOut) -> ItemOut:
    response.headers.update(caching_headers(etag(serialized(item))))
    return item


@router.post(
    "",
    status_code=201,
    dependencies=NEEDS_KEY_AND_JSON,
    summary="Create an item",
    responses=documented_errors("create"),
)
async def create_item(
    data: ItemCreate, service: ItemServiceDep, request: Request, response: Response
) -> ItemOut:
    item = await service.create(data)
    response.headers["Location"] = request.app.url_path_for("read_item", item_id=str(item.id))
    return with_etag(response, item)


@router.head("", include_in_schema=False)
@router.get("", summary="List items, newest first", responses=documented_errors("list"))
async def list_items(
    service: ItemServiceDep,
    limit: Annotated[int, Query(ge=1, le=100, description="items per page")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the page before")
    ] = None,
) -> ItemPage:
    return await service.page(limit, cursor)


@router.head("/{item_id:uuid}", include_in_schema=False)
@router.get(
    "/{item_id:uuid}",
    response_model=ItemOut,
    summary="Read an item",
    responses=documented_errors("read"),
)
async def read_item(
    item_id: uuid.UUID, service: ItemServiceDep, if_none_match: IfNoneMatch = None
) -> Response:
    # The stored bytes themselves, so that the ETag names exactly what is sent.
    return representation(await service.read(item_id), if_none_match)


@router.patch(
    "/{item_id:uuid}",
    dependencies=NEEDS_KEY_AND_JSON,
    summary="Change some fields of an item",
    responses=documented_errors("update"),
)
async def update_item(
    item_id: uuid.UUID,
    changes: ItemUpdate,
    service: ItemServiceDep,
    response: Response,
    if_match: IfMatch = None,
) -> ItemOut:
    return with_etag(response, await service.update(item_id, changes, if_match))


@router.delete(
    "/{item_id:uuid}",
    status_code=204,
    dependencies=NEEDS_KEY,
    summary="Delete an item",
    responses=documented_errors("delete"),
)
async def delete_item(
    item_id: uuid.UUID, service: ItemServiceDep, if_match: IfMatch = None
) -> None:
    await service.delete(item_id, if_match)
