"""The delivery pipeline's publishing rules, checked offline (`make lint-ci`).

zizmor, check-jsonschema and hadolint judge each file on its own terms; these are the rules of
this project's pipeline that they cannot know:

- the image is built once, and nothing after the scan builds: the pushed image is the scanned one;
- it is built for linux/amd64 and linux/arm64; built per platform (a matrix), the publishing job
  merges the platforms' digests into one index (`docker buildx imagetools create`), and a
  deploying job ships the index's digest, an output of that job, not one platform's;
- publishing runs in a job of its own that only push events (or a manual dispatch) reach, after
  the scan, and only a publishing job holds `packages: write`, `id-token: write` or
  `attestations: write`;
- a deploying job (amazon-ecs-deploy-task-definition, `aws ecs update-service`, `kubectl apply`,
  `gcloud run`) may hold `id-token: write` (its cloud login) but never `packages: write` or
  `attestations: write`; only push events or a manual dispatch reach it, it `needs:` the
  publishing job (it ships only a pushed, scanned, signed digest), and it runs in an
  `environment:` (where reviewers can be required);
- a deploying job that migrates (a one-off task, a Job) ships a signed image only: a `cosign
  verify` with the exact `--certificate-identity` of this repository's workflow and GitHub's
  OIDC issuer runs before it deploys anything; it waits for the migration and fails as soon as it
  fails (`wait-for-task-stopped`, never `kubectl wait --for=condition=complete` alone, which sits
  out its timeout on a failed Job); the step right after the migration records the digest
  (`ssm put-parameter`), before any service moves; and it can deploy through CloudFormation
  (`aws cloudformation deploy`), so a release that changes the task definitions' shape ships it;
- `cancel-in-progress` is never a literal true: a run on main or a tag is not cancelled between
  its push and its signature;
- every `pip install` in the Dockerfile checks hashes (`--require-hashes`).

    python tests/pipeline/check_workflow.py [--workflow PATH] [--dockerfile PATH]
    python tests/pipeline/check_workflow.py --self-test

`--self-test` runs this script on each file in tests/pipeline/fixtures/, each planting the defect
its `# expect:` line names, and fails unless every one is refused for that reason: proof that the
check can fail. Standard library and PyYAML only (in the dev image, through schemathesis).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
FIXTURES = HERE / "fixtures"

BUILD_ACTIONS = ("docker/build-push-action", "docker/bake-action")
SCAN_ACTION = "aquasecurity/trivy-action"
# Steps that only a publishing job has a reason to run.
PUBLISH_ACTIONS = (
    "docker/login-action",
    "actions/attest",
    "aws-actions/amazon-ecr-login",
)
PUBLISH_COMMAND = re.compile(
    r"\b(docker\s+push|skopeo\s+copy|crane\s+(push|copy)|cosign\s+(sign|attest)|oras\s+push"
    r"|buildx\s+imagetools\s+create)\b"
)
# The platforms every release is built for, and what merges per-platform digests into one index.
PLATFORMS = ("linux/amd64", "linux/arm64")
MERGE_COMMAND = re.compile(
    r"\b(buildx\s+imagetools\s+create|docker\s+manifest\s+create|crane\s+index\s+append)\b"
)
MATRIX_VALUE = re.compile(r"^\$\{\{\s*matrix\.([\w-]+)\s*\}\}$")
BUILD_COMMAND = re.compile(
    r"\b(docker\s+(buildx\s+)?build|buildx\s+bake|buildah\s+(bud|build)|podman\s+build)\b"
)
# What a pull request's run must never hold.
PRIVILEGED = ("packages", "id-token", "attestations")
PIP_INSTALL = re.compile(r"\b(pip3?|python3?\s+-m\s+pip)\s+install\b")
# Steps that ship a published image to a running environment.
DEPLOY_ACTIONS = ("aws-actions/amazon-ecs-deploy-task-definition",)
DEPLOY_COMMAND = re.compile(
    r"\b(aws\s+ecs\s+(update-service|run-task)|kubectl\s+apply|gcloud\s+run\s+\S+)\b"
)
# A migration run by a deploy, and how its result is waited for.
MIGRATION_COMMAND = re.compile(
    r"\b(aws\s+ecs\s+run-task|gcloud\s+run\s+jobs\s+execute|kubectl\s+.*\bjob/)"
)
WAIT_COMPLETE_ONLY = re.compile(r"kubectl\s+(-n\s+\S+\s+)?wait\b[^\n]*--for[= ]condition=complete")
VERIFY_COMMAND = re.compile(r"\bcosign\s+verify\b")
VERIFY_IDENTITY = re.compile(r"--certificate-identity[= ]")
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
RECORD_COMMAND = re.compile(r"\bssm\s+put-parameter\b")
STACK_COMMAND = re.compile(r"\baws\s+cloudformation\s+(deploy|create-change-set)\b")
# Events only people with write access can cause: a run of theirs may publish and deploy.
TRUSTED_EVENTS = ("push", "workflow_dispatch")
TRUSTED_EVENT = re.compile(
    r"""^github\.event_name\s*==\s*(['"])(""" + "|".join(TRUSTED_EVENTS) + r""")\1$"""
)

Job = Mapping[str, Any]


def action(step: Job) -> str:
    """The action a step uses, without its ref ("" for a `run:` step)."""
    uses = step.get("uses")
    return uses.split("@", 1)[0] if isinstance(uses, str) else ""


def steps(job: Job) -> list[Job]:
    found = job.get("steps")
    return [step for step in found if isinstance(step, Mapping)] if isinstance(found, list) else []


def label(job_name: str, index: int, step: Job) -> str:
    return f"job `{job_name}`, step {index + 1} ({step.get('name') or step.get('uses') or 'run'})"


def privileged(permissions: object) -> list[str]:
    if permissions == "write-all":
        return list(PRIVILEGED)
    if isinstance(permissions, Mapping):
        return [scope for scope in PRIVILEGED if permissions.get(scope) == "write"]
    return []


def needs(job: Job) -> list[str]:
    found = job.get("needs", [])
    return [found] if isinstance(found, str) else [str(name) for name in found]


def upstream(jobs: Mapping[str, Job], name: str) -> set[str]:
    """Every job that must finish before `name` starts."""
    seen: set[str] = set()
    pending = needs(jobs[name])
    while pending:
        other = pending.pop()
        if other not in seen and other in jobs:
            seen.add(other)
            pending.extend(needs(jobs[other]))
    return seen


def top_level(expression: str, operator: str) -> list[str]:
    """`expression` split on `operator` outside parentheses and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    index = 0
    while index < len(expression):
        char = expression[index]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif depth == 0 and expression.startswith(operator, index):
            parts.append(expression[start:index])
            index += len(operator)
            start = index
            continue
        index += 1
    parts.append(expression[start:])
    return [part.strip() for part in parts]


def unwrapped(expression: str) -> str:
    """`expression` without parentheses that enclose all of it: `(a || b)` is `a || b`, but
    `(a) || (b)` stays as it is."""
    while expression.startswith("(") and expression.endswith(")"):
        depth, quote = 0, ""
        for index, char in enumerate(expression):
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if depth == 0 and index < len(expression) - 1:
                    return expression
        expression = expression[1:-1].strip()
    return expression


def trusted_only(expression: str) -> bool:
    """Whether an expression holds only for push events or a manual dispatch: every top-level
    `||` alternative holds a `github.event_name == '<trusted event>'` among its top-level `&&`
    terms (looking inside parentheses)."""
    alternatives = top_level(unwrapped(expression.strip()), "||")
    if len(alternatives) > 1:
        return all(trusted_only(alternative) for alternative in alternatives)
    terms = top_level(unwrapped(alternatives[0]), "&&")
    return any(
        TRUSTED_EVENT.match(term) or (term.startswith("(") and trusted_only(term)) for term in terms
    )


def push_only(condition: object) -> bool:
    """Whether a job's `if:` admits push events (or a manual dispatch, which also needs write
    access) only, so a pull request's run never reaches the job."""
    if not isinstance(condition, str):
        return False
    expression = condition.strip()
    if expression.startswith("${{") and expression.endswith("}}"):
        expression = expression[3:-2].strip()
    return trusted_only(expression)


