"""The dashboard and the alerting rules (deploy/observability) name only metrics the app and the
worker export, cross-checked with their live registries; the checker refuses what it must."""

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from app.core.config import Settings
from app.observability.jobs import QueueDepthCollector, queue_store_client
from app.observability.multiprocess import aggregating_registry
from tests.deploy import check_observability as check


def served_names(registry: CollectorRegistry) -> set[str]:
    """The sample names a scrape of this registry gives, read from the text it serves (a family
    with no labelled child yet has no sample line, but has its TYPE line)."""
    names: set[str] = set()
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            name = name.removesuffix("_total")
            # _created: in-process mode only (multiprocess mode serves none).
            if not name.startswith(check.PROCESS_METRICS) and not name.endswith("_created"):
                names.update(name + s for s in check.SUFFIXES.get(kind, [""]))
    return names


def test_the_checker_knows_every_name_the_live_registries_serve(settings: Settings) -> None:
    worker = CollectorRegistry()
    queue_store = queue_store_client(
        settings.queue_redis_url.get_secret_value(),
        settings.queue_redis_password.get_secret_value() or None,
        settings.redis_socket_timeout_seconds,
    )
    queue_store.xgroup_create("tests-depth", "workers", id="0", mkstream=True)
    try:
        worker.register(QueueDepthCollector(queue_store, "tests-depth", "workers"))
        live = served_names(aggregating_registry()) | served_names(worker)
    finally:
        queue_store.delete("tests-depth")
        queue_store.close()

    assert check.exported_metric_names() == live


def test_the_rules_and_the_dashboard_name_only_exported_metrics() -> None:
    known = check.exported_metric_names()
    for path in (check.RULES, check.DASHBOARD):
        assert check.problems_in(path, known) == []
    named = set().union(*(check.metric_names(e) for _, e, _ in check.rule_exprs(check.RULES) if e))
    # The alerts the issue asks for: error rate, p99 latency, readiness failures, queue depth.
    assert {"http_requests_total", "http_request_duration_seconds_bucket", "queue_depth"} <= named


@pytest.mark.parametrize("fixture", sorted(check.FIXTURES.iterdir()), ids=lambda p: p.name)
def test_each_planted_defect_is_refused(fixture: Path) -> None:
    expected = check.expectation(fixture)
    problems = check.problems_in(fixture, check.exported_metric_names())

    assert expected
    assert any(expected in problem for problem in problems), problems
