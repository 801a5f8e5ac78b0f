import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ExportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    status: Literal["queued", "running", "succeeded", "failed"]
    attempts: int
    rows: int = Field(description="rows written so far; all of them once succeeded")
    size_bytes: int | None
    error: str | None = Field(description="why it failed")
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
