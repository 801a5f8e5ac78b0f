"""This project's rule for its Kubernetes workloads that checkov's own checks cannot know:

- CKV_FASTAPI_5: every container (app, worker, scheduler, migration) mounts its Secret at
  /run/secrets, where Settings reads the secret settings as files (app/core/config.py). Without
  it the process starts with no database password and no API keys: a missing secret reference.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckResult
from checkov.kubernetes.checks.resource.base_container_check import BaseK8sContainerCheck

SECRETS_DIR = "/run/secrets"


class SecretsMounted(BaseK8sContainerCheck):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(
            name="Containers mount their Secret at /run/secrets, where the settings are read",
            id="CKV_FASTAPI_5",
            supported_entities=["Deployment", "StatefulSet", "Job", "CronJob", "Pod"],
            supported_container_types=["containers"],
        )

    def scan_container_conf(self, metadata: dict[str, Any], conf: dict[str, Any]) -> CheckResult:
        self.evaluated_container_keys = ["volumeMounts"]
        mounts = conf.get("volumeMounts") or []
        paths = {m.get("mountPath") for m in mounts if isinstance(m, dict)}
        return CheckResult.PASSED if SECRETS_DIR in paths else CheckResult.FAILED


check = SecretsMounted()