def builds(step: Job) -> bool:
    run = step.get("run")
    if action(step) in BUILD_ACTIONS:
        return True
    return isinstance(run, str) and bool(BUILD_COMMAND.search(run))


def pushes(step: Job) -> bool:
    run = step.get("run")
    if action(step) in PUBLISH_ACTIONS or (isinstance(run, str) and PUBLISH_COMMAND.search(run)):
        return True
    settings = step.get("with")
    return (
        action(step) in BUILD_ACTIONS
        and isinstance(settings, Mapping)
        and (
            settings.get("push") in (True, "true")
            or bool(re.search(r"type=registry|push=true", str(settings.get("outputs", ""))))
        )
    )


def deploys(step: Job) -> bool:
    run = step.get("run")
    if action(step) in DEPLOY_ACTIONS:
        return True
    return isinstance(run, str) and bool(DEPLOY_COMMAND.search(run))


def runs(step: Job) -> str:
    run = step.get("run")
    return run if isinstance(run, str) else ""


def migrates(step: Job) -> bool:
    settings = step.get("with")
    by_action = (
        action(step) in DEPLOY_ACTIONS
        and isinstance(settings, Mapping)
        and settings.get("run-task") in (True, "true")
    )
    return by_action or bool(MIGRATION_COMMAND.search(runs(step)))


