"""One home per setting: every field of Settings (and of each resource's settings class) is
written once in .env.example, once in docs/configuration.md (generated from the settings classes
by scripts/settings_doc.py), and passed on by compose.yml; every variable Compose and the
Makefile read is written once in docs/deploy/compose.md's table; and nothing is documented there
that no code reads. A setting added in one place only fails here."""

import re
from pathlib import Path

from pydantic_settings import BaseSettings

from app.core.config import Settings, SettingsBase
from tests.unit.conftest import PROJECT_ROOT

# Read by Compose and the Makefile, not by the app: documented the same way, checked alike.
STACK_VARIABLES = {
    "COMPOSE_PROJECT_NAME",
    "APP_IMAGE",
    "PYTHON_IMAGE",
    "APP_HOST_IP",
    "APP_PORT",
    "EDGE_HOST_IP",
    "EDGE_PORT",
    "EDGE_SUBNET",
    "APP_CPUS",
    "APP_MEMORY",
    "WORKER_CPUS",
    "WORKER_MEMORY",
    "DB_MEMORY",
    "REDIS_MEMORY",
    "POSTGRES_HOST_PORT",
    "REDIS_HOST_PORT",
    "POSTGRES_SUPERUSER",
    "POSTGRES_OWNER",
    "POSTGRES_PASSWORD_FILE",
    "POSTGRES_OWNER_PASSWORD_FILE",
    "POSTGRES_SUPERUSER_PASSWORD_FILE",
    "POSTGRES_ADMIN",
    "POSTGRES_ADMIN_PASSWORD_FILE",
    "POSTGRES_ADMIN_URL_FILE",
    "API_KEYS_FILE",
    "REDIS_PASSWORD_FILE",
    "QUEUE_PRODUCER_PASSWORD_FILE",
    "QUEUE_WORKER_PASSWORD_FILE",
    "REDIS_ADMIN_PASSWORD_FILE",
    "REDIS_ACL_FILE",
    "QUEUE_ACL_FILE",
    "EDGE_CLIENT_HEADER_TIMEOUT",
    "EDGE_CLIENT_CONNECTIONS",
    "EDGE_CLIENT_RATE",
    "EDGE_CLIENT_BURST",
    "PROMETHEUS_IMAGE",
    "NGINX_IMAGE",
    "POSTGRES_IMAGE",
    "REDIS_IMAGE",
    "PROMETHEUS_PORT",
    "PROMETHEUS_CONFIG_FILE",
    "PROMETHEUS_RULES_FILE",
}
# Settings that compose.yml does not pass through, each for a reason.
NOT_PASSED_THROUGH = {
    "APP_VERSION": "set by the image's build argument",
    "POSTGRES_HOST": "fixed to the db service",
    "REDIS_URL": "fixed to the redis service",
    "QUEUE_REDIS_URL": "fixed to the queue service",
    "POSTGRES_PASSWORD": "a secret file (/run/secrets), never an environment variable",
    "API_KEYS": "a secret file (/run/secrets), never an environment variable",
    "REDIS_PASSWORD": "a secret file (/run/secrets), never an environment variable",
    "QUEUE_REDIS_PASSWORD": "a secret file (/run/secrets), never an environment variable",
    "DATABASE_ADMIN_URL": "a secret file (/run/secrets), the bootstrap service's only",
    "DATABASE_ADMIN_URL_FILE": "the bootstrap service reads the secret file instead",
    "POSTGRES_OWNER_PASSWORD": "a secret file (/run/secrets), the bootstrap service's only",
    "POSTGRES_OWNER": "the bootstrap service's own environment",
    "POSTGRES_OWNER_CREATEDB": "the bootstrap service's own environment",
}


