"""HTTP for exports: ``POST /api/v1/{kind}/exports`` starts one for each kind in the registry,
and these routes show its state and stream its result."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from app.core.errors import problem_responses
from app.core.security import CurrentCaller, KeyCheckedFirst
from app.exports.models import Export
from app.exports.registry import EXPORTS
from app.exports.schemas import ExportOut
from app.exports.service import ExportServiceDep
from app.kit.http import API_PREFIX, JSON

router = APIRouter(prefix=API_PREFIX, tags=["exports"], route_class=KeyCheckedFirst)

CSV = "text/csv; charset=utf-8; header=present"


def export_response(export: Export, status_code: int = 200, **headers: str) -> Response:
    body = ExportOut.model_validate(export).model_dump_json()
    return Response(body, status_code, headers, media_type=JSON)


def start_route(kind: str) -> None:
    async def start_export(
        request: Request, exports: ExportServiceDep, caller: CurrentCaller
    ) -> Response:
        """202 Accepted, with the export's representation and where to watch it; or 200 with
        a succeeded export of the same kind younger than EXPORT_REUSE_SECONDS, reused. At most
        EXPORT_MAX_ACTIVE_PER_KEY exports queued or running per API key: 429 past it."""
        started = await exports.start(kind, caller.key_id)
        export = started.export
        location = request.app.url_path_for("read_export", export_id=str(export.id))
        return export_response(export, 200 if started.reused else 202, Location=location)

    router.add_api_route(
        f"/{kind}/exports",
        start_export,
        methods=["POST"],
        name=f"export_{kind}",
        status_code=202,
        response_model=ExportOut,
        summary=f"Export every {kind} row as CSV, off the request path",
        responses={
            200: {"description": "A recent export, reused", "model": ExportOut},
            **problem_responses(401, 403, 429, 503),
        },
    )


for exported in EXPORTS:
    start_route(exported)


@router.get(
    "/exports/{export_id}",
    response_model=ExportOut,
    summary="An export's state and progress",
    responses=problem_responses(404, 429, 503),
)
async def read_export(export_id: str, exports: ExportServiceDep) -> Response:
    return export_response(await exports.read(export_id))


@router.get(
    "/exports/{export_id}/download",
    summary="An export's CSV (RFC 4180, a header row), once it has succeeded",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **problem_responses(404, 409, 429, 503)},
)
async def download_export(export_id: str, exports: ExportServiceDep) -> StreamingResponse:
    export = await exports.read(export_id)
    chunks = await exports.result(export)
    filename = f"{export.kind}-{export.id}.csv"
    # Saved, never shown inline; kept by no cache on the way (it is the whole table).
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }
    if export.size_bytes is not None:
        headers["Content-Length"] = str(export.size_bytes)
    return StreamingResponse(chunks, media_type=CSV, headers=headers)
