"""This project's first-deploy rules, which no validator knows: each one a defect that passes
cfn-lint, checkov and kubernetes-validate and fails on a real platform (docs/deploy/*.md).

    python tests/deploy/rules.py FILE...   # a CloudFormation template, or rendered manifests

Kubernetes (a rendered overlay):
- a Deployment that a HorizontalPodAutoscaler scales sets no `spec.replicas` (each apply would
  reset the count mid-rollout, and Argo CD's self-heal would fight the autoscaler);
- a Job run as an Argo CD hook is not a PreSync hook (PreSync runs before the Sync phase creates
  the ConfigMap and ServiceAccount it uses: argoproj/argo-cd #9891, #13429), and its sync wave
  comes before every Deployment's;
- every namespace an object names is created by the render itself;
- the app's pods are spread over zones and nodes;
- no pod is pinned to one CPU architecture (`kubernetes.io/arch` in a nodeSelector or a node
  affinity): the image is an index for amd64 and arm64, and each node pulls its own.

CloudFormation (deploy/aws/ecs.yml):
- the ALB target group checks liveness (ECS replaces a task failing it: a readiness check that
  fails with Postgres or Redis would replace every task at once);
- every ECS service starts at 0 tasks, the autoscaler at 0, and the DNS record is absent, until
  the ServicesEnabled parameter (default false) is set after the first migration;
- the load balancer's deletion protection is off until then (a failed first create can roll back);
- the execution roles can decrypt secrets under a customer-managed key (SecretsKmsKeyArn);
- a role that registers task definitions may also tag them (ecs:TagResource);
- the app does not drain (DRAIN_SECONDS=0): the target group deregisters before SIGTERM.

Exit 1 with one line per finding. `check_deploy.py` runs it on the real files (no finding) and on
its planted fixtures (`# expect: rules TEXT`). PyYAML only (the dev image).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

Doc = dict[str, Any]
LIVENESS = "/health/live"
ARCH_LABELS = ("kubernetes.io/arch", "beta.kubernetes.io/arch")


class CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc]
    """CloudFormation's short forms (!Ref, !If, ...) as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Doc:
    name = "Ref" if suffix == "Ref" else "Condition" if suffix == "Condition" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


# --- Kubernetes ------------------------------------------------------------------------------


def annotations_of(doc: Doc) -> Doc:
    found: Doc = doc.get("metadata", {}).get("annotations") or {}
    return found


def wave(doc: Doc) -> int:
    return int(annotations_of(doc).get("argocd.argoproj.io/sync-wave", "0"))


