"""TLS settings: how POSTGRES_SSL_MODE becomes asyncpg's ssl, and REDIS_SSL_CA_FILE redis-py's.
The real handshakes are make managed's (verify-full against a test CA)."""

import ssl
from pathlib import Path

import pytest

from app.core.config import BootstrapSettings, Settings
from app.core.database import postgres_ssl
from app.core.redis import redis_tls
from tests.unit.support import changed

CA = "/etc/ssl/certs/ca-certificates.crt"


@pytest.mark.parametrize(("mode", "expected"), [("disable", False), ("prefer", "prefer")])
def test_disable_and_prefer_are_asyncpgs_own(
    settings: Settings, mode: str, expected: object
) -> None:
    assert postgres_ssl(changed(settings, postgres_ssl_mode=mode)) == expected


def test_require_encrypts_without_checking(settings: Settings) -> None:
    context = postgres_ssl(changed(settings, postgres_ssl_mode="require"))
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname


def test_verify_full_checks_the_chain_and_the_name(settings: Settings) -> None:
    context = postgres_ssl(
        changed(settings, postgres_ssl_mode="verify-full", postgres_ssl_ca_file=CA)
    )
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.get_ca_certs()


def test_verify_full_with_a_missing_ca_file_fails_at_start_up(settings: Settings) -> None:
    with pytest.raises(FileNotFoundError):
        postgres_ssl(
            changed(
                settings, postgres_ssl_mode="verify-full", postgres_ssl_ca_file="/nonexistent.pem"
            )
        )


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="postgres_ssl_mode"):
        Settings(postgres_ssl_mode="allow")


def test_the_redis_ca_applies_to_rediss_urls_only(settings: Settings) -> None:
    with_ca = changed(settings, redis_ssl_ca_file=CA)
    assert redis_tls(with_ca, "rediss://cache:6380/0") == {"ssl_ca_certs": CA}
    assert redis_tls(with_ca, "redis://cache:6379/0") == {}
    assert redis_tls(settings, "rediss://cache:6380/0") == {}


def test_the_admin_url_comes_from_its_file_first(tmp_path: Path) -> None:
    url_file = tmp_path / "database_admin_url"
    url_file.write_text("postgresql://admin:from-file@db/postgres\n")
    bootstrap = BootstrapSettings(
        database_admin_url="postgresql://admin:from-env@db/postgres",
        database_admin_url_file=url_file,
    )
    assert bootstrap.admin_url() == "postgresql://admin:from-file@db/postgres"
    assert (
        BootstrapSettings(database_admin_url=" postgresql://a@b/c ").admin_url()
        == "postgresql://a@b/c"
    )
