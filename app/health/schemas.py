"""application/health+json bodies (IETF draft-inadarei-api-health-check)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

HEALTH_JSON = "application/health+json"

# "warn": the check failed, but the process still serves (the cache: reads fall back to Postgres,
# the rate limiter fails open), so readiness stays 200 and says so (draft-inadarei: 2xx, "warn").
Status = Literal["pass", "warn", "fail"]


class CheckResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    component_type: Literal["datastore"] = Field("datastore", alias="componentType")
    status: Status
    observed_value: float = Field(alias="observedValue", description="latency of the probe")
    observed_unit: Literal["ms"] = Field("ms", alias="observedUnit")
    time: datetime
    output: str | None = Field(None, description="why the check failed")


class Liveness(BaseModel):
    status: Status
    version: str


class Readiness(BaseModel):
    status: Status
    version: str
    checks: dict[str, list[CheckResult]]