def k8s_findings(docs: list[Doc]) -> list[str]:
    findings = []
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    for hpa in (d for d in docs if d["kind"] == "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]["name"]
        if "replicas" in deployments.get(target, {}).get("spec", {}):
            findings.append(
                f"Deployment {target} sets spec.replicas while HorizontalPodAutoscaler "
                f"{hpa['metadata']['name']} owns its count: every apply resets it, and Argo CD's "
                "self-heal fights the autoscaler"
            )
    for job in (d for d in docs if d["kind"] == "Job"):
        hook = annotations_of(job).get("argocd.argoproj.io/hook", "")
        name = job["metadata"]["name"]
        if "PreSync" in hook:
            findings.append(
                f"Job {name} is an Argo CD PreSync hook: it runs before the Sync phase creates "
                "the ConfigMap and ServiceAccount it uses (argo-cd #9891, #13429); make it a "
                "Sync hook in a wave before the Deployments'"
            )
        later = [d for d in deployments.values() if wave(d) <= wave(job)]
        if hook and later:
            findings.append(
                f"Job {name} (sync wave {wave(job)}) does not run before the Deployments "
                f"{sorted(d['metadata']['name'] for d in later)} in Argo CD"
            )
    created = {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"}
    used = {d["metadata"]["namespace"] for d in docs if d["metadata"].get("namespace")}
    findings += [
        f"namespace {ns} is used but the render does not create it: `kubectl apply` fails on a "
        "cluster without it"
        for ns in sorted(used - created)
    ]
    for name, deployment in deployments.items():
        if deployment["metadata"].get("labels", {}).get("app.kubernetes.io/component") != "app":
            continue
        spread = deployment["spec"]["template"]["spec"].get("topologySpreadConstraints", [])
        keys = {constraint.get("topologyKey") for constraint in spread}
        if not {"topology.kubernetes.io/zone", "kubernetes.io/hostname"} <= keys:
            findings.append(f"Deployment {name}: its pods are not spread over zones and nodes")
    for workload in (d for d in docs if d["kind"] in ("Deployment", "Job")):
        pod = workload["spec"]["template"]["spec"]
        affinity = yaml.safe_dump(pod.get("affinity", {}).get("nodeAffinity", {}))
        if any(label in pod.get("nodeSelector", {}) or label in affinity for label in ARCH_LABELS):
            findings.append(
                f"{workload['kind']} {workload['metadata']['name']}: its pods are pinned to one "
                "CPU architecture (kubernetes.io/arch): the image serves amd64 and arm64 nodes"
            )
    return findings


# --- CloudFormation ------------------------------------------------------------------------------


def resources(template: Doc, kind: str) -> dict[str, Doc]:
    return {
        name: resource
        for name, resource in template.get("Resources", {}).items()
        if resource.get("Type") == kind
    }


def gated(value: object, conditions: set[str], off: object) -> bool:
    """Whether `value` is `!If [<a condition on ServicesEnabled>, <anything>, off]`."""
    if not isinstance(value, dict) or "Fn::If" not in value:
        return False
    condition, _, otherwise = value["Fn::If"]
    return condition in conditions and str(otherwise) == str(off)


def statements(role: Doc) -> Iterable[Doc]:
    for policy in role["Properties"].get("Policies", []):
        for listed in policy["PolicyDocument"]["Statement"]:
            # A conditional statement (!If [condition, statement, AWS::NoValue]): its statement.
            conditional = isinstance(listed, dict) and "Fn::If" in listed
            statement = listed["Fn::If"][1] if conditional else listed
            if isinstance(statement, dict):
                yield statement


def actions(statement: Doc) -> list[str]:
    action = statement.get("Action", [])
    return [action] if isinstance(action, str) else list(action)


def serving_conditions(template: Doc) -> set[str]:
    """The conditions that hold only when ServicesEnabled is true (directly, or within an And)."""
    found: set[str] = set()
    conditions = template.get("Conditions", {})
    for name, condition in conditions.items():
        if condition == {"Fn::Equals": [{"Ref": "ServicesEnabled"}, "true"]}:
            found.add(name)
    for name, condition in conditions.items():
        terms = condition.get("Fn::And", []) if isinstance(condition, dict) else []
        if any(isinstance(t, dict) and t.get("Condition") in found for t in terms):
            found.add(name)
    return found


def aws_findings(template: Doc) -> list[str]:
    return aws_health_findings(template) + first_deploy_findings(template) + role_findings(template)


def aws_health_findings(template: Doc) -> list[str]:
    """What the load balancer checks, and whether the app drains behind it."""
    findings = []
    for name, group in resources(template, "AWS::ElasticLoadBalancingV2::TargetGroup").items():
        path = group["Properties"].get("HealthCheckPath", "/")
        if path != LIVENESS:
            findings.append(
                f"{name} checks {path}: ECS replaces the tasks its target group finds unhealthy, "
                f"so it must check liveness ({LIVENESS}), never what fails with Postgres or Redis"
            )
    for task in resources(template, "AWS::ECS::TaskDefinition").values():
        container = task["Properties"]["ContainerDefinitions"][0]
        env = {e["Name"]: e.get("Value") for e in container.get("Environment", [])}
        if container.get("Name") == "app" and env.get("DRAIN_SECONDS") != "0":
            findings.append(
                "app: DRAIN_SECONDS is not 0: the target group deregisters a task before its "
                "SIGTERM, so the drain only delays the stop"
            )
    return findings


def first_deploy_findings(template: Doc) -> list[str]:
    """Nothing serves, and nothing points at it, before the first migration."""
    findings = []
    parameter = template.get("Parameters", {}).get("ServicesEnabled", {})
    serving = serving_conditions(template)
    if parameter.get("Default") != "false" or not serving:
        findings.append(
            "no ServicesEnabled parameter (default false) to hold the services at 0 tasks until "
            "the first migration has run"
        )
    for name, service in resources(template, "AWS::ECS::Service").items():
        if not gated(service["Properties"].get("DesiredCount"), serving, 0):
            findings.append(
                f"{name} starts tasks before the first migration: its DesiredCount must be 0 "
                "until ServicesEnabled is true"
            )
    for name, target in resources(template, "AWS::ApplicationAutoScaling::ScalableTarget").items():
        if not gated(target["Properties"].get("MinCapacity"), serving, 0):
            findings.append(f"{name} scales out before the first migration: MinCapacity not 0")
    for name, record in resources(template, "AWS::Route53::RecordSet").items():
        if record.get("Condition") not in serving:
            findings.append(
                f"{name} points DNS at the service before the first migration: give it a "
                "condition on ServicesEnabled"
            )
    for name, balancer in resources(template, "AWS::ElasticLoadBalancingV2::LoadBalancer").items():
        listed = balancer["Properties"].get("LoadBalancerAttributes", [])
        attributes = {a["Key"]: a["Value"] for a in listed}
        protection = attributes.get("deletion_protection.enabled", "false")
        if str(protection).lower() == "true":
            findings.append(
                f"{name}: deletion protection is on from the first create, so a failed create "
                "cannot delete it and stays in ROLLBACK_FAILED; turn it on with ServicesEnabled"
            )
    return findings


def role_findings(template: Doc) -> list[str]:
    """What the roles must be allowed for a first deploy to work at all."""
    findings = []
    for name, role in resources(template, "AWS::IAM::Role").items():
        granted = {a for s in statements(role) for a in actions(s)}
        if "secretsmanager:GetSecretValue" in granted and "kms:Decrypt" not in granted:
            findings.append(
                f"{name} reads secrets but cannot kms:Decrypt: a secret under a "
                "customer-managed key would not reach the task"
            )
        if "ecs:RegisterTaskDefinition" in granted and "ecs:TagResource" not in granted:
            findings.append(
                f"{name} registers task definitions without ecs:TagResource: a task definition "
                "with tags fails to register"
            )
    return findings


def findings(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if "AWSTemplateFormatVersion" in text:
        template = yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506 (plain data only)
        return aws_findings(template)
    return k8s_findings([doc for doc in yaml.safe_load_all(text) if doc])


def main(paths: list[str]) -> int:
    found = [f"{path}: {finding}" for path in paths for finding in findings(Path(path))]
    for finding in found:
        print(f"rules: {finding}")
    if found:
        print(f"rules: {len(found)} finding(s)")
        return 1
    print(f"rules: {len(paths)} file(s) keep the first-deploy rules")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
