"""Settings: every value from the environment; secrets also from files in /run/secrets.

Docker and Compose mount secrets as files named after the setting (``postgres_password``), so
a password never has to live in the environment, the image or the Compose file.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from fastapi import Request
from pydantic import Field, PositiveFloat, PositiveInt, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

SECRETS_DIR = Path("/run/secrets")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Literal["production", "development", "test"] = "production"
    app_version: str = "dev"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    postgres_host: str = "localhost"
    postgres_port: PositiveInt = 5432
    postgres_user: str = "app"
    postgres_password: SecretStr = SecretStr("")
    postgres_db: str = "app"
    # Chosen on bench numbers: steady connections beat overflow ones, which are opened and
    # closed again under sustained load (each paying for authentication). Per worker process.
    db_pool_size: PositiveInt = 10
    db_max_overflow: int = Field(default=0, ge=0)
    db_pool_timeout_seconds: PositiveFloat = 5.0
    db_connect_timeout_seconds: PositiveFloat = 1.5
    db_statement_timeout_ms: PositiveInt = 5000

    redis_url: SecretStr = SecretStr("redis://localhost:6379/0")
    redis_socket_timeout_seconds: PositiveFloat = 1.0
    redis_max_connections: PositiveInt = 50
    # After a Redis failure, skip Redis for this long: an outage costs one timeout, not one
    # per request, and is logged once per period instead of once per call.
    redis_cooldown_seconds: PositiveFloat = 2.0

    health_check_timeout_seconds: float = Field(default=1.0, gt=0, le=1.0)

    # Keys accepted in X-API-Key for writes, comma-separated: several at once allow rotation.
    # A secret (the file /run/secrets/api_keys); with none configured, every write is refused.
    api_keys: SecretStr = SecretStr("")
    rate_limit_requests: PositiveInt = 100
    rate_limit_window_seconds: PositiveInt = 60
    max_body_bytes: PositiveInt = 1024 * 1024
    cache_enabled: bool = True
    item_cache_ttl_seconds: PositiveInt = 60

    @property
    def api_key_set(self) -> tuple[bytes, ...]:
        keys = self.api_keys.get_secret_value().split(",")
        return tuple(key.strip().encode() for key in keys if key.strip())

    @property
    def database_url(self) -> URL:
        return URL.create(
            "postgresql+asyncpg",
            username=self.postgres_user,
            password=self.postgres_password.get_secret_value() or None,
            host=self.postgres_host,
            port=self.postgres_port,
            database=self.postgres_db,
        )


def load_settings(secrets_dir: Path = SECRETS_DIR) -> Settings:
    """Read the settings; secrets files are consulted only where the directory exists."""
    return Settings(_secrets_dir=secrets_dir if secrets_dir.is_dir() else None)


@lru_cache
def get_settings() -> Settings:
    return load_settings()


def get_app_settings(request: Request) -> Settings:
    """FastAPI dependency: the settings the running app was built with."""
    settings: Settings = request.app.state.settings
    return settings
