from pathlib import Path

import pytest

from app.core.config import InvalidSettings, load_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No setting inherited from the test container's own environment."""
    for name in ("POSTGRES_HOST", "POSTGRES_PASSWORD", "LOG_LEVEL", "DB_POOL_SIZE", "APP_VERSION"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_every_value_comes_from_the_environment(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("POSTGRES_HOST", "db.internal")
    clean_env.setenv("DB_POOL_SIZE", "12")
    clean_env.setenv("APP_VERSION", "1.2.3")

    settings = load_settings(secrets_dir=tmp_path)

    assert settings.postgres_host == "db.internal"
    assert settings.db_pool_size == 12
    assert settings.app_version == "1.2.3"


def test_a_secret_is_read_from_its_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "postgres_password").write_text("from-a-file")

    settings = load_settings(secrets_dir=tmp_path)

    assert settings.postgres_password.get_secret_value() == "from-a-file"
    assert settings.database_url.password == "from-a-file"
    # Never printed: a settings dump in a log must not leak it.
    assert "from-a-file" not in repr(settings)


def test_the_environment_wins_over_a_secrets_file(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "postgres_password").write_text("from-a-file")
    clean_env.setenv("POSTGRES_PASSWORD", "from-the-env")

    assert (
        load_settings(secrets_dir=tmp_path).postgres_password.get_secret_value() == "from-the-env"
    )


def test_a_missing_secrets_directory_is_not_an_error(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings(secrets_dir=Path("/nonexistent/secrets"))

    assert settings.postgres_password.get_secret_value() == ""
    assert settings.database_url.password is None


def test_an_invalid_value_fails_at_start_up_naming_the_setting(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("LOG_LEVEL", "LOUD")

    with pytest.raises(
        InvalidSettings, match="invalid Settings: LOG_LEVEL: Input should be"
    ) as raised:
        load_settings(secrets_dir=tmp_path)
    assert "LOUD" not in str(raised.value), "a value may be a secret: never echoed"