def verifies(step: Job) -> bool:
    """A `cosign verify` pinned to one identity of a GitHub workflow, from GitHub's issuer."""
    run = runs(step)
    return (
        bool(VERIFY_COMMAND.search(run))
        and bool(VERIFY_IDENTITY.search(run))
        and "--certificate-identity-regexp" not in run
        and GITHUB_ISSUER in run
        and "/.github/workflows/" in str(step.get("env", {})) + run
    )


def check_migrating(name: str, job: Job) -> list[str]:
    """The order of a deploy that migrates: verify, migrate (failing fast), record, roll out."""
    found = steps(job)
    migrations = [i for i, step in enumerate(found) if migrates(step)]
    if not migrations:
        return []
    findings = []
    first_deploy = min(i for i, step in enumerate(found) if deploys(step) or migrates(step))
    verified = [i for i, step in enumerate(found) if verifies(step)]
    if not verified or verified[0] > first_deploy:
        findings.append(
            f"deploying job `{name}` ships an image without first verifying its signature "
            "(`cosign verify` with the exact `--certificate-identity` of this repository's "
            f"workflow and `--certificate-oidc-issuer {GITHUB_ISSUER}`)"
        )
    migration = migrations[0]
    step = found[migration]
    settings = step.get("with")
    if not isinstance(settings, Mapping):
        settings = {}
    waited = settings.get("wait-for-task-stopped") in (True, "true")
    if action(step) in DEPLOY_ACTIONS and not waited:
        findings.append(
            f"{label(name, migration, step)}: the migration is not waited for "
            "(`wait-for-task-stopped: true`): the services would roll out before it ends, and "
            "a failed one would not stop the deploy"
        )
    for index, other in enumerate(found):
        if WAIT_COMPLETE_ONLY.search(runs(other)) and "condition=failed" not in runs(other):
            findings.append(
                f"{label(name, index, other)}: waits only for the Job to complete; a failed Job "
                "never does, so the deploy sits out the whole timeout: stop as soon as it fails"
            )
    records = [i for i, other in enumerate(found) if RECORD_COMMAND.search(runs(other))]
    if records != [migration + 1]:
        findings.append(
            f"deploying job `{name}` does not record the digest right after the migration "
            f"(step {migration + 2}): until it does, a stack update rolls the services back to "
            "the old image on the migrated schema"
        )
    if any(action(s) in DEPLOY_ACTIONS and not migrates(s) for s in found) and not any(
        STACK_COMMAND.search(runs(s)) for s in found
    ):
        findings.append(
            f"deploying job `{name}` never deploys through CloudFormation: a release that "
            "changes the task definitions' shape (a new setting or secret) would ship with the "
            "old one"
        )
    return findings


