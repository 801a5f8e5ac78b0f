"""This project's rules for ECS task definitions, as checkov checks (make lint-deploy runs them
with --external-checks-dir deploy/checkov).

checkov's own CloudFormation checks say nothing about a container's user, root filesystem or
environment (its Terraform ones do); these say what compose.yml and the Kubernetes manifests
say, for every container of every task definition:

- CKV_FASTAPI_1: it runs as a numeric non-root uid (the image's 10001), never as root;
- CKV_FASTAPI_2: its root filesystem is read-only;
- CKV_FASTAPI_3: the secret settings come from Secrets Manager (`Secrets`, `ValueFrom`), never
  as plain `Environment` values, and POSTGRES_PASSWORD is among them (every process connects);
- CKV_FASTAPI_4: it drops every Linux capability.
"""

from __future__ import annotations

from typing import Any

from checkov.cloudformation.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult

# The settings that are secrets (app/core/config.py: SecretStr, or files in /run/secrets).
SECRET_SETTINGS = {
    "POSTGRES_PASSWORD",
    "API_KEYS",
    "REDIS_URL",
    "QUEUE_REDIS_URL",
    "REDIS_PASSWORD",
}


def containers(conf: dict[str, Any]) -> list[dict[str, Any]]:
    found = conf.get("Properties", {}).get("ContainerDefinitions", [])
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def names(entries: object) -> set[str]:
    if not isinstance(entries, list):
        return set()
    return {str(e.get("Name")) for e in entries if isinstance(e, dict)}


class TaskDefinitionCheck(BaseResourceCheck):  # type: ignore[misc]
    def __init__(self, check_id: str, name: str) -> None:
        super().__init__(
            name=name,
            id=check_id,
            categories=[CheckCategories.GENERAL_SECURITY],
            supported_resources=["AWS::ECS::TaskDefinition"],
        )

    def container_passes(self, container: dict[str, Any]) -> bool:
        raise NotImplementedError

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        found = containers(conf)
        if found and all(self.container_passes(c) for c in found):
            return CheckResult.PASSED
        return CheckResult.FAILED


class NonRootUser(TaskDefinitionCheck):
    def __init__(self) -> None:
        super().__init__("CKV_FASTAPI_1", "ECS containers run as the image's numeric non-root uid")

    def container_passes(self, container: dict[str, Any]) -> bool:
        user = str(container.get("User", "")).split(":", 1)[0]
        return user.isdigit() and int(user) != 0


class ReadOnlyRoot(TaskDefinitionCheck):
    def __init__(self) -> None:
        super().__init__("CKV_FASTAPI_2", "ECS containers have a read-only root filesystem")

    def container_passes(self, container: dict[str, Any]) -> bool:
        return container.get("ReadonlyRootFilesystem") in (True, "true")


class SecretsByReference(TaskDefinitionCheck):
    def __init__(self) -> None:
        super().__init__(
            "CKV_FASTAPI_3",
            "ECS containers take secret settings from Secrets Manager only (POSTGRES_PASSWORD too)",
        )

    def container_passes(self, container: dict[str, Any]) -> bool:
        plain = names(container.get("Environment")) & SECRET_SETTINGS
        referenced = names(container.get("Secrets"))
        return not plain and "POSTGRES_PASSWORD" in referenced


class CapabilitiesDropped(TaskDefinitionCheck):
    def __init__(self) -> None:
        super().__init__("CKV_FASTAPI_4", "ECS containers drop every Linux capability")

    def container_passes(self, container: dict[str, Any]) -> bool:
        parameters = container.get("LinuxParameters")
        capabilities = parameters.get("Capabilities") if isinstance(parameters, dict) else None
        dropped = capabilities.get("Drop") if isinstance(capabilities, dict) else None
        return isinstance(dropped, list) and "ALL" in dropped


checks = [NonRootUser(), ReadOnlyRoot(), SecretsByReference(), CapabilitiesDropped()]
