"""deploy/observability judged by Prometheus' own promtool, in the Prometheus image
(`make lint-deploy`, on the host: Python's standard library and Docker only).

    python3 tests/deploy/check_promtool.py            # the real files: every check passes
    python3 tests/deploy/check_promtool.py --planted  # every fixture refused, for its defect

On the real files: `promtool check rules` on alerts.yml, `promtool test rules` on its unit tests
(alerts.test.yml), and `promtool check rules` on the dashboard's queries, each made a recording
rule (Grafana's variables given a value), so Prometheus' parser reads every PromQL expression.

The fixtures in tests/deploy/fixtures/promtool plant one defect each, named by its
`# expect: TEXT` line, which promtool's output must contain when it refuses it:
- NAME.yml: a rule file `promtool check rules` must refuse;
- NAME.json: a dashboard whose queries it must refuse;
- NAME.change: `replace:` and `with:` lines changing alerts.yml (the text to replace must be
  there exactly once), whose unit tests `promtool test rules` must then fail: a wrong threshold,
  a longer `for:`, a sum for a max.

PROMETHEUS_IMAGE names the image (a mirror's copy, an offline stand-in); by default, the pin in
compose.yml.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
RULES = OBSERVABILITY / "alerts.yml"
TESTS = OBSERVABILITY / "alerts.test.yml"
DASHBOARD = OBSERVABILITY / "dashboard.json"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "promtool"
# Grafana's global variables, given a value before a query is parsed.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def image() -> str:
    if named := os.environ.get("PROMETHEUS_IMAGE"):
        return named
    pin = re.search(r"\$\{PROMETHEUS_IMAGE:-([^}]+)\}", (ROOT / "compose.yml").read_text())
    if not pin:
        sys.exit("check_promtool: no ${PROMETHEUS_IMAGE:-...} default in compose.yml")
    return pin.group(1)


def promtool(*args: str, mount: Path) -> tuple[int, str]:
    """promtool ARGS in the Prometheus image, with `mount` read-only at /work (its workdir)."""
    argv = [
        "docker", "run", "--rm", "--network", "none", "--entrypoint", "/bin/promtool",
        "--volume", f"{mount}:/work:ro", "--workdir", "/work", image(), *args,
    ]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    return result.returncode, (result.stdout + result.stderr).strip()


def dashboard_rules(dashboard: Path) -> str:
    """The dashboard's queries as a rule file (JSON is YAML): one recording rule each."""
    panels = json.loads(dashboard.read_text()).get("panels", [])
    rules: list[dict[str, str]] = []
    for panel in panels:
        for target in panel.get("targets", []):
            expr = target.get("expr", "")
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            rules.append({"record": f"dashboard:query_{len(rules)}", "expr": expr})
    return json.dumps({"groups": [{"name": dashboard.stem, "rules": rules}]}, indent=1)


def copy_with_rules(workdir: Path, rules_text: str) -> Path:
    """alerts.test.yml beside the given alerts.yml, as promtool reads them (rule_files)."""
    shutil.copy(TESTS, workdir / TESTS.name)
    (workdir / RULES.name).write_text(rules_text)
    return workdir


def check_real(workdir: Path) -> int:
    (workdir / "dashboard-rules.yml").write_text(dashboard_rules(DASHBOARD))
    runs = [
        (("check", "rules", f"deploy/observability/{RULES.name}"), ROOT),
        (("test", "rules", f"deploy/observability/{TESTS.name}"), ROOT),
        (("check", "rules", "dashboard-rules.yml"), workdir),
    ]
    failures = 0
    for args, mount in runs:
        status, output = promtool(*args, mount=mount)
        print(f"$ promtool {' '.join(args)}\n{output or '(no output)'}\n-> exit {status}\n")
        failures += status != 0
    if failures:
        print(f"check_promtool: {failures} promtool run(s) failed ({image()})", file=sys.stderr)
        return 1
    print(f"check_promtool: rules, unit tests and dashboard queries pass promtool ({image()})")
    return 0


def change(fixture: Path, workdir: Path) -> tuple[int, str]:
    lines = fixture.read_text().splitlines()
    old = next((line[len("replace: ") :] for line in lines if line.startswith("replace: ")), "")
    new = next((line[len("with: ") :] for line in lines if line.startswith("with: ")), None)
    rules = RULES.read_text()
    if not old or new is None or rules.count(old) != 1:
        return 0, f"{fixture.name}: `replace:` must name text found once in alerts.yml: {old!r}"
    copy_with_rules(workdir, rules.replace(old, new))
    return promtool("test", "rules", TESTS.name, mount=workdir)


def refused(fixture: Path, workdir: Path) -> tuple[int, str]:
    if fixture.suffix == ".change":
        return change(fixture, workdir)
    if fixture.suffix == ".json":
        (workdir / "dashboard-rules.yml").write_text(dashboard_rules(fixture))
        return promtool("check", "rules", "dashboard-rules.yml", mount=workdir)
    shutil.copy(fixture, workdir / fixture.name)
    return promtool("check", "rules", fixture.name, mount=workdir)


def check_planted(workdir: Path) -> int:
    fixtures = sorted(FIXTURES.iterdir())
    failures = 0 if fixtures else 1
    for n, fixture in enumerate(fixtures):
        expected = re.search(r'^(?:# |\s*"?)expect"?: "?(.+?)"?,?$', fixture.read_text(), re.M)
        text = expected.group(1) if expected else ""
        fixture_dir = workdir / str(n)
        fixture_dir.mkdir()
        status, output = refused(fixture, fixture_dir)
        if text and status != 0 and text in output:
            print(f"planted: {fixture.name} refused by promtool, as it must be ({text})")
            continue
        failures += 1
        print(
            f"planted: {fixture.name} NOT refused for {text!r}; exit {status}:\n{output}",
            file=sys.stderr,
        )
    print(f"planted: {len(fixtures) - failures} of {len(fixtures)} planted defects refused")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--planted", action="store_true", help="refuse every fixture")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="check-promtool-") as workdir:
        os.chmod(workdir, 0o755)  # noqa: S103 - the image's user (nobody) reads it; no secret
        return (check_planted if args.planted else check_real)(Path(workdir))


if __name__ == "__main__":
    sys.exit(main())
