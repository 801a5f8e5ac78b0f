"""The exports' own settings (environment, or a file in /run/secrets)."""

from pydantic import Field, PositiveFloat, PositiveInt

from app.core.config import SettingsBase


class ExportSettings(SettingsBase):
    # A finished export's result is deleted this long after it finished (hourly, by the
    # scheduler).
    export_retention_hours: PositiveInt = 24
    # A result larger than this fails the export (with the reason) instead of filling Postgres.
    export_max_bytes: PositiveInt = 50 * 1024 * 1024
    # Rows read from Postgres, and written out, per batch.
    export_batch_rows: PositiveInt = 1000
    # Transient failures (Postgres or Redis away) are retried this many times in all, with
    # exponential backoff from the base delay and jitter; then the export fails.
    export_max_attempts: PositiveInt = 5
    export_retry_base_seconds: PositiveFloat = 1.0
    # An export still queued, or running, this long after its last change has lost its
    # message (or its worker): the sweeper enqueues it again.
    export_stuck_seconds: PositiveInt = 300
    # Exports queued or running at once for one API key id; one more is 429 with Retry-After.
    export_max_active_per_key: PositiveInt = 3
    # A succeeded export of the same kind at most this old is answered again (200) instead of
    # a new one being made: the table scanned once, whoever asks. 0: always a new one.
    export_reuse_seconds: int = Field(default=60, ge=0)
    # All stored results together: past it, a new export is 503 with Retry-After until the
    # hourly retention has deleted old ones (a running export can pass it by EXPORT_MAX_BYTES).
    export_storage_max_bytes: PositiveInt = 1024 * 1024 * 1024
