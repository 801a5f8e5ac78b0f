"""Settings: every value from the environment; secrets also from files in /run/secrets.

Docker and Compose mount secrets as files named after the setting (``postgres_password``), so
a password never has to live in the environment, the image or the Compose file. This is the
one home of each core setting and its default: gunicorn.conf.py, Compose, .env.example and
docs/configuration.md take them from here (tests/unit/test_settings_documented.py holds them
together). A resource's own settings live in its package, on a class derived from
``SettingsBase``.
"""

import ipaddress
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import (
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL

SECRETS_DIR = Path("/run/secrets")


class InvalidSettings(ValueError):
    """Settings that cannot be used, each named by its environment variable: raised at start-up,
    so a bad value stops the process before it serves."""

    def __init__(self, error: ValidationError) -> None:
        problems = [
            f"{'.'.join(str(part) for part in problem['loc']).upper()}: {problem['msg']}"
            for problem in error.errors(include_input=False, include_url=False)
        ]
        super().__init__(f"invalid {error.title}: " + "; ".join(problems))


API_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
API_KEY_SCOPES = ("read", "write")
API_KEY_MIN_LENGTH = 32
# A secret of fewer distinct characters is a word or a pattern, not random ("aaaa...",
# "passwordpassword..."): a random one of 32 hex digits has about 14.
API_KEY_MIN_DISTINCT = 10


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One entry of the key file: who (``key_id``), what it may do (``scope``), its secret."""

    key_id: str
    scope: Literal["read", "write"]
    secret: bytes


def parse_api_keys(setting: str) -> tuple[ApiKey, ...]:
    """``ID:SCOPE:SECRET`` entries, comma-separated. A malformed entry raises ValueError naming
    its position and id, never its secret."""
    keys = []
    for position, entry in enumerate((e.strip() for e in setting.split(",") if e.strip()), 1):
        parts = entry.split(":", 2)
        if len(parts) != 3:
            raise ValueError(f"key {position} is not ID:SCOPE:SECRET")
        key_id, scope, secret = parts
        if not API_KEY_ID.fullmatch(key_id):
            raise ValueError(f"key {position}: its id must be 1 to 64 of A-Z a-z 0-9 _ . -")
        if scope not in API_KEY_SCOPES:
            raise ValueError(f"key {key_id!r}: its scope must be read or write")
        if len(secret) < API_KEY_MIN_LENGTH or len(set(secret)) < API_KEY_MIN_DISTINCT:
            raise ValueError(
                f"key {key_id!r}: its secret must be at least {API_KEY_MIN_LENGTH} characters"
                " of a random secret (`make config` makes one: openssl rand -hex 32)"
            )
        keys.append(ApiKey(key_id, "read" if scope == "read" else "write", secret.encode()))
    return tuple(keys)


class SettingsBase(BaseSettings):
    """What every settings class shares: the environment first, then secret files."""

    # An empty variable (`WEB_CONCURRENCY=` in .env) means unset: the default applies.
    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)

    @classmethod
    def load(cls, secrets_dir: Path = SECRETS_DIR) -> Self:
        """Read the settings; secret files are consulted only where the directory exists. A bad
        value raises InvalidSettings, naming each setting (never its value: it may be secret)."""
        try:
            return cls(_secrets_dir=secrets_dir if secrets_dir.is_dir() else None)
        except ValidationError as error:
            raise InvalidSettings(error) from None


class Settings(SettingsBase):
    environment: Literal["production", "development", "test"] = "production"
    # Set by the image (the Dockerfile's APP_VERSION build argument); shown by /health/*.
    app_version: str = "dev"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # The production server (gunicorn.conf.py). A container listens on all its interfaces.
    bind: str = "0.0.0.0:8000"
    # Server processes (gunicorn calls them workers); None = one per CPU the container may use.
    web_concurrency: PositiveInt | None = None
    # On SIGTERM, server processes stop accepting and get this long to finish in-flight requests.
    # Keep it below the orchestrator's grace period (Compose: stop_grace_period).
    graceful_timeout: PositiveInt = 20
    # On SIGTERM, first drain: /health/ready answers 503 at once while every request, in
    # flight or new, is still served, for this long; only then does the process stop accepting.
    # Longer than the edge's DNS cache (2 s), so the edge has stopped sending new requests
    # before the listener closes. 0 turns draining off. gunicorn's graceful timeout counts from
    # SIGTERM, drain included: drain_seconds plus the longest request stays below it.
    drain_seconds: float = Field(default=5.0, ge=0)
    # A server process silent for this long is killed and replaced (gunicorn's timeout).
    worker_timeout: PositiveInt = 30
    # Idle keep-alive connections close after this many seconds: longer than the idle timeout
    # of the load balancers in front (ALB: 60 s), so a balancer never reuses a connection the
    # app has just closed (sporadic 502s).
    keepalive: PositiveInt = 75
    # Where server processes keep gunicorn's heartbeat file: writable and RAM-backed (the root
    # is read-only).
    worker_tmp_dir: str = "/tmp"  # noqa: S108 - a tmpfs by design
    # Proxies whose X-Forwarded-For/-Proto are trusted: comma-separated addresses or networks
    # (CIDR). The client is the right-most address in X-Forwarded-For that is not one of them.
    forwarded_allow_ips: str = "127.0.0.1"
    # Request lines, headers and slow clients are bounded by what fronts the app (the edge, the
    # load balancer, the ingress): docs/architecture.md, "What bounds a hostile client".

    # Connections per server process; past it, new requests are answered 503 at once.
    max_connections_per_worker: PositiveInt = 4096
    # Host headers the app answers ("*": any); others get 400. Health endpoints answer any, as
    # orchestrators probe them by address.
    allowed_hosts: str = "*"
    # /docs, /redoc and /openapi.json; unset = on in development only.
    docs_enabled: bool | None = None

    postgres_host: str = "localhost"
    postgres_port: PositiveInt = 5432
    postgres_user: str = "app"
    postgres_password: SecretStr = SecretStr("")
    postgres_db: str = "app"
    # TLS to Postgres: "disable"; "prefer" (TLS if the server offers it, unverified: the Compose
    # stack's); "require" (TLS, unverified); "verify-full" (TLS, the server's certificate
    # checked against POSTGRES_SSL_CA_FILE and its name against POSTGRES_HOST: production's).
    postgres_ssl_mode: Literal["disable", "prefer", "require", "verify-full"] = "prefer"
    # The CA bundle verify-full trusts (PEM): the RDS global bundle, Cloud SQL's server CA.
    # Unset: the system's trusted CAs.
    postgres_ssl_ca_file: Path | None = None
    # Per server process. Steady connections, no overflow: an overflow connection is opened and
    # closed again under sustained load, each time paying for authentication.
    db_pool_size: PositiveInt = 10
    db_max_overflow: int = Field(default=0, ge=0)
    db_pool_timeout_seconds: PositiveFloat = 5.0
    db_connect_timeout_seconds: PositiveFloat = 1.5
    db_statement_timeout_ms: PositiveInt = 5000

    # rediss:// for TLS, whose server certificate is then always verified (host name included).
    redis_url: SecretStr = SecretStr("redis://localhost:6379/0")
    # REDIS_URL names a node of a Redis Cluster (ElastiCache cluster mode, Memorystore Cluster):
    # the client follows the cluster's slots. Not for the queue store, which needs one node.
    redis_cluster: bool = False
    # A secret (the file /run/secrets/redis_password): the password of redis_url's user (the
    # cache's, redis://app@redis/0 under Compose); empty: none, or the one in redis_url.
    redis_password: SecretStr = SecretStr("")
    # The CA bundle (PEM) that rediss:// URLs (REDIS_URL, QUEUE_REDIS_URL) trust; unset: the
    # system's trusted CAs.
    redis_ssl_ca_file: Path | None = None
    redis_socket_timeout_seconds: PositiveFloat = 1.0
    redis_max_connections: PositiveInt = 50
    # After a Redis failure, skip Redis for this long: an outage costs one timeout, not one
    # per request, and is logged once per period instead of once per call.
    redis_cooldown_seconds: PositiveFloat = 2.0

    # The queue store (app/worker/broker.py): a Redis of its own, persistent and never evicting.
    # Its user names the role: the app and the scheduler send jobs as one user, the worker
    # takes them as another (redis://producer@queue/0, redis://worker@queue/0 under Compose).
    queue_redis_url: SecretStr = SecretStr("redis://localhost:6379/1")
    # A secret (the file /run/secrets/queue_redis_password): the password of that user; empty:
    # none, or the one in queue_redis_url.
    queue_redis_password: SecretStr = SecretStr("")

    health_check_timeout_seconds: float = Field(default=1.0, gt=0, le=1.0)

    # Keys accepted in X-API-Key, comma-separated, each ID:SCOPE:SECRET (docs/operations.md):
    # ID names the caller (logged, recorded), SCOPE is read or write, SECRET is what the
    # client sends, at least 32 characters of a random secret. One ID may hold two secrets
    # while it is rotated. A secret (the file /run/secrets/api_keys); with none configured,
    # every write is refused.
    api_keys: SecretStr = SecretStr("")
    rate_limit_requests: PositiveInt = 100
    rate_limit_window_seconds: PositiveInt = 60
    max_body_bytes: PositiveInt = 1024 * 1024
    # Resources' reads served from Redis (each resource sets its own time to live).
    cache_enabled: bool = True

    # Prometheus metrics (app/observability): counted in every process, served on their own
    # port (never the public one): by gunicorn's master for all its server processes, and by
    # the job worker for itself.
    metrics_enabled: bool = True
    metrics_port: int = Field(default=9464, ge=1, le=65535)
    # Traces (OpenTelemetry): off unless an OTLP/HTTP collector is named, e.g.
    # http://otel-collector:4318 (the SDK's own variable; /v1/traces is appended).
    otel_exporter_otlp_endpoint: str | None = None
    # The traces' service.name (the version is APP_VERSION).
    otel_service_name: str = "fastapi-starter"

    @field_validator("api_keys")
    @classmethod
    def api_keys_are_well_formed(cls, value: SecretStr) -> SecretStr:
        parse_api_keys(value.get_secret_value())
        return value

    @cached_property
    def api_key_set(self) -> tuple[ApiKey, ...]:
        """The accepted keys, parsed once."""
        return parse_api_keys(self.api_keys.get_secret_value())

    @property
    def trusted_proxies(self) -> str:
        """FORWARDED_ALLOW_IPS with each IPv4 address or network also in its IPv4-mapped IPv6
        form (``::ffff:10.0.0.0/104`` beside ``10.0.0.0/8``): a proxy, or a forwarded address,
        seen through a dual-stack socket is the same host, and trusted alike."""
        entries = [entry.strip() for entry in self.forwarded_allow_ips.split(",") if entry.strip()]
        mapped = []
        for entry in entries:
            try:
                network = ipaddress.IPv4Network(entry, strict=False)
            except ValueError:
                continue  # IPv6, "*", or a name: as it is
            mapped.append(f"::ffff:{network.network_address}/{96 + network.prefixlen}")
        return ",".join([*entries, *mapped])

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


class BootstrapSettings(SettingsBase):
    """``python -m app bootstrap-db`` (app/core/bootstrap.py): the one-off step that creates the
    database's roles as a managed platform's admin. With Settings' POSTGRES_USER (the app's
    role), POSTGRES_PASSWORD, POSTGRES_DB and the TLS settings."""

    # The admin's URL, postgresql://user:password@host:port/database[?sslmode=...&sslrootcert=...]:
    # a role with CREATEROLE and CREATEDB, not a superuser (RDS's master user, Cloud SQL's
    # postgres). A secret (the file /run/secrets/database_admin_url).
    database_admin_url: SecretStr = SecretStr("")
    # A file that holds the admin's URL instead (a platform's own secret mount).
    database_admin_url_file: Path | None = None
    # The role that owns the database, its schema and its tables: migrations connect as it.
    postgres_owner: str = "app_owner"
    # Its password: a secret (the file /run/secrets/postgres_owner_password).
    postgres_owner_password: SecretStr = SecretStr("")
    # Whether the owner may create databases (the test stack's: its tests create their own).
    postgres_owner_createdb: bool = False

    def admin_url(self) -> str:
        """The admin's URL, from DATABASE_ADMIN_URL_FILE when set, else DATABASE_ADMIN_URL."""
        if self.database_admin_url_file is not None:
            return self.database_admin_url_file.read_text().strip()
        return self.database_admin_url.get_secret_value().strip()


def load_settings(secrets_dir: Path = SECRETS_DIR) -> Settings:
    return Settings.load(secrets_dir)


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once (the app factory, gunicorn, Alembic)."""
    return load_settings()
