"""The HTTP path each platform's health checks ask the app, read from the definitions themselves:
the ALB target group and the container health check in deploy/aws/ecs.yml, the app's probes in
each rendered Kubernetes overlay, the probes in deploy/cloudrun/service.yaml, and Compose's
healthcheck. `make chaos` stops the cache Redis (and Postgres) and asks each of them
(tests/chaos/test_faults.py), so a definition that points a check somewhere else is tested as it is.

    python tests/deploy/health_paths.py    # JSON: [{"check": ..., "path": ..., "replaces": ...}]

`replaces` is true where a failing check gets the task, pod or container replaced or restarted
(ECS replaces a task its target group finds unhealthy; a liveness probe restarts the container);
false where it only takes the replica out of rotation (a Kubernetes readiness probe). Run in the
dev image (PyYAML, kubectl), as `make chaos` does.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
URL_PATH = re.compile(r"https?://[^/'\" ]+(/[^'\" ]*)")


class CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML with CloudFormation's short forms (!Ref, !Sub, ...), kept as plain data."""


CloudFormationLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: (
        loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node, deep=True)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node, deep=True)
    ),
)


def url_path(command: list[str]) -> str:
    match = URL_PATH.search(" ".join(command))
    if not match:
        raise ValueError(f"no URL in the health check {command}")
    return match.group(1)


def ecs() -> list[dict[str, Any]]:
    text = (DEPLOY / "aws" / "ecs.yml").read_text(encoding="utf-8")
    resources = yaml.load(text, Loader=CloudFormationLoader)["Resources"]  # noqa: S506
    found = []
    for resource in resources.values():
        properties = resource["Properties"]
        if resource["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup":
            path = properties["HealthCheckPath"]
            found.append({"check": "ecs: ALB target group", "path": path, "replaces": True})
        if resource["Type"] == "AWS::ECS::TaskDefinition":
            container = properties["ContainerDefinitions"][0]
            if container["Name"] == "app":
                path = url_path(container["HealthCheck"]["Command"])
                check = "ecs: container health check"
                found.append({"check": check, "path": path, "replaces": True})
    return found


def kubernetes(overlay: str) -> list[dict[str, Any]]:
    rendered = subprocess.run(  # noqa: S603 (kubectl on our own overlays)
        ["kubectl", "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = []
    for doc in yaml.safe_load_all(rendered):
        if not doc or doc["kind"] != "Deployment":
            continue
        if doc["metadata"]["labels"].get("app.kubernetes.io/component") != "app":
            continue
        container = doc["spec"]["template"]["spec"]["containers"][0]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            path = container.get(probe, {}).get("httpGet", {}).get("path")
            if path:
                check = f"kubernetes {overlay}: {probe}"
                found.append({"check": check, "path": path, "replaces": probe != "readinessProbe"})
    return found


def cloud_run() -> list[dict[str, Any]]:
    service = yaml.safe_load((DEPLOY / "cloudrun" / "service.yaml").read_text(encoding="utf-8"))
    container = service["spec"]["template"]["spec"]["containers"][0]
    found = []
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        path = container.get(probe, {}).get("httpGet", {}).get("path")
        if path:
            # Cloud Run restarts an instance that fails its liveness probe; its startup probe
            # gates it; a readiness probe takes it out of rotation only.
            check = f"cloud run: {probe}"
            found.append({"check": check, "path": path, "replaces": probe != "readinessProbe"})
    return found


def compose() -> list[dict[str, Any]]:
    app = yaml.safe_load((ROOT / "compose.yml").read_text(encoding="utf-8"))["services"]["app"]
    path = url_path(app["healthcheck"]["test"])
    return [{"check": "compose and swarm: healthcheck", "path": path, "replaces": True}]


def paths() -> list[dict[str, Any]]:
    return [*ecs(), *kubernetes("dev"), *kubernetes("prod"), *cloud_run(), *compose()]


if __name__ == "__main__":
    json.dump(paths(), sys.stdout, indent=1)
    print()
