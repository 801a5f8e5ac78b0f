"""HTTP for items: routes, status codes and documentation; the work is in the kit's service."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.core.errors import problem_responses
from app.core.media import JSON, require_json
from app.core.read_ahead import reads_ahead
from app.core.security import require_api_key
from app.exports.router import export_started
from app.exports.schemas import ExportOut
from app.exports.service import ExportServiceDep
from app.items.export import ITEM_EXPORT
from app.items.schemas import ItemCreate, ItemOut, ItemPage, ItemUpdate
from app.items.service import CACHE_NAMESPACE, ItemServiceDep
from app.kit.cache import read_path
from app.kit.conditional import ReadConditions, WriteConditions, representation_response
from app.kit.errors import documented_errors

# An item's id is a UUID in the path itself: anything else matches no route (404), and
# /items/exports is not taken for an item's id.
router = APIRouter(prefix="/items", tags=["items"])
# A cached read's Redis lookup rides on the rate limiter's round trip (app/core/read_ahead.py).
reads_ahead(read_path(router.prefix, CACHE_NAMESPACE))

WRITE = [Depends(require_api_key), Depends(require_json)]


@router.post(
    "",
    status_code=201,
    response_model=ItemOut,
    dependencies=WRITE,
    summary="Create an item",
    responses=documented_errors("create"),
)
async def create_item(data: ItemCreate, request: Request, service: ItemServiceDep) -> Response:
    item_id, representation = await service.create(data.model_dump())
    location = request.app.url_path_for("read_item", item_id=str(item_id))
    return representation_response(representation, status_code=201, Location=location)


@router.head("", include_in_schema=False)
@router.get(
    "",
    response_model=ItemPage,
    summary="List items, newest first",
    responses=documented_errors("list"),
)
async def list_items(
    service: ItemServiceDep,
    limit: Annotated[int, Query(ge=1, le=100, description="items per page")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the page before")
    ] = None,
) -> Response:
    return Response(await service.page(limit, cursor), media_type=JSON)


@router.head("/{item_id:uuid}", include_in_schema=False)
@router.get(
    "/{item_id:uuid}",
    response_model=ItemOut,
    summary="Read an item",
    responses=documented_errors("read"),
)
async def read_item(
    item_id: uuid.UUID, service: ItemServiceDep, conditions: ReadConditions
) -> Response:
    return representation_response(await service.read(str(item_id)), conditions)


@router.patch(
    "/{item_id:uuid}",
    response_model=ItemOut,
    dependencies=WRITE,
    summary="Change some fields of an item",
    responses=documented_errors("update"),
)
async def update_item(
    item_id: uuid.UUID, changes: ItemUpdate, service: ItemServiceDep, conditions: WriteConditions
) -> Response:
    values = changes.model_dump(exclude_unset=True)
    return representation_response(await service.update(str(item_id), values, conditions))


@router.delete(
    "/{item_id:uuid}",
    status_code=204,
    dependencies=[Depends(require_api_key)],
    summary="Delete an item",
    responses=documented_errors("delete"),
)
async def delete_item(
    item_id: uuid.UUID, service: ItemServiceDep, conditions: WriteConditions
) -> Response:
    await service.delete(str(item_id), conditions)
    return Response(status_code=204)


@router.post(
    "/exports",
    status_code=202,
    response_model=ExportOut,
    dependencies=[Depends(require_api_key)],
    summary="Export every item as CSV, off the request path",
    responses=problem_responses(401, 429, 503),
)
async def export_items(request: Request, exports: ExportServiceDep) -> Response:
    return export_started(request, await exports.start(ITEM_EXPORT.kind))
