"""deploy/observability, checked offline (`make lint-deploy`): the alerting rules' structure and
PromQL, the dashboard's JSON and queries, and every metric they name against what the app and
the worker export (their live registries).

    python tests/deploy/check_observability.py            # the real files: no finding allowed
    python tests/deploy/check_observability.py --planted  # every fixture refused, for its defect

promtool is not on PyPI; the PromQL is parsed by promql-parser (Prometheus' grammar, from the
Rust crate of the same name), and the rule files' shape is checked here as promtool checks it.
Each fixture in tests/deploy/fixtures/observability plants one defect its `expect` names.
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
DASHBOARD = OBSERVABILITY / "dashboard.json"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "observability"
# What Prometheus itself records for every target it scrapes.
PROMETHEUS_OWN = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
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


def rule_exprs(path: Path) -> Iterator[tuple[str, str | None, list[str]]]:
    """(where, expr, problems) for each rule of a Prometheus rule file."""
    document = yaml.safe_load(path.read_text())
    groups = document.get("groups") if isinstance(document, dict) else None
    if not isinstance(groups, list) or not groups:
        yield str(path), None, ["no `groups:` list"]
        return
    for group in groups:
        name = group.get("name")
        for n, rule in enumerate(group.get("rules") or []):
            where = (
                f"{path.name}: group {name}, rule {rule.get('alert') or rule.get('record') or n}"
            )
            problems = [f"{where}: unknown key {key!r}" for key in set(rule) - RULE_KEYS]
            if ("alert" in rule) == ("record" in rule):
                problems.append(f"{where}: a rule is an `alert` or a `record`, exactly one")
            for key in ("for", "keep_firing_for"):
                if key in rule and not DURATION.match(str(rule[key])):
                    problems.append(f"{where}: {key} {rule[key]!r} is not a duration")
            if "alert" in rule and "severity" not in (rule.get("labels") or {}):
                problems.append(f"{where}: no severity label")
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


def problems_in(path: Path, known: set[str]) -> list[str]:
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
    problems = [p for path in (RULES, DASHBOARD) for p in problems_in(path, known)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"observability: {RULES.name} and {DASHBOARD.name} parse, name only exported metrics")
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
    args = parser.parse_args(argv)
    known = exported_metric_names()
    return (check_planted if args.planted else check_real)(known)


if __name__ == "__main__":
    sys.exit(main())
