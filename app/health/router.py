"""Liveness and readiness, probed by Docker, Compose, load balancers and orchestrators."""

import functools

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.core import drain
from app.core.resources import SettingsDep
from app.health.schemas import HEALTH_JSON, Liveness, Readiness, Status
from app.health.service import ReadinessDep

router = APIRouter(prefix="/health", tags=["health"])


class HealthResponse(JSONResponse):
    media_type = HEALTH_JSON


def health_json(body: BaseModel, status_code: int = 200) -> HealthResponse:
    return HealthResponse(body.model_dump(mode="json", exclude_none=True), status_code)


@router.head("/live", include_in_schema=False)
@router.get(
    "/live",
    summary="Liveness: the process answers",
    response_class=HealthResponse,
    response_model=Liveness,
)
async def live(request: Request) -> Response:
    """Touches no dependency, so an outage of Postgres or Redis never restarts the app. Probed
    constantly: it reads the version from the request's state itself, since a dependency here
    costs about a quarter of its throughput (docs/decisions, 0004)."""
    version: str = request.state.resources.settings.app_version
    return Response(liveness_body(version), media_type=HEALTH_JSON)


@functools.cache
def liveness_body(version: str) -> bytes:
    """The answer never changes while the process lives: serialized once, not per probe."""
    return Liveness(status="pass", version=version).model_dump_json().encode()


@router.head("/ready", include_in_schema=False)
@router.get(
    "/ready",
    summary="Readiness: Postgres answers (Redis is reported, never fails it)",
    response_class=HealthResponse,
    response_model=Readiness,
    responses={
        503: {
            "model": Readiness,
            "description": "Postgres failed its check, or the process is draining",
        }
    },
)
async def ready(settings: SettingsDep, readiness: ReadinessDep) -> HealthResponse:
    if drain.draining.is_set():
        # Going away (SIGTERM): not ready, whatever the dependencies say, and no need to ask them.
        body = Readiness(status="fail", version=settings.app_version, checks={})
        return health_json(body, 503)
    checks = await readiness.check()
    statuses = {result.status for results in checks.values() for result in results}
    # The worst check decides: "fail" (503) only from a check the app cannot serve without.
    status: Status = "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
    body = Readiness(status=status, version=settings.app_version, checks=checks)
    return health_json(body, 503 if status == "fail" else 200)