def check_permissions(workflow: Job) -> list[str]:
    permissions = workflow.get("permissions")
    if permissions is None:
        return [
            "no top-level `permissions:`: every job gets the repository's default token, which "
            "may write; set `contents: read` there and grant more only per job"
        ]
    granted = privileged(permissions)
    if granted or (isinstance(permissions, Mapping) and "write" in permissions.values()):
        return [
            f"top-level `permissions:` grant write ({', '.join(granted) or 'see the file'}): every "
            "job, a pull request's too, would hold it; keep `contents: read` there and grant "
            "write only to the publishing job"
        ]
    return []


def check_concurrency(workflow: Job, jobs: Mapping[str, Job]) -> list[str]:
    places = [("the workflow", workflow.get("concurrency"))]
    places += [(f"job `{name}`", job.get("concurrency")) for name, job in jobs.items()]
    return [
        f"{where}: `cancel-in-progress: true` cancels runs on main and on tags too, perhaps "
        "between the push and the signature; use "
        "`${{ github.event_name == 'pull_request' }}`"
        for where, concurrency in places
        if isinstance(concurrency, Mapping)
        and concurrency.get("cancel-in-progress") in (True, "true")
    ]


def check_one_build(jobs: Mapping[str, Job], scanners: set[str]) -> list[str]:
    findings = []
    found = [
        (name, index, step)
        for name, job in jobs.items()
        for index, step in enumerate(steps(job))
        if action(step) in BUILD_ACTIONS
    ]
    if len(found) != 1:
        where = "; ".join(label(*place) for place in found) or "nowhere"
        findings.append(
            f"docker/build-push-action appears {len(found)} times ({where}): build the image "
            "once, scan that build and push it; a second build is an image nobody scanned"
        )
    findings += [
        f"{label(*place)}: the build pushes (`push: true` or a registry output); it must stay on "
        "the runner until the scan has passed"
        for place in found
        if pushes(place[2])
    ]
    for name, job in jobs.items():
        scans = [i for i, step in enumerate(steps(job)) if action(step) == SCAN_ACTION]
        scan_at = scans[0] if scans else None
        after = bool(upstream(jobs, name) & scanners)
        for index, step in enumerate(steps(job)):
            if builds(step) and (after or (scan_at is not None and index > scan_at)):
                findings.append(
                    f"{label(name, index, step)}: builds an image after the scan; what it "
                    "builds is not what was scanned"
                )
    return findings


def build_platforms(job: Job, step: Job) -> list[set[str]]:
    """The platforms of each invocation of a build step: one set per matrix leg when its
    `platforms:` is a matrix value, else one set; empty sets when it names none (the runner's)."""
    settings = step.get("with")
    value = str(settings.get("platforms", "")) if isinstance(settings, Mapping) else ""
    if found := MATRIX_VALUE.match(value.strip()):
        key = found.group(1)
        strategy = job.get("strategy")
        matrix = strategy.get("matrix") if isinstance(strategy, Mapping) else None
        values: list[object] = []
        if isinstance(matrix, Mapping):
            listed = matrix.get(key)
            values += listed if isinstance(listed, list) else []
            include = matrix.get("include")
            values += [leg[key] for leg in include or [] if isinstance(leg, Mapping) and key in leg]
        return [set(re.split(r"[,\s]+", str(v).strip())) - {""} for v in values] or [set()]
    return [set(re.split(r"[,\s]+", value.strip())) - {""}]


def check_platforms(jobs: Mapping[str, Job], publishers: set[str]) -> list[str]:
    """Both platforms built; per-platform builds merged into one index by a publishing job;
    deploying jobs ship that index's digest."""
    found = [
        (name, index, step)
        for name, job in jobs.items()
        for index, step in enumerate(steps(job))
        if action(step) in BUILD_ACTIONS
    ]
    if len(found) != 1:
        return []  # check_one_build reports it
    name, index, step = found[0]
    invocations = build_platforms(jobs[name], step)
    covered = set().union(*invocations)
    missing = [platform for platform in PLATFORMS if platform not in covered]
    if missing:
        return [
            f"{label(name, index, step)}: a single-platform build "
            f"({', '.join(sorted(covered)) or 'the runner platform only'}): build "
            f"{' and '.join(PLATFORMS)} (one leg each, or one multi-platform build) and publish "
            "them as one index"
        ]
    if all(len(platforms) > 1 for platforms in invocations):
        return []  # one multi-platform build: its output is the index
    mergers = [
        job_name
        for job_name in sorted(publishers)
        if any(MERGE_COMMAND.search(runs(s)) for s in steps(jobs[job_name]))
    ]
    if not mergers:
        return [
            f"job `{name}` builds one platform per leg, but no publishing job merges their "
            "digests into one index (`docker buildx imagetools create`): each tag would name "
            "one platform only"
        ]
    findings = []
    for job_name, job in jobs.items():
        if job_name in publishers or not any(deploys(s) for s in steps(job)):
            continue
        text = yaml.safe_dump(dict(job))
        if not any(f"needs.{merger}.outputs." in text for merger in mergers) or re.search(
            rf"needs\.{re.escape(name)}\.outputs\.digest", text
        ):
            findings.append(
                f"deploying job `{job_name}` ships a digest that is not the index's (an output of "
                f"`{'`, `'.join(mergers)}`): a one-platform digest runs on one architecture only"
            )
    return findings


