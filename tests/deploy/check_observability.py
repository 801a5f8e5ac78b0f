"""deploy/observability, checked offline (`make lint-deploy`), for what promtool does not check
(tests/deploy/check_promtool.py runs promtool itself: the rules' syntax, their unit tests, the
dashboard's queries): every metric the rules and the dashboard name is one the app or the worker
exports (their live registries), every alert has a severity, every alert has a unit test in
alerts.test.yml where it fires and one where it stays quiet, and the Kubernetes PrometheusRule
(deploy/k8s/monitoring) carries exactly the rules of alerts.yml.

    python tests/deploy/check_observability.py            # the real files: no finding allowed
    python tests/deploy/check_observability.py --planted  # every fixture refused, for its defect
    python tests/deploy/check_observability.py --write-prometheusrule  # after editing alerts.yml

The metric names are read from each expression's syntax tree by promql-parser (Prometheus'
grammar, from the Rust crate of the same name). Each fixture in
tests/deploy/fixtures/observability plants one defect its `expect` names.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import promql_parser
import yaml  # type: ignore[import-untyped]  # no stubs in the lock; only safe_load is used

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script from the project root
    sys.path.insert(0, str(ROOT))

OBSERVABILITY = ROOT / "deploy" / "observability"
RULES = OBSERVABILITY / "alerts.yml"
RULE_TESTS = OBSERVABILITY / "alerts.test.yml"
PROMETHEUS_RULE = ROOT / "deploy" / "k8s" / "monitoring" / "prometheusrule.yaml"
DASHBOARD = OBSERVABILITY / "dashboard.json"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "observability"
# What Prometheus itself records for every target it scrapes.
PROMETHEUS_OWN = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
# The client's own process metrics: in-process mode only, never served under gunicorn.
PROCESS_METRICS = ("process_", "python_")
SUFFIXES = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
# Grafana's global variables, given a value before a query is parsed.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def exported_metric_names() -> set[str]:
    """Every sample name the app's and the worker's registries serve (their metric families
    are all defined in app/core/metrics.py, the queue's depth is computed)."""
    from prometheus_client import REGISTRY  # noqa: PLC0415

    import app.main  # noqa: PLC0415 - every module that defines a metric
    import app.worker.tasks  # noqa: F401, PLC0415
    from app.core.metrics import QUEUE_DEPTH  # noqa: PLC0415

    names = {QUEUE_DEPTH}
    for family in REGISTRY.collect():
        if not family.name.startswith(PROCESS_METRICS):
            names.update(family.name + s for s in SUFFIXES.get(family.type, [""]))
    return names


def metric_names(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node: object) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def with_grafana_values(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def parse_problem(where: str, expr: str) -> str | None:
    try:
        promql_parser.parse(with_grafana_values(expr))
    except ValueError as error:
        return f"{where}: PromQL does not parse: {error}"
    return None


def tested_alerts() -> tuple[set[str], set[str]]:
    """The alerts alerts.test.yml expects firing somewhere, and those it expects quiet."""
    firing: set[str] = set()
    quiet: set[str] = set()
    for test in yaml.safe_load(RULE_TESTS.read_text()).get("tests") or []:
        for case in test.get("alert_rule_test") or []:
            (firing if case.get("exp_alerts") else quiet).add(case.get("alertname"))
    return firing, quiet


def rule_exprs(path: Path) -> Iterator[tuple[str, str | None, list[str]]]:
    """(where, expr, problems) for each rule of a Prometheus rule file."""
    document = yaml.safe_load(path.read_text())
    groups = document.get("groups") if isinstance(document, dict) else None
    if not isinstance(groups, list) or not groups:
        yield str(path), None, ["no `groups:` list"]
        return
    firing, quiet = tested_alerts()
    for group in groups:
        name = group.get("name")
        for n, rule in enumerate(group.get("rules") or []):
            alert = rule.get("alert")
            where = f"{path.name}: group {name}, rule {alert or rule.get('record') or n}"
            problems = []
            if alert and "severity" not in (rule.get("labels") or {}):
                problems.append(f"{where}: no severity label")
            if alert and alert not in firing:
                problems.append(
                    f"{where}: {alert} has no unit test in {RULE_TESTS.name} where it fires"
                )
            if alert and alert not in quiet:
                problems.append(
                    f"{where}: {alert} has no unit test in {RULE_TESTS.name} where it stays quiet"
                )
            expr = rule.get("expr")
            if not isinstance(expr, str):
                problems.append(f"{where}: no expr")
                expr = None
            yield where, expr, problems


def dashboard_exprs(path: Path) -> Iterator[tuple[str, str | None, list[str]]]:
    try:
        dashboard = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        yield str(path), None, [f"{path.name}: not JSON: {error}"]
        return
    missing = [key for key in ("title", "uid", "panels", "schemaVersion") if key not in dashboard]
    if missing:
        yield path.name, None, [f"{path.name}: no {', '.join(missing)}"]
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets", []):
            where = f"{path.name}: panel {panel.get('title')!r}, query {target.get('refId')}"
            yield where, target.get("expr"), []


def prometheus_rule(groups: object) -> dict[str, object]:
    """The Prometheus Operator's PrometheusRule carrying these rule groups."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "fastapi-starter",
            "labels": {"app.kubernetes.io/name": "fastapi-starter"},
        },
        "spec": {"groups": groups},
    }


PROMETHEUS_RULE_HEADER = """\
# The alerting rules of deploy/observability/alerts.yml, for the Prometheus Operator: written by
#   make run CMD="python tests/deploy/check_observability.py --write-prometheusrule"
# and checked by `make lint-deploy` to hold exactly those rules (edit alerts.yml, not this file).
# A Prometheus whose ruleSelector matches its labels loads it (docs/alerts.md).
"""


def prometheus_rule_problems(path: Path) -> list[str]:
    expected = yaml.safe_load(RULES.read_text())["groups"]
    document = yaml.safe_load(path.read_text())
    groups = document.get("spec", {}).get("groups") if isinstance(document, dict) else None
    if groups != expected:
        return [
            f"{path.name}: its spec.groups differs from alerts.yml: run "
            '`make run CMD="python tests/deploy/check_observability.py --write-prometheusrule"`'
        ]
    return []


def write_prometheus_rule() -> int:
    groups = yaml.safe_load(RULES.read_text())["groups"]

    class Dumper(yaml.SafeDumper):  # type: ignore[misc]  # no stubs
        """Multi-line expressions as block literals, as alerts.yml writes them."""

    def text(dumper: yaml.SafeDumper, value: str) -> object:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    body = yaml.dump(prometheus_rule(groups), Dumper=Dumper, sort_keys=False, width=100)
    PROMETHEUS_RULE.write_text(PROMETHEUS_RULE_HEADER + body)
    print(f"wrote {PROMETHEUS_RULE.relative_to(ROOT)} from {RULES.relative_to(ROOT)}")
    return 0


def problems_in(path: Path, known: set[str]) -> list[str]:
    if path.suffix == ".yaml":  # a PrometheusRule
        return prometheus_rule_problems(path)
    exprs = dashboard_exprs(path) if path.suffix == ".json" else rule_exprs(path)
    found: list[str] = []
    for where, expr, problems in exprs:
        found += problems
        if expr is None:
            continue
        if (problem := parse_problem(where, expr)) is not None:
            found.append(problem)
            continue
        unknown = metric_names(with_grafana_values(expr)) - known - PROMETHEUS_OWN
        found += [f"{where}: {name} is no metric the app or the worker exports" for name in unknown]
    return found


def check_real(known: set[str]) -> int:
    paths = (RULES, DASHBOARD, PROMETHEUS_RULE)
    problems = [p for path in paths for p in problems_in(path, known)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(
            f"observability: {RULES.name} and {DASHBOARD.name} name only exported metrics; every "
            f"alert has a severity and unit tests; {PROMETHEUS_RULE.name} holds {RULES.name}"
        )
    return 1 if problems else 0


def expectation(fixture: Path) -> str:
    text = fixture.read_text()
    if fixture.suffix == ".json":
        return str(json.loads(text)["expect"])
    match = re.search(r"^# expect: (.+)$", text, re.MULTILINE)
    return match.group(1) if match else ""


def check_planted(known: set[str]) -> int:
    failures = 0
    fixtures = sorted(FIXTURES.iterdir())
    for fixture in fixtures:
        expected = expectation(fixture)
        problems = problems_in(fixture, known)
        if expected and any(expected in problem for problem in problems):
            print(f"planted: {fixture.name} refused, as it must be ({expected})")
        else:
            failures += 1
            print(
                f"planted: {fixture.name} NOT refused for {expected!r}: {problems}", file=sys.stderr
            )
    print(f"planted: {len(fixtures) - failures} of {len(fixtures)} planted defects refused")
    return 1 if failures or not fixtures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planted", action="store_true", help="refuse every fixture")
    parser.add_argument(
        "--write-prometheusrule", action="store_true", help=f"write {PROMETHEUS_RULE.name}"
    )
    args = parser.parse_args(argv)
    if args.write_prometheusrule:
        return write_prometheus_rule()
    known = exported_metric_names()
    return (check_planted if args.planted else check_real)(known)


if __name__ == "__main__":
    sys.exit(main())
