"""make bench fails a run that measured wrong answers: throughput counted on 500s or on dropped
connections is not the path's (bench/report.py's wrong_answers). A few refusals of a saturated
machine, at most 1 in 1,000 requests, are reported instead."""

import importlib.util
import json
from pathlib import Path

PATH = Path(__file__).resolve().parents[2] / "bench" / "report.py"
spec = importlib.util.spec_from_file_location("bench_report", PATH)
assert spec is not None
assert spec.loader is not None
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


def wrk_run(non_2xx: int = 0, timeouts: int = 0) -> dict[str, int]:
    """wrk's JSON summary line (bench/wrk), as bench/run saves it."""
    return {
        "requests": 1000,
        "duration_us": 2_000_000,
        "p50_us": 1000,
        "p90_us": 2000,
        "p99_us": 3000,
        "non_2xx": non_2xx,
        "connect_errors": 0,
        "read_errors": 0,
        "write_errors": 0,
        "timeouts": timeouts,
    }


def write(path: Path, content: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


def test_clean_runs_pass(tmp_path: Path) -> None:
    write(tmp_path / "gunicorn" / "item_cached.json", wrk_run())
    write(tmp_path / "edge_edge_health_live_1.json", wrk_run())
    write(tmp_path / "meta.json", {"time": "now", "non_2xx_goal": "not a wrk run"})

    assert report.wrong_answers(tmp_path) == ([], [])


def test_a_floor_answering_500s_is_caught(tmp_path: Path) -> None:
    write(tmp_path / "gunicorn" / "item_cached.json", wrk_run())
    write(tmp_path / "gunicorn" / "floor_redis_counted.json", wrk_run(non_2xx=998))

    assert report.wrong_answers(tmp_path) == (
        ["gunicorn/floor_redis_counted.json: 998 non-2xx, 0 socket errors of 1000 requests"],
        [],
    )


def test_an_edge_round_with_timeouts_is_caught(tmp_path: Path) -> None:
    write(tmp_path / "edge_edge_item_cached_2.json", wrk_run(timeouts=3))

    assert report.wrong_answers(tmp_path) == (
        ["edge_edge_item_cached_2.json: 0 non-2xx, 3 socket errors of 1000 requests"],
        [],
    )


def test_one_refusal_in_a_thousand_is_reported_not_failed(tmp_path: Path) -> None:
    write(tmp_path / "obs_app_item_cached_2.json", wrk_run(non_2xx=1))
    write(tmp_path / "obs_app_item_cached_3.json", wrk_run(non_2xx=2))

    broken, few = report.wrong_answers(tmp_path)

    assert broken == ["obs_app_item_cached_3.json: 2 non-2xx, 0 socket errors of 1000 requests"]
    assert few == ["obs_app_item_cached_2.json: 1 non-2xx, 0 socket errors of 1000 requests"]
