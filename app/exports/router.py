"""HTTP for exports: a resource starts one (``export_started``), and these routes show its state
and stream its result."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from app.core.errors import problem_responses
from app.core.media import JSON
from app.exports.models import Export
from app.exports.schemas import ExportOut
from app.exports.service import ExportServiceDep

router = APIRouter(prefix="/exports", tags=["exports"])

CSV = "text/csv; charset=utf-8; header=present"


def export_response(export: Export, status_code: int = 200, **headers: str) -> Response:
    body = ExportOut.model_validate(export).model_dump_json()
    return Response(body, status_code, headers, media_type=JSON)


def export_started(request: Request, export: Export) -> Response:
    """202 Accepted, with the export's representation and where to watch it."""
    location = request.app.url_path_for("read_export", export_id=str(export.id))
    return export_response(export, 202, Location=location)


@router.get(
    "/{export_id}",
    response_model=ExportOut,
    summary="An export's state and progress",
    responses=problem_responses(404, 429, 503),
)
async def read_export(export_id: str, exports: ExportServiceDep) -> Response:
    return export_response(await exports.read(export_id))


@router.get(
    "/{export_id}/download",
    summary="An export's CSV (RFC 4180, a header row), once it has succeeded",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **problem_responses(404, 409, 429, 503)},
)
async def download_export(export_id: str, exports: ExportServiceDep) -> StreamingResponse:
    export = await exports.read(export_id)
    chunks = await exports.result(export)
    filename = f"{export.kind}-{export.id}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if export.size_bytes is not None:
        headers["Content-Length"] = str(export.size_bytes)
    return StreamingResponse(chunks, media_type=CSV, headers=headers)
