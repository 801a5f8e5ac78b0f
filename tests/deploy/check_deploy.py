"""The deployment definitions in deploy/, checked offline by the tool each ecosystem trusts
(`make lint-deploy`, and so `make lint-ci` and CI):

- deploy/aws (CloudFormation, ECS on Fargate): cfn-lint (the resource specification: every
  property, type and value), then checkov (AWS policies, and this project's own in
  deploy/checkov: non-root uid, read-only root, secrets by reference, capabilities dropped);
- deploy/k8s (Kustomize): `kubectl kustomize` renders each overlay, kubernetes-validate --strict
  checks the result against the API's schemas of each version in K8S_VERSIONS (an unknown field
  is an error), then checkov (Kubernetes policies, and the project's: secrets at /run/secrets);
- deploy/k8s/monitoring (the Prometheus Operator's PrometheusRule and ServiceMonitor): rendered
  alike; its Services go to kubernetes-validate --strict, and each object of the Operator's
  kinds, which the API's schemas do not know, to check-jsonschema with the schema of its kind in
  deploy/k8s/monitoring/schema (the rules themselves are promtool's: check_promtool.py);
- deploy/cloudrun: check-jsonschema with deploy/cloudrun/schema/cloudrun.schema.yaml (Cloud
  Run's API schema, from Google's discovery document, and the project's rules on top);
- the CloudFormation template and each rendered overlay: tests/deploy/rules.py, the first-deploy
  rules no validator knows (health checks that never replace a task over a shared dependency,
  services held at 0 until the first migration, HPA without replicas, Argo CD hook order...).

    python tests/deploy/check_deploy.py            # the real definitions: no finding allowed
    python tests/deploy/check_deploy.py --planted  # every fixture refused, for its defect

`--planted` runs the same tools on tests/deploy/fixtures/, each fixture planting one defect that
its `# expect: TOOL TEXT` line names: TOOL must exit non-zero and print TEXT. A checker that
cannot fail proves nothing. A suppression in the real files (a checkov skip) carries its reason
next to it, in the file.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHECKOV_POLICIES = DEPLOY / "checkov"
CLOUDRUN_SCHEMA = DEPLOY / "cloudrun" / "schema" / "cloudrun.schema.yaml"
RULES = Path(__file__).resolve().parent / "rules.py"
K8S_OVERLAYS = ("dev", "prod")
K8S_MONITORING = DEPLOY / "k8s" / "monitoring"
# The Prometheus Operator's kinds, each checked against the schema of its own.
CRD_SCHEMAS = {
    "PrometheusRule": K8S_MONITORING / "schema" / "prometheusrule.schema.yaml",
    "ServiceMonitor": K8S_MONITORING / "schema" / "servicemonitor.schema.yaml",
}
# The oldest minor the manifests promise to work on, and the newest the validator knows.
K8S_VERSIONS = ("1.33.0", "1.37.0")


def run(argv: Sequence[str]) -> tuple[int, str]:
    result = subprocess.run(  # noqa: S603 (our tools, our files)
        list(argv), capture_output=True, text=True, check=False, cwd=ROOT
    )
    return result.returncode, result.stdout + result.stderr


def render(kustomization: Path) -> str:
    """The manifests a kustomization renders to (kubectl's built-in kustomize)."""
    status, output = run(["kubectl", "kustomize", str(kustomization)])
    if status != 0:
        raise RuntimeError(f"kubectl kustomize {kustomization} failed:\n{output}")
    return output


def cfn_lint(paths: Sequence[Path]) -> list[str]:
    return ["cfn-lint", *map(str, paths)]


def checkov(paths: Sequence[Path], framework: str) -> list[str]:
    # --skip-download: offline, nothing fetched from (or sent to) Prisma Cloud.
    argv = ["checkov", "--framework", framework, "--skip-download", "--compact", "--quiet"]
    argv += ["--external-checks-dir", str(CHECKOV_POLICIES)]
    for path in paths:
        argv += ["--file", str(path)]
    return argv


def kubernetes_validate(paths: Sequence[Path], version: str) -> list[str]:
    return ["kubernetes-validate", "--strict", "--kubernetes-version", version, *map(str, paths)]


def check_jsonschema(paths: Sequence[Path]) -> list[str]:
    return ["check-jsonschema", "--schemafile", str(CLOUDRUN_SCHEMA), *map(str, paths)]


def rules(paths: Sequence[Path]) -> list[str]:
    return [sys.executable, str(RULES), *map(str, paths)]


def crd_schema(rendered: Path) -> list[list[str]]:
    """Splits a render: its objects of the Operator's kinds each into a file of their own, one
    check-jsonschema run per kind; the rest stays in `rendered` for kubernetes-validate."""
    import yaml  # type: ignore[import-untyped]  # noqa: PLC0415 - no stubs in the lock

    plain: list[object] = []
    by_kind: dict[str, list[str]] = {}
    for n, document in enumerate(yaml.safe_load_all(rendered.read_text(encoding="utf-8"))):
        if document and document.get("kind") in CRD_SCHEMAS:
            path = rendered.with_name(f"{rendered.stem}-{n}-{document['kind'].lower()}.yaml")
            path.write_text(yaml.safe_dump(document), encoding="utf-8")
            by_kind.setdefault(document["kind"], []).append(str(path))
        elif document:
            plain.append(document)
    rendered.write_text(yaml.safe_dump_all(plain), encoding="utf-8")
    return [
        ["check-jsonschema", "--schemafile", str(CRD_SCHEMAS[kind]), *paths]
        for kind, paths in sorted(by_kind.items())
    ]


def shown(argv: Sequence[str]) -> str:
    return " ".join(str(Path(a).relative_to(ROOT)) if a.startswith(str(ROOT)) else a for a in argv)


def check_real(workdir: Path) -> int:
    templates = sorted((DEPLOY / "aws").glob("*.yml"))
    rendered = []
    for overlay in K8S_OVERLAYS:
        path = workdir / f"k8s-{overlay}.yaml"
        path.write_text(render(DEPLOY / "k8s" / "overlays" / overlay), encoding="utf-8")
        rendered.append(path)
    monitoring = workdir / "k8s-monitoring.yaml"
    monitoring.write_text(render(K8S_MONITORING), encoding="utf-8")
    crd_commands = crd_schema(monitoring)
    if sorted(argv[2] for argv in crd_commands) != sorted(map(str, CRD_SCHEMAS.values())):
        print("check_deploy: deploy/k8s/monitoring lacks an Operator kind", file=sys.stderr)
        return 1
    commands = [
        cfn_lint(templates),
        checkov(templates, "cloudformation"),
        *(kubernetes_validate([*rendered, monitoring], version) for version in K8S_VERSIONS),
        *crd_commands,
        checkov(rendered, "kubernetes"),
        check_jsonschema(sorted((DEPLOY / "cloudrun").glob("*.yaml"))),
        rules([*templates, *rendered]),
    ]
    failures = 0
    for argv in commands:
        status, output = run(argv)
        print(f"$ {shown(argv)}\n{output.strip() or '(no output)'}\n-> exit {status}\n")
        failures += status != 0
    if failures:
        print(f"check_deploy: {failures} checker(s) reported findings", file=sys.stderr)
        return 1
    print(f"check_deploy: every checker passed on deploy/ ({len(commands)} runs)")
    return 0


def planted_commands(fixture: Path, tool: str, workdir: Path) -> list[list[str]]:
    target = fixture
    if fixture.is_dir():  # a kustomization on top of a real overlay: render it first
        target = workdir / f"{fixture.name}.yaml"
        target.write_text(render(fixture), encoding="utf-8")
    if tool == "cfn-lint":
        return [cfn_lint([target])]
    if tool == "checkov":
        return [checkov([target], "kubernetes" if fixture.is_dir() else "cloudformation")]
    if tool == "kubernetes-validate":
        return [kubernetes_validate([target], K8S_VERSIONS[0])]
    if tool == "check-jsonschema":
        return [check_jsonschema([target])]
    if tool == "rules":
        return [rules([target])]
    if tool == "crd-schema":  # the Operator's kinds, each against its schema
        return crd_schema(target)
    raise ValueError(f"{fixture.name}: unknown tool {tool!r}")


def check_planted(workdir: Path) -> int:
    fixtures = sorted(p for kind in ("aws", "k8s", "cloudrun") for p in (FIXTURES / kind).iterdir())
    failures = 0 if fixtures else 1
    for fixture in fixtures:
        source = fixture / "kustomization.yaml" if fixture.is_dir() else fixture
        expected = re.search(r"^# expect: (\S+) (.+)$", source.read_text(encoding="utf-8"), re.M)
        name = fixture.relative_to(FIXTURES)
        if not expected:
            print(f"planted: {name} has no `# expect: TOOL TEXT` line", file=sys.stderr)
            failures += 1
            continue
        tool, text = expected.group(1), expected.group(2).strip()
        status, output = 0, ""
        for argv in planted_commands(fixture, tool, workdir):
            one_status, one_output = run(argv)
            status, output = max(status, one_status), output + one_output
        if status != 0 and text in output:
            print(f"planted: {name} refused by {tool}, as it must be ({text})")
            continue
        print(
            f"planted: {name} was NOT refused by {tool} for its defect ({text}); exit {status}:"
            f"\n{output}",
            file=sys.stderr,
        )
        failures += 1
    if failures:
        print(f"planted: {failures} fixture(s) not refused as planted", file=sys.stderr)
        return 1
    print(f"planted: all {len(fixtures)} planted defects refused")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--planted", action="store_true", help="refuse every fixture")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="check-deploy-") as workdir:
        return (check_planted if args.planted else check_real)(Path(workdir))


if __name__ == "__main__":
    sys.exit(main())