def check_publishing(jobs: Mapping[str, Job], scanners: set[str]) -> list[str]:
    publishers = {name for name, job in jobs.items() if any(pushes(s) for s in steps(job))}
    deployers = {
        name
        for name, job in jobs.items()
        if name not in publishers and any(deploys(s) for s in steps(job))
    }
    holders = {name: privileged(job.get("permissions")) for name, job in jobs.items()}
    holders = {name: scopes for name, scopes in holders.items() if scopes}
    if not publishers:
        return [
            "no job publishes the image (docker/login-action, skopeo copy, docker push, "
            "cosign sign): this check expects the pipeline to publish from one"
        ]
    findings = [
        f"job `{name}` holds `{': write`, `'.join(scopes)}: write` but publishes nothing: only "
        "the publishing job may hold them"
        for name, scopes in holders.items()
        if name not in publishers and name not in deployers
    ]
    findings += check_deploying(jobs, deployers, publishers, holders)
    for name in sorted(publishers | holders.keys()):
        condition = jobs[name].get("if")
        if not push_only(condition):
            findings.append(
                f"job `{name}` publishes or holds write permissions, but its `if:` "
                f"({condition or 'none'}) does not restrict it to push events, so a pull "
                "request's run reaches it; give the job `if: github.event_name == 'push'`"
            )
    for name in sorted(publishers):
        if name in scanners:
            findings.append(
                f"job `{name}` both scans and publishes: publish from a job of its own that "
                "`needs:` the scan, so that a pull request's run never holds its permissions"
            )
        elif not upstream(jobs, name) & scanners:
            findings.append(
                f"job `{name}` publishes without `needs:` on the scanning job "
                f"({', '.join(sorted(scanners)) or 'none'}): it could push before the scan passed"
            )
    return findings


def check_deploying(
    jobs: Mapping[str, Job],
    deployers: set[str],
    publishers: set[str],
    holders: Mapping[str, list[str]],
) -> list[str]:
    findings = []
    for name in sorted(deployers):
        job = jobs[name]
        extra = [scope for scope in holders.get(name, []) if scope != "id-token"]
        if extra:
            findings.append(
                f"deploying job `{name}` holds `{': write`, `'.join(extra)}: write`: a deploy "
                "ships a digest that is already pushed and signed, and may hold only "
                "`id-token: write` (its cloud login)"
            )
        if not push_only(job.get("if")):
            findings.append(
                f"deploying job `{name}`: its `if:` ({job.get('if') or 'none'}) does not restrict "
                "it to push events or a manual dispatch, so a pull request's run reaches it"
            )
        if not upstream(jobs, name) & publishers:
            findings.append(
                f"deploying job `{name}` does not `needs:` the publishing job "
                f"({', '.join(sorted(publishers)) or 'none'}): it could ship a digest that was "
                "never pushed, signed and attested"
            )
        if not job.get("environment"):
            findings.append(
                f"deploying job `{name}` has no `environment:`: give it one (production), where "
                "reviewers can be required and its variables live"
            )
        findings += check_migrating(name, job)
    return findings


