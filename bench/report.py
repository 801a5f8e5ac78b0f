"""Turns one bench/run into a markdown report (stdout) and a JSON record (bench/results/).

    python bench/report.py RUN_DIR RESULTS_DIR

RUN_DIR holds meta.json and, per server, one wrk summary per scenario and container.json.
"""

import json
import sys
from pathlib import Path
from typing import Any

MB = 1000 * 1000
SCENARIOS = {
    "floor_asgi": "floor (a): bare ASGI",
    "floor_fastapi": "floor (b): minimal FastAPI",
    "floor_redis": "floor (c): bare ASGI + redis.asyncio GET",
    "floor_redis_counted": "floor (c′): bare ASGI + the rate limit's count + GET",
    "floor_postgres": "floor (d): bare ASGI + asyncpg SELECT",
    "health_live": "GET /health/live",
    "item_cached": "GET /api/v1/items/{id}, cached",
    "item_uncached": "GET /api/v1/items/{id}, cache off",
    "item_list": "GET /api/v1/items?limit=20",
    "item_create": "POST /api/v1/items",
    "health_ready": "GET /health/ready",
}
# Each data path against the raw driver it stands on (floors c and d): how far from its limit.
OWN_FLOOR = {
    # One GET: the rate limit's count is leased, a round trip on one request in 32 (ADR 0024).
    "item_cached": "floor_redis",
    "item_uncached": "floor_postgres",
    "item_list": "floor_postgres",
    "item_create": "floor_postgres",
    "health_ready": "floor_postgres",
}
FLOOR_MARK = {"floor_redis": "(c)", "floor_redis_counted": "(c′)", "floor_postgres": "(d)"}
# Goals, as a fraction of the FastAPI floor (issue 15).
FASTAPI_FLOOR_GOALS = {
    "health_live": ("/health/live", 0.85),
    "item_cached": ("cached read", 0.6),
    "item_uncached": ("uncached read", 0.3),
    "item_list": ("list of 20", 0.2),
    "item_create": ("create", 0.1),
    "health_ready": ("/health/ready", 0.3),
}
P99_OVER_P50 = 4
SOAK_GROWTH_LIMIT = 0.05  # RSS in the last 10 s of the soak at most 5 % over the first 10 s
SOAK_WINDOW_S = 10
IMAGE_LIMIT_MB = 180
# A run with more wrong answers (non-2xx, socket errors) than this share of its requests measured
# something else than its path (a floor answering 500s): the bench fails.
WRONG_ANSWERS_LIMIT = 0.001
OWN_LAYERS_LIMIT_MB = 50