def settings_classes() -> list[type[BaseSettings]]:
    """Settings, and every resource's class derived from SettingsBase (imported by the app)."""
    import app.main  # noqa: F401, PLC0415 - imports every resource, and so its settings

    def subclasses(cls: type[SettingsBase]) -> list[type[SettingsBase]]:
        return [c for sub in cls.__subclasses__() for c in (sub, *subclasses(sub))]

    return [c for c in subclasses(SettingsBase) if c.__module__.startswith("app.")]


def setting_names(classes: list[type[BaseSettings]] | None = None) -> set[str]:
    return {name.upper() for cls in classes or settings_classes() for name in cls.model_fields}


def read(name: str) -> str:
    return (PROJECT_ROOT / name).read_text()


def env_example_names() -> list[str]:
    """Each variable set or shown commented out (``# NAME=value``) in .env.example."""
    return re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", read(".env.example"), re.MULTILINE)


def first_column_names(table: str) -> list[str]:
    """The variables named in the first column of a markdown table's rows."""
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return [name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])]


def configuration_doc_names() -> list[str]:
    """The settings named in docs/configuration.md's tables (one per settings class)."""
    return first_column_names(read("docs/configuration.md"))


def stack_doc_names() -> list[str]:
    """The variables named in the table of docs/deploy/compose.md's "Variables" section."""
    section = read("docs/deploy/compose.md").split("\n## Variables\n", 1)[1]
    return first_column_names(section.split("\n## ", 1)[0])


def compose_environment_names() -> set[str]:
    """The keys of the x-app environment block in compose.yml (anchored, for migrate's)."""
    start = re.compile(r"^  environment:(?: &[\w-]+)?\n", re.MULTILINE)
    block = start.split(read("compose.yml"), maxsplit=1)[1]
    names = set()
    for line in block.splitlines():
        if not line.startswith("    "):
            break
        if match := re.match(r"^    ([A-Z][A-Z0-9_]+):", line):
            names.add(match.group(1))
    return names


def test_every_setting_is_in_env_example_exactly_once() -> None:
    names = env_example_names()

    assert sorted(setting_names() - set(names)) == []
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
    assert sorted(set(names) - setting_names() - STACK_VARIABLES) == []


def test_every_setting_is_in_the_configuration_doc_exactly_once() -> None:
    names = configuration_doc_names()

    assert sorted(setting_names() - set(names)) == []
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
    assert sorted(set(names) - setting_names()) == []


def test_every_stack_variable_is_in_the_compose_doc_exactly_once() -> None:
    names = stack_doc_names()

    assert sorted(STACK_VARIABLES - set(names)) == []
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
    assert sorted(set(names) - STACK_VARIABLES) == []


def test_compose_passes_every_setting_to_the_app() -> None:
    passed = compose_environment_names()

    assert sorted(setting_names() - passed - set(NOT_PASSED_THROUGH)) == []
    assert sorted(passed - setting_names()) == []


def test_the_secrets_reach_the_app_as_files() -> None:
    compose = read("compose.yml")

    for secret in ("postgres_password", "api_keys", "redis_password"):
        assert f"{secret}:" in compose.split("\nsecrets:", 1)[1]
        assert secret in Settings.model_fields


def test_this_check_sees_a_setting_added_in_one_place_only() -> None:
    """The checks above are not vacuous: a setting unknown to the documents is reported."""

    class Planted(BaseSettings):
        planted_setting_for_the_test: int = 1

    names = setting_names([*settings_classes(), Planted])

    assert "PLANTED_SETTING_FOR_THE_TEST" in names - set(env_example_names())
    assert "PLANTED_SETTING_FOR_THE_TEST" in names - set(configuration_doc_names())
    assert "PLANTED_SETTING_FOR_THE_TEST" in names - compose_environment_names()


def test_the_readers_find_the_tables() -> None:
    assert len(configuration_doc_names()) > 20
    assert len(stack_doc_names()) > 10
    assert len(env_example_names()) > 20
    assert len(compose_environment_names()) > 20
    assert Path(PROJECT_ROOT / ".env.example").is_file()