def check_workflow(path: Path) -> list[str]:
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(workflow, Mapping) or not isinstance(workflow.get("jobs"), Mapping):
        return ["not a workflow: no `jobs:` mapping"]
    jobs: Mapping[str, Job] = {
        str(name): job for name, job in workflow["jobs"].items() if isinstance(job, Mapping)
    }
    scanners = {
        name for name, job in jobs.items() if any(action(s) == SCAN_ACTION for s in steps(job))
    }
    findings = check_permissions(workflow) + check_concurrency(workflow, jobs)
    if not scanners:
        findings.append(f"no job scans the image with {SCAN_ACTION}")
    publishers = {name for name, job in jobs.items() if any(pushes(s) for s in steps(job))}
    return (
        findings
        + check_one_build(jobs, scanners)
        + check_platforms(jobs, publishers)
        + check_publishing(jobs, scanners)
    )


def instructions(dockerfile: str) -> Iterator[str]:
    """The Dockerfile's instructions, continuation lines joined and comment lines dropped
    (Docker drops those even inside a continued instruction)."""
    current: list[str] = []
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if line.startswith("#") or not line:
            continue
        if line.endswith("\\"):
            current.append(line[:-1].strip())
            continue
        current.append(line)
        yield " ".join(current)
        current = []
    if current:
        yield " ".join(current)


def check_dockerfile(path: Path) -> list[str]:
    return [
        f"`{instruction[:90]}...` installs without --require-hashes: a swapped or tampered "
        "wheel would go in unnoticed; install from a requirements file with sha256 hashes"
        for instruction in instructions(path.read_text(encoding="utf-8"))
        if instruction.split(None, 1)[0].upper() == "RUN"
        and PIP_INSTALL.search(instruction)
        and "--require-hashes" not in instruction
    ]


def shown(path: Path) -> str:
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def check(workflow: Path, dockerfile: Path) -> int:
    findings = [f"{shown(workflow)}: {finding}" for finding in check_workflow(workflow)]
    findings += [f"{shown(dockerfile)}: {finding}" for finding in check_dockerfile(dockerfile)]
    for finding in findings:
        print(f"check_workflow: {finding}", file=sys.stderr)
    if findings:
        print(f"check_workflow: {len(findings)} problem(s)", file=sys.stderr)
        return 1
    print(
        f"check_workflow: {shown(workflow)} and {shown(dockerfile)} keep the publishing rules "
        "(one build per platform, scanned, then pushed as one index by a push-only job; no "
        "cancelled publish; hashed pip)"
    )
    return 0


def self_test() -> int:
    """Each fixture must make this script exit 1, with the finding its `# expect:` line names."""
    fixtures = sorted(path for path in FIXTURES.iterdir() if path.is_file())
    failures = 0 if fixtures else 1
    for fixture in fixtures:
        text = fixture.read_text(encoding="utf-8")
        expected = re.search(r"^# expect: (.+)$", text, re.MULTILINE)
        option = "--dockerfile" if fixture.name.startswith("Dockerfile") else "--workflow"
        result = subprocess.run(  # noqa: S603 (this interpreter, this script, our fixtures)
            [sys.executable, __file__, option, str(fixture)],
            capture_output=True,
            text=True,
            check=False,
        )
        reason = expected.group(1).strip() if expected else ""
        hits = [line for line in result.stderr.splitlines() if reason and reason in line]
        if not expected:
            print(f"self-test: {fixture.name} has no `# expect:` line", file=sys.stderr)
        elif result.returncode != 1 or not hits:
            print(
                f"self-test: {fixture.name} was not refused for its planted defect "
                f"({reason}); exit {result.returncode}:\n{result.stderr}",
                file=sys.stderr,
            )
        else:
            print(f"self-test: {fixture.name} refused, as it must be: {hits[0]}")
            continue
        failures += 1
    if failures:
        print(f"self-test: {failures} fixture(s) not refused as planted", file=sys.stderr)
        return 1
    print(f"self-test: all {len(fixtures)} planted defects refused")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workflow", type=Path, default=ROOT / ".github/workflows/ci.yml")
    parser.add_argument("--dockerfile", type=Path, default=ROOT / "Dockerfile")
    parser.add_argument("--self-test", action="store_true", help="refuse every fixture")
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test()
    return check(args.workflow.resolve(), args.dockerfile.resolve())


if __name__ == "__main__":
    sys.exit(main())