def figures(run: dict[str, Any]) -> dict[str, Any]:
    seconds = run["duration_us"] / 1e6
    socket_errors = sum(
        run[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return {
        "requests_per_s": round(run["requests"] / seconds, 1),
        "p50_ms": run["p50_us"] / 1000,
        "p90_ms": run["p90_us"] / 1000,
        "p99_ms": run["p99_us"] / 1000,
        "non_2xx": run["non_2xx"],
        "socket_errors": socket_errors,
        "requests": run["requests"],
    }


def load_server(directory: Path) -> dict[str, Any]:
    scenarios = {
        name: figures(json.loads((directory / f"{name}.json").read_text())) for name in SCENARIOS
    }
    for result in scenarios.values():
        result["x_asgi_floor"] = round(
            result["requests_per_s"] / scenarios["floor_asgi"]["requests_per_s"], 3
        )
        result["x_fastapi_floor"] = round(
            result["requests_per_s"] / scenarios["floor_fastapi"]["requests_per_s"], 3
        )
    for name, floor in OWN_FLOOR.items():
        scenarios[name]["x_own_floor"] = round(
            scenarios[name]["requests_per_s"] / scenarios[floor]["requests_per_s"], 3
        )
    server = {
        "scenarios": scenarios,
        "container": json.loads((directory / "container.json").read_text()),
    }
    if (directory / "soak.json").exists():
        server["soak"] = figures(json.loads((directory / "soak.json").read_text())) | {
            "memory": json.loads((directory / "soak_memory.json").read_text())
        }
    return server


def soak_growth(memory: list[dict[str, Any]]) -> tuple[float, float, float]:
    """Mean RSS of all workers together (MiB) in the soak's first and last 10 s, and the
    growth between them as a fraction."""
    end = memory[-1]["t"]

    def mean_mib(samples: list[dict[str, Any]]) -> float:
        totals: list[float] = [sum(w["kib"] for w in s["workers"]) / 1024 for s in samples]
        return sum(totals) / len(totals)

    first = mean_mib([s for s in memory if s["t"] <= SOAK_WINDOW_S] or memory[:1])
    last = mean_mib([s for s in memory if s["t"] >= end - SOAK_WINDOW_S] or memory[-1:])
    return first, last, last / first - 1


def targets(server: dict[str, Any], meta: dict[str, Any]) -> list[tuple[str, str, bool]]:
    s = server["scenarios"]
    cached_over_uncached = s["item_cached"]["requests_per_s"] / s["item_uncached"]["requests_per_s"]
    runs = dict(s) | ({"soak": server["soak"]} if "soak" in server else {})
    clean = [name for name, r in runs.items() if r["non_2xx"] or r["socket_errors"]]
    spread = [name for name, r in runs.items() if r["p99_ms"] > P99_OVER_P50 * r["p50_ms"]]
    goals = [
        (
            f"{label} ≥ {goal} × FastAPI floor",
            f"{s[name]['x_fastapi_floor']:.2f} ×",
            s[name]["x_fastapi_floor"] >= goal,
        )
        for name, (label, goal) in FASTAPI_FLOOR_GOALS.items()
    ]
    soak = []
    if "soak" in server:
        first, last, growth = soak_growth(server["soak"]["memory"])
        soak = [
            (
                f"soak: workers' RSS, last {SOAK_WINDOW_S} s ≤ first {SOAK_WINDOW_S} s "
                f"+ {SOAK_GROWTH_LIMIT:.0%}",
                f"{first:.0f} → {last:.0f} MiB ({growth:+.1%})",
                growth <= SOAK_GROWTH_LIMIT,
            )
        ]
    return [
        *goals,
        (
            "cached read ≥ 1.5 × uncached read",
            f"{cached_over_uncached:.2f} ×",
            cached_over_uncached >= 1.5,
        ),
        ("0 errors and 0 non-2xx in every scenario", ", ".join(clean) or "none", not clean),
        (f"p99 ≤ {P99_OVER_P50} × p50 in every scenario", ", ".join(spread) or "all", not spread),
        *soak,
        (
            f"image ≤ {IMAGE_LIMIT_MB} MB (stand-in base)",
            f"{meta['image_bytes'] / MB:.1f} MB",
            meta["image_bytes"] <= IMAGE_LIMIT_MB * MB,
        ),
        (
            f"project's layers ≤ {OWN_LAYERS_LIMIT_MB} MB",
            f"{meta['own_layers_bytes'] / MB:.1f} MB",
            meta["own_layers_bytes"] <= OWN_LAYERS_LIMIT_MB * MB,
        ),
    ]


def own_floor(key: str, result: dict[str, Any]) -> str:
    if key not in OWN_FLOOR:
        return "– |"
    return f"{result['x_own_floor']:.2f} {FLOOR_MARK[OWN_FLOOR[key]]} |"


def worker_peaks(container: dict[str, Any]) -> str:
    peaks = [w["kib"] / 1024 for w in container.get("worker_rss_peaks", [])]
    return " / ".join(f"{peak:.0f}" for peak in peaks) + " MiB" if peaks else "not measured"


# bench/run's observability rounds: the app as shipped (metrics on), without metrics, traced.
VARIANTS = {"app": "metrics on", "app-nometrics": "metrics off", "app-traced": "tracing on"}
OBSERVED = {"health_live": "GET /health/live", "item_cached": "GET /api/v1/items/{id}, cached"}
METRICS_OVERHEAD_GOAL = 0.10


# bench/run's edge rounds: the same requests straight to the app and through nginx, and floor (b)
# straight and through the same nginx (what the edge itself costs on this machine).
EDGE_VARIANTS = {"direct": "straight to the app", "edge": "through the edge"}
EDGE_OBSERVED = {"floor_fastapi": "floor (b): minimal FastAPI", **OBSERVED}
EDGE_COST_GOAL = 0.25


def best_rounds(
    run_dir: Path, prefix: str, variants: dict[str, str], scenarios: dict[str, str] = OBSERVED
) -> dict[str, dict[str, dict[str, float]]]:
    """Each variant's best round on each scenario (files PREFIX_VARIANT_SCENARIO_N.json):
    its req/s and that round's p50 in ms."""
    best: dict[str, dict[str, dict[str, float]]] = {}
    for path in run_dir.glob(f"{prefix}_*.json"):
        variant, scenario = next(
            (v, s)
            for v in variants
            for s in scenarios
            if path.stem.startswith(f"{prefix}_{v}_{s}_")
        )
        result = figures(json.loads(path.read_text()))
        kept = best.setdefault(scenario, {}).get(variant)
        if kept is None or result["requests_per_s"] > kept["requests_per_s"]:
            best[scenario][variant] = {k: result[k] for k in ("requests_per_s", "p50_ms")}
    return best


def load_observability(run_dir: Path) -> dict[str, dict[str, float]]:
    """Best req/s of each variant on each scenario, over its rounds (obs_VARIANT_SCENARIO_N)."""
    return {
        scenario: {variant: result["requests_per_s"] for variant, result in variants.items()}
        for scenario, variants in best_rounds(run_dir, "obs", VARIANTS).items()
    }


def edge_lines(best: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    if not best:
        return []
    lines = [
        "",
        "## The edge's cost (gunicorn, best round of each)",
        "",
        "| scenario | straight req/s | through the edge req/s | change "
        f"| p50 straight / through the edge, ms | the edge's cost ≤ {EDGE_COST_GOAL:.0%} |",
        "|---|--:|--:|--:|--:|---|",
    ]
    for scenario, label in EDGE_OBSERVED.items():
        if scenario not in best:  # a run from before floor (b) was measured through the edge
            continue
        direct, edge = best[scenario]["direct"], best[scenario]["edge"]
        change = edge["requests_per_s"] / direct["requests_per_s"] - 1
        # Floor (b) has no goal: it is the raw cost the app's two figures stand beside.
        goal = "–" if scenario not in OBSERVED else "PASS" if -change <= EDGE_COST_GOAL else "MISS"
        lines.append(
            f"| {label} | {direct['requests_per_s']:,.0f} | {edge['requests_per_s']:,.0f} "
            f"| {change:+.1%} | {direct['p50_ms']:.2f} / {edge['p50_ms']:.2f} | {goal} |"
        )
    return lines


def observability_lines(best: dict[str, dict[str, float]]) -> list[str]:
    if not best:
        return []
    lines = [
        "",
        "## Observability's cost (gunicorn, best round of each)",
        "",
        "| scenario | metrics off req/s | metrics on req/s | metrics' cost | tracing on req/s "
        "| tracing's cost (vs metrics on) |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for scenario, label in OBSERVED.items():
        rates = best[scenario]
        off, on, traced = rates["app-nometrics"], rates["app"], rates["app-traced"]
        metrics_cost, tracing_cost = 1 - on / off, 1 - traced / on
        verdict = "PASS" if metrics_cost < METRICS_OVERHEAD_GOAL else "MISS"
        goal = f"goal < {METRICS_OVERHEAD_GOAL:.0%}: {verdict}"
        lines.append(
            f"| {label} | {off:,.0f} | {on:,.0f} | {metrics_cost:.1%} ({goal}) "
            f"| {traced:,.0f} | {tracing_cost:.1%} |"
        )
    return lines


def markdown(meta: dict[str, Any], servers: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"# Benchmark {meta['time']}{' (QUICK: indicative only)' if meta['quick'] else ''}",
        "",
        f"{meta['cpus']} CPUs, {meta['workers']} workers, wrk {meta['wrk_threads']} threads × "
        f"{meta['connections']} connections, {meta['warmup_s']} s warm-up + "
        f"{meta['duration_s']} s per scenario; under {meta.get('rounds_server', '?')}, the median "
        f"of {meta.get('rounds', 1)} rounds. Python {meta['versions']['python']}, "
        f"FastAPI {meta['versions']['fastapi']}.",
    ]
    for name, server in servers.items():
        lines += [
            "",
            f"## {name}",
            "",
            "| scenario | req/s | p50 ms | p90 ms | p99 ms | non-2xx | socket errors "
            "| × ASGI floor | × FastAPI floor | × own floor |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for key, label in SCENARIOS.items():
            r = server["scenarios"][key]
            lines.append(
                f"| {label} | {r['requests_per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | "
                f"{r['p99_ms']:.2f} | {r['non_2xx']} | {r['socket_errors']} | "
                f"{r['x_asgi_floor']:.2f} | {r['x_fastapi_floor']:.2f} | " + own_floor(key, r)
            )
        if "soak" in server:
            r = server["soak"]
            lines.append(
                f"| soak: read/list/create mix, {meta.get('soak_s', '?')} s "
                f"| {r['requests_per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | "
                f"{r['p99_ms']:.2f} | {r['non_2xx']} | {r['socket_errors']} | – | – | – |"
            )
        lines += ["", "| target | measured | |", "|---|--:|---|"]
        lines += [
            f"| {t} | {m} | {'PASS' if ok else 'MISS'} |" for t, m, ok in targets(server, meta)
        ]
        c = server["container"]
        lines += [
            "",
            f"start to healthy {c['start_to_healthy_s']} s · docker stop {c['docker_stop_s']} s · "
            f"peak memory under the scenarios' load {c['memory_peak_bytes'] / 2**20:.0f} MiB · "
            f"peak RSS per worker {worker_peaks(c)}",
        ]
    jobs = meta["jobs"]
    lines += [
        "",
        "## Job path",
        "",
        f"{jobs['done']} of {jobs['sent']} no-op jobs from 8 producers through one worker process "
        f"in {jobs['seconds']} s: **{jobs['jobs_per_second']:,.0f} jobs/s** "
        f"(goal ≥ 1,000: {'PASS' if jobs['jobs_per_second'] >= 1000 else 'MISS'}); "
        f"enqueue-to-start p50 {jobs['latency_p50_ms']} ms, p99 {jobs['latency_p99_ms']} ms; "
        f"worker peak memory {jobs['worker_memory_peak_bytes'] / 2**20:.0f} MiB.",
    ]
    lines += observability_lines(meta.get("observability", {}))
    lines += edge_lines(meta.get("edge", {}))
    cold = f"{meta['cold_build_s']} s" if meta["cold_build_s"] is not None else "not run (QUICK)"
    lines += [
        "",
        "## Image",
        "",
        f"{meta['image_bytes'] / MB:.1f} MB in all on the stand-in base, "
        f"{meta['own_layers_bytes'] / MB:.1f} MB of it the project's layers; cold build {cold}; "
        f"code-only rebuild {meta['code_rebuild_s']} s.",
    ]
    return "\n".join(lines) + "\n"


def wrong_answers(run_dir: Path) -> tuple[list[str], list[str]]:
    """Every measured wrk run (scenarios, floors, soak, edge and observability rounds) that got
    non-2xx answers or socket errors: (those past WRONG_ANSWERS_LIMIT of its requests, whose
    throughput is not the path's and which fail the run; the others, a few refusals of a
    saturated machine, which are reported)."""
    broken: list[str] = []
    few: list[str] = []
    for path in sorted(run_dir.rglob("*.json")):
        if path.stem in SCENARIOS and (path.parent / "rounds").is_dir():
            continue  # a copy of its median round, which is under rounds/
        run = json.loads(path.read_text())
        if isinstance(run, dict) and "non_2xx" in run:
            result = figures(run)
            wrong = result["non_2xx"] + result["socket_errors"]
            if wrong:
                line = (
                    f"{path.relative_to(run_dir)}: {result['non_2xx']} non-2xx, "
                    f"{result['socket_errors']} socket errors of {result['requests']} requests"
                )
                limit = WRONG_ANSWERS_LIMIT * max(result["requests"], 1)
                (broken if wrong > limit else few).append(line)
    return broken, few


def main(run_dir: Path, results_dir: Path) -> int:
    meta = json.loads((run_dir / "meta.json").read_text())
    meta["jobs"] = json.loads((run_dir / "job_measured.json").read_text()) | json.loads(
        (run_dir / "worker.json").read_text()
    )
    meta["observability"] = load_observability(run_dir)
    meta["edge"] = best_rounds(run_dir, "edge", EDGE_VARIANTS, EDGE_OBSERVED)
    servers = {d.name: load_server(d) for d in sorted(run_dir.iterdir()) if d.is_dir()}
    report = markdown(meta, servers)
    print(report)
    record = {**meta, "servers": servers}
    for server in servers.values():
        server["targets"] = [
            {"target": t, "measured": m, "pass": ok} for t, m, ok in targets(server, meta)
        ]
    path = results_dir / f"{meta['time'].replace(':', '')}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"full results: bench/results/{path.name}")
    broken, few = wrong_answers(run_dir)
    for line in few:
        print(f"bench: a few wrong answers in {line}", file=sys.stderr)
    for line in broken:
        print(f"bench: FAILED, wrong answers past 1 in 1,000 in {line}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
