"""Every deployment target states the same facts as the image and compose.yml: the port, the
health paths and probes, the uid, the read-only root with /tmp writable, each process's command,
a stop timeout above the graceful timeout, a single scheduler, and only the settings' own names.

The Kubernetes overlays are rendered with `kubectl kustomize` (in the dev image, like the rest
of `make test`); the ECS task definitions are read from the CloudFormation template; Cloud Run
from its YAML. Each `*_problems` function lists what disagrees; the last tests plant a defect in
a copy and check it is reported, so none of these checks can pass by looking at nothing.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from app.core.config import Settings
from app.worker.config import WorkerSettings
from tests.deploy.rules import CloudFormationLoader
from tests.unit.conftest import PROJECT_ROOT
from tests.unit.test_settings_documented import setting_names

DEPLOY = PROJECT_ROOT / "deploy"
Doc = dict[str, Any]

# Cloud Run sends SIGKILL this long after SIGTERM, whatever a definition says.
CLOUD_RUN_KILL_SECONDS = 10
# taskiq's own margin over WORKER_SHUTDOWN_TIMEOUT_SECONDS (app/worker/__main__.py).
TASKIQ_MARGIN_SECONDS = 2
PROCESSES = ("app", "worker", "scheduler", "migrate", "bootstrap")


# --- The sources of truth: the image, compose.yml, Settings -----------------------------------


@cache
def dockerfile_runtime() -> str:
    text = (PROJECT_ROOT / "Dockerfile").read_text()
    return text.split("AS runtime", 1)[1]


def image_uid() -> tuple[int, int]:
    match = re.search(r"^USER (\d+):(\d+)$", dockerfile_runtime(), re.M)
    assert match, "the runtime stage names its user numerically"
    return int(match.group(1)), int(match.group(2))


def image_port() -> int:
    match = re.search(r"^EXPOSE (\d+)$", dockerfile_runtime(), re.M)
    assert match
    return int(match.group(1))


def image_healthcheck() -> list[str]:
    match = re.search(r"^\s+CMD (\[.*\])$", dockerfile_runtime().split("HEALTHCHECK", 1)[1], re.M)
    assert match
    command: list[str] = json.loads(match.group(1))
    return command


@cache
def compose() -> Doc:
    document: Doc = yaml.safe_load((PROJECT_ROOT / "compose.yml").read_text())
    return document


def compose_command(process: str) -> list[str] | None:
    command = compose()["services"][process].get("command")
    return list(command) if command else None


def compose_probe(process: str) -> list[str]:
    test: list[str] = compose()["services"][process]["healthcheck"]["test"]
    assert test[0] == "CMD"
    return test[1:]


def seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return int(match.group(1))


GRACEFUL = Settings.model_fields["graceful_timeout"].default
WORKER_SHUTDOWN = WorkerSettings.model_fields["worker_shutdown_timeout_seconds"].default
PORT = int(Settings.model_fields["bind"].default.rsplit(":", 1)[1])
METRICS_PORT = Settings.model_fields["metrics_port"].default


# --- Kubernetes ---------------------------------------------------------------------------------


@cache
def rendered(overlay: str) -> tuple[Doc, ...]:
    result = subprocess.run(  # noqa: S603 (kubectl on our own overlays)
        ["kubectl", "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    )
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def k8s_workloads(docs: tuple[Doc, ...] | list[Doc]) -> dict[str, Doc]:
    """Each process's pod spec, by its component label."""
    found = {}
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
            found[component] = doc
    return found


def pod(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def env_value(container: Doc, name: str, config: Doc) -> str | None:
    for entry in container.get("env", []):
        if entry["name"] == name:
            return str(entry.get("value", "")) if "value" in entry else None
    return config.get(name)


def k8s_problems(docs: list[Doc]) -> list[str]:
    workloads = k8s_workloads(docs)
    config = next(d["data"] for d in docs if d["kind"] == "ConfigMap")
    problems = []
    if sorted(workloads) != sorted(PROCESSES):
        problems.append(f"processes {sorted(workloads)}, expected {sorted(PROCESSES)}")
    for name, workload in workloads.items():
        problems += k8s_process_problems(name, workload, config)
    if "app" in workloads:
        problems += k8s_app_problems(workloads["app"], config)
    return problems + k8s_background_problems(workloads)


def k8s_process_problems(name: str, workload: Doc, config: Doc) -> list[str]:
    """What every process shares: the uid, the read-only root, /tmp, secrets, names, command."""
    problems = []
    uid, gid = image_uid()
    spec = pod(workload)
    container = spec["containers"][0]
    context = {**spec.get("securityContext", {}), **container.get("securityContext", {})}
    if (context.get("runAsUser"), context.get("runAsGroup")) != (uid, gid):
        problems.append(f"{name}: runs as {context.get('runAsUser')}, the image as {uid}")
    if not context.get("runAsNonRoot") or not context.get("readOnlyRootFilesystem"):
        problems.append(f"{name}: not runAsNonRoot with a read-only root")
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    if "emptyDir" not in volumes.get(mounts.get("/tmp", ""), {}):
        problems.append(f"{name}: /tmp is not a writable emptyDir")
    secret = volumes.get(mounts.get("/run/secrets", ""), {}).get("secret")
    if not secret:
        problems.append(f"{name}: no Secret mounted at /run/secrets")
    # Only the settings' own names: the environment, the config map, the secret files.
    names = {e["name"] for e in container.get("env", [])} | set(config)
    names |= {item["path"].upper() for item in (secret or {}).get("items", [])}
    if unknown := sorted(names - setting_names()):
        problems.append(f"{name}: names no setting has: {unknown}")
    if compose_command(name) != container.get("command"):
        problems.append(f"{name}: command {container.get('command')}, Compose's differs")
    return problems


def k8s_scrape_problems(name: str, workload: Doc) -> list[str]:
    """Prometheus finds the pod's metrics port through its annotations."""
    annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
    ports = {
        p.get("name"): p["containerPort"] for p in pod(workload)["containers"][0].get("ports", [])
    }
    if ports.get("metrics") != METRICS_PORT:
        return [f"{name}: no port named metrics on METRICS_PORT ({METRICS_PORT})"]
    wanted = {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT)}
    if {k: annotations.get(k) for k in wanted} != wanted:
        return [f"{name}: not annotated for scraping on {METRICS_PORT}"]
    return []


def k8s_app_problems(app: Doc, config: Doc) -> list[str]:
    """The API's port, probes, drain and worker count."""
    problems = []
    container = pod(app)["containers"][0]
    if [p["containerPort"] for p in container.get("ports", [])] != [PORT, METRICS_PORT]:
        problems.append(f"app: ports {container.get('ports')}, expected {[PORT, METRICS_PORT]}")
    problems += k8s_scrape_problems("app", app)
    paths = {
        probe: container.get(probe, {}).get("httpGet", {}).get("path")
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    expected = {
        "startupProbe": "/health/live",
        "livenessProbe": "/health/live",
        "readinessProbe": "/health/ready",
    }
    if paths != expected:
        problems.append(f"app: probes on {paths}, expected {expected}")
    graceful = int(env_value(container, "GRACEFUL_TIMEOUT", config) or GRACEFUL)
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {})
    drain = pre_stop.get("seconds", 0) + graceful
    if pod(app).get("terminationGracePeriodSeconds", 30) <= drain:
        problems.append(f"app: grace period not above preStop + GRACEFUL_TIMEOUT ({drain} s)")
    web: Doc = next((e for e in container.get("env", []) if e["name"] == "WEB_CONCURRENCY"), {})
    source = web.get("valueFrom", {}).get("resourceFieldRef", {})
    if source.get("resource") != "limits.cpu" or source.get("containerName") != "app":
        problems.append("app: WEB_CONCURRENCY does not come from the container's CPU limit")
    return problems


def k8s_background_problems(workloads: dict[str, Doc]) -> list[str]:
    """The worker's and the scheduler's probes and stop, and the one scheduler."""
    problems = []
    for name in ("worker", "scheduler"):
        if name in workloads:
            container = pod(workloads[name])["containers"][0]
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                command = container.get(probe, {}).get("exec", {}).get("command")
                if command != compose_probe(name):
                    problems.append(f"{name}: {probe} {command}, not Compose's healthcheck")
    if "worker" in workloads:
        problems += k8s_scrape_problems("worker", workloads["worker"])
        grace = pod(workloads["worker"]).get("terminationGracePeriodSeconds", 30)
        if grace <= WORKER_SHUTDOWN + TASKIQ_MARGIN_SECONDS:
            problems.append("worker: grace period not above the worker's shutdown timeout")
    scheduler = workloads.get("scheduler")
    if scheduler and (
        scheduler["spec"].get("replicas") != 1
        or scheduler["spec"].get("strategy", {}).get("type") != "Recreate"
    ):
        problems.append("scheduler: not exactly one replica with the Recreate strategy")
    return problems


# --- ECS (CloudFormation) -------------------------------------------------------------------------


@cache
def ecs_template() -> Doc:
    text = (DEPLOY / "aws" / "ecs.yml").read_text()
    # A SafeLoader that also knows the intrinsic tags: it builds nothing but plain data.
    template: Doc = yaml.load(text, Loader=CloudFormationLoader)  # noqa: S506
    return template


def ecs_containers(template: Doc) -> dict[str, Doc]:
    found = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::ECS::TaskDefinition":
            container = resource["Properties"]["ContainerDefinitions"][0]
            found[container["Name"]] = {**container, "_task": resource["Properties"]}
    return found


def ecs_resource(template: Doc, kind: str, **properties: object) -> Doc:
    for resource in template["Resources"].values():
        if resource["Type"] == kind and all(
            resource["Properties"].get(k) == v for k, v in properties.items()
        ):
            found: Doc = resource["Properties"]
            return found
    raise AssertionError(f"no {kind} with {properties}")


def serving(value: object) -> object:
    """A count as it stands once ServicesEnabled holds: `!If [Serving, n, 0]` is n."""
    if isinstance(value, dict) and "Fn::If" in value:
        condition, when_serving, otherwise = value["Fn::If"]
        return when_serving if condition == "Serving" and otherwise == 0 else None
    return value


def ecs_problems(template: Doc) -> list[str]:
    containers = ecs_containers(template)
    problems = []
    if sorted(containers) != sorted(PROCESSES):
        problems.append(f"task definitions {sorted(containers)}, expected {sorted(PROCESSES)}")
    for name, container in containers.items():
        problems += ecs_container_problems(name, container)
    return problems + ecs_app_problems(template, containers) + ecs_pooling_problems(containers)


# With RdsProxyTarget, the long-running processes connect through the stack's RDS Proxy and trust
# the system's CAs (the proxy's certificate); bootstrap and the migration always go straight to
# the database (the proxy knows the app role only), trusting the RDS bundle.
THROUGH_PROXY = {
    "POSTGRES_HOST": {
        "Fn::If": ["UseRdsProxy", {"Fn::GetAtt": "RdsProxy.Endpoint"}, {"Ref": "DatabaseHost"}]
    },
    "POSTGRES_SSL_CA_FILE": {
        "Fn::If": ["UseRdsProxy", "/etc/ssl/certs/ca-certificates.crt", {"Ref": "DatabaseCaFile"}]
    },
}
DIRECT = {
    "POSTGRES_HOST": {"Ref": "DatabaseHost"},
    "POSTGRES_SSL_CA_FILE": {"Ref": "DatabaseCaFile"},
}


def ecs_pooling_problems(containers: dict[str, Doc]) -> list[str]:
    problems = []
    for name, container in containers.items():
        expected = DIRECT if name in ("migrate", "bootstrap") else THROUGH_PROXY
        env = {e["Name"]: e.get("Value") for e in container.get("Environment", [])}
        for setting, value in expected.items():
            if env.get(setting) != value:
                problems.append(f"{name}: {setting} is {env.get(setting)}, expected {value}")
    return problems


def ecs_container_problems(name: str, container: Doc) -> list[str]:
    """What every task definition shares: uid, read-only root, /tmp, digest, names, command."""
    problems = []
    uid, gid = image_uid()
    if container.get("User") != f"{uid}:{gid}":
        problems.append(f"{name}: runs as {container.get('User')}, the image as {uid}:{gid}")
    if container.get("ReadonlyRootFilesystem") is not True:
        problems.append(f"{name}: the root filesystem is writable")
    if {"SourceVolume": "tmp", "ContainerPath": "/tmp"} not in container.get("MountPoints", []):
        problems.append(f"{name}: /tmp is not mounted")
    if "@${ImageDigest}" not in str(container.get("Image")):
        problems.append(f"{name}: the image is not pinned by digest")
    names = {e["Name"] for e in container.get("Environment", [])}
    secrets = {e["Name"] for e in container.get("Secrets", [])}
    if unknown := sorted((names | secrets) - setting_names()):
        problems.append(f"{name}: names no setting has: {unknown}")
    if "POSTGRES_PASSWORD" not in secrets:
        problems.append(f"{name}: POSTGRES_PASSWORD is not a Secrets Manager reference")
    if compose_command(name) != container.get("Command"):
        problems.append(f"{name}: command {container.get('Command')}, Compose's differs")
    return problems


def ecs_app_problems(template: Doc, containers: dict[str, Doc]) -> list[str]:
    """Health checks, port, stop timeouts, the balancer's checks and drain, sizes, scheduler."""
    problems = []
    for name in ("worker", "scheduler"):
        command = containers.get(name, {}).get("HealthCheck", {}).get("Command")
        if command != ["CMD", *compose_probe(name)]:
            problems.append(f"{name}: health check {command}, Compose's is {compose_probe(name)}")
    app = containers.get("app", {})
    if app.get("HealthCheck", {}).get("Command") != ["CMD", *image_healthcheck()]:
        problems.append("app: the health check is not the image's HEALTHCHECK")
    for name, ports in (("app", [PORT, METRICS_PORT]), ("worker", [METRICS_PORT])):
        mapped = [p["ContainerPort"] for p in containers.get(name, {}).get("PortMappings", [])]
        if mapped != ports:
            problems.append(f"{name}: ports {mapped}, expected {ports} (METRICS_PORT last)")
    if app.get("StopTimeout", 30) <= GRACEFUL:
        problems.append(f"app: StopTimeout not above GRACEFUL_TIMEOUT ({GRACEFUL} s)")
    worker_stop = containers.get("worker", {}).get("StopTimeout", 30)
    if worker_stop <= WORKER_SHUTDOWN + TASKIQ_MARGIN_SECONDS:
        problems.append("worker: StopTimeout not above the worker's shutdown timeout")
    group = ecs_resource(template, "AWS::ElasticLoadBalancingV2::TargetGroup")
    # ECS replaces a task its target group finds unhealthy: liveness, never readiness.
    if (group.get("HealthCheckPath"), group.get("Port")) != ("/health/live", PORT):
        problems.append("target group: not the liveness path on the app's port")
    delay = {a["Key"]: a["Value"] for a in group.get("TargetGroupAttributes", [])}
    if int(delay.get("deregistration_delay.timeout_seconds", 300)) != GRACEFUL:
        problems.append("target group: deregistration delay is not the app's GRACEFUL_TIMEOUT")
    sizes = template["Mappings"]["AppSizes"]
    for cpu, size in sizes.items():
        if int(size["WebConcurrency"]) != max(1, int(cpu) // 1024):
            problems.append(f"app size {cpu}: WEB_CONCURRENCY {size['WebConcurrency']} != vCPUs")
    scheduler = ecs_resource(
        template, "AWS::ECS::Service", ServiceName={"Fn::Sub": "${AWS::StackName}-scheduler"}
    )
    deployment = scheduler.get("DeploymentConfiguration", {})
    # Once the services are enabled (0 tasks until the first migration has run: Serving).
    if serving(scheduler.get("DesiredCount")) != 1 or deployment.get("MaximumPercent") != 100:
        problems.append("scheduler: not exactly one task, never two during a deployment")
    return problems


# --- Cloud Run -----------------------------------------------------------------------------------


@cache
def cloud_run() -> tuple[Doc, ...]:
    paths = sorted((DEPLOY / "cloudrun").glob("*.yaml"))
    return tuple(yaml.safe_load(path.read_text()) for path in paths)


def cloud_run_containers(docs: tuple[Doc, ...] | list[Doc]) -> dict[str, Doc]:
    found = {}
    for doc in docs:
        spec = doc["spec"]["template"]["spec"]
        spec = spec["template"]["spec"] if doc["kind"] == "Job" else spec
        for container in spec["containers"]:
            found[container["name"]] = container
    return found


def cloud_run_problems(docs: list[Doc]) -> list[str]:
    problems = []
    containers = cloud_run_containers(docs)
    if sorted(containers) != sorted(PROCESSES):
        problems.append(f"containers {sorted(containers)}, expected {sorted(PROCESSES)}")
    for name, container in containers.items():
        env = {e["name"]: e for e in container.get("env", [])}
        if unknown := sorted(set(env) - setting_names()):
            problems.append(f"{name}: names no setting has: {unknown}")
        if compose_command(name) != container.get("command"):
            problems.append(f"{name}: command {container.get('command')}, Compose's differs")
    app = containers.get("app", {})
    app_env = {e["name"]: e.get("value") for e in app.get("env", [])}
    if int(app_env.get("GRACEFUL_TIMEOUT") or GRACEFUL) >= CLOUD_RUN_KILL_SECONDS:
        problems.append("app: GRACEFUL_TIMEOUT not below Cloud Run's 10 s before SIGKILL")
    if [p["containerPort"] for p in app.get("ports", [])] != [PORT]:
        problems.append(f"app: port {app.get('ports')}, the image's is {PORT}")
    for probe in ("startupProbe", "livenessProbe"):
        if app.get(probe, {}).get("httpGet", {}).get("path") != "/health/live":
            problems.append(f"app: {probe} is not on /health/live")
    worker_env = {e["name"]: e.get("value") for e in containers.get("worker", {}).get("env", [])}
    shutdown = int(worker_env.get("WORKER_SHUTDOWN_TIMEOUT_SECONDS") or WORKER_SHUTDOWN)
    if shutdown + TASKIQ_MARGIN_SECONDS >= CLOUD_RUN_KILL_SECONDS:
        problems.append("worker: its shutdown does not end before Cloud Run's SIGKILL")
    return problems


# --- The tests ------------------------------------------------------------------------------------


def test_the_image_and_compose_state_the_facts_the_targets_are_held_to() -> None:
    app = compose()["services"]["app"]
    assert image_uid() == (10001, 10001)
    assert image_port() == PORT
    assert image_healthcheck() == compose_probe("app")
    assert "/health/live" in image_healthcheck()[-1]
    assert app["read_only"] is True
    assert "/tmp" in app["tmpfs"]
    assert 'VOLUME ["/tmp"]' in dockerfile_runtime()
    # The app publishes nothing; the edge reaches it on the image's port.
    assert "ports" not in app
    assert compose()["services"]["edge"]["environment"]["EDGE_UPSTREAM"] == f"app:{PORT}"
    assert seconds(app["stop_grace_period"]) > GRACEFUL
    assert seconds(compose()["services"]["worker"]["stop_grace_period"]) > (
        WORKER_SHUTDOWN + TASKIQ_MARGIN_SECONDS
    )
    assert compose()["services"]["scheduler"]["deploy"]["replicas"] == 1
    assert compose_command("migrate") == ["alembic", "upgrade", "head"]


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_kubernetes_overlays_agree(overlay: str) -> None:
    assert k8s_problems(list(rendered(overlay))) == []


def test_ecs_task_definitions_agree() -> None:
    assert ecs_problems(ecs_template()) == []


def test_cloud_run_agrees() -> None:
    assert cloud_run_problems(list(cloud_run())) == []


def test_a_planted_disagreement_is_reported_on_kubernetes() -> None:
    docs = copy.deepcopy(list(rendered("prod")))
    app = k8s_workloads(docs)["app"]
    pod(app)["securityContext"]["runAsUser"] = 0
    pod(app)["containers"][0]["securityContext"]["runAsUser"] = 0
    del pod(app)["containers"][0]["readinessProbe"]
    pod(app)["terminationGracePeriodSeconds"] = 20
    del app["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]
    problems = " | ".join(k8s_problems(docs))

    assert "app: not annotated for scraping" in problems

    assert "app: runs as 0" in problems
    assert "probes on" in problems
    assert "grace period not above" in problems


def test_a_planted_disagreement_is_reported_on_ecs() -> None:
    template = copy.deepcopy(ecs_template())
    group = template["Resources"]["AppTargetGroup"]["Properties"]
    group["HealthCheckPath"] = "/health/ready"  # the old form: ECS replaced every task
    task = template["Resources"]["AppTaskDefinition"]["Properties"]
    container = task["ContainerDefinitions"][0]
    container["User"] = "0"
    container["StopTimeout"] = GRACEFUL
    container["Environment"].append({"Name": "POSTGRES_PASWORD", "Value": "typo"})
    container["PortMappings"] = container["PortMappings"][:1]  # the metrics port forgotten
    worker = template["Resources"]["WorkerTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    for variable in worker["Environment"]:
        if variable["Name"] == "POSTGRES_HOST":  # the worker forgotten behind the proxy
            variable["Value"] = {"Ref": "DatabaseHost"}
    problems = " | ".join(ecs_problems(template))

    assert "worker: POSTGRES_HOST is {'Ref': 'DatabaseHost'}" in problems

    assert "app: ports [8000], expected" in problems
    assert "target group: not the liveness path" in problems

    assert "app: runs as 0" in problems
    assert "StopTimeout not above GRACEFUL_TIMEOUT" in problems
    assert "POSTGRES_PASWORD" in problems


def test_a_planted_disagreement_is_reported_on_cloud_run() -> None:
    docs = copy.deepcopy(list(cloud_run()))
    app = cloud_run_containers(docs)["app"]
    app["env"] = [e for e in app["env"] if e["name"] != "GRACEFUL_TIMEOUT"]
    app["ports"][0]["containerPort"] = 8080
    problems = " | ".join(cloud_run_problems(docs))

    assert "GRACEFUL_TIMEOUT not below" in problems
    assert "port" in problems


# --- deploy/k8s/release: the migration's failure stops the release at once --------------------


# A fake kubectl, as a bash function the release script inherits (the tests' /tmp is noexec, so
# no fake binary could run from there): it records each call, and the migration Job reports the
# condition in $JOB_STATE.
FAKE_KUBECTL = """() {
  echo "$*" >> "$CALLS"
  case "$*" in
    kustomize*) cat "$RENDERED" ;;
    *"get job"*) printf '%s ' "$JOB_STATE" ;;
  esac
}"""


def release(tmp_path: Path, job_state: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """deploy/k8s/release against a fake kubectl: its exit, and the kubectl calls it made."""
    manifests = tmp_path / "release.yaml"
    manifests.write_text("".join(f"---\n{yaml.safe_dump(doc)}" for doc in rendered("prod")))
    calls = tmp_path / "calls"
    env = {
        "PATH": "/usr/bin:/bin",
        "BASH_FUNC_kubectl%%": FAKE_KUBECTL,
        "CALLS": str(calls),
        "RENDERED": str(manifests),
        "JOB_STATE": job_state,
    }
    result = subprocess.run(  # noqa: S603 (our script, a fake kubectl)
        [str(DEPLOY / "k8s" / "release"), "overlay"],
        capture_output=True,
        text=True,
        env=env,
        timeout=25,
        check=False,
    )
    return result, calls.read_text()


@pytest.mark.parametrize("state", ["Failed", "FailureTarget Failed"])
def test_the_release_stops_at_once_when_the_migration_job_fails(tmp_path: Path, state: str) -> None:
    result, made = release(tmp_path, state)

    assert result.returncode == 1, result.stderr
    # The first Job, the roles' (bootstrap-db), fails: nothing after it is applied.
    assert "fastapi-starter-bootstrap failed; the old version keeps serving" in result.stderr
    assert "wait --for=condition=complete" not in made
    # The Deployments were never applied: only the selector that leaves them out.
    applies = [line for line in made.splitlines() if line.startswith("apply")]
    assert applies == ["apply -f " + applies[0].split(" ", 2)[2]]
    assert "notin (app,worker,scheduler,migrate)" in applies[0]


def test_the_release_rolls_out_after_the_migration_completes(tmp_path: Path) -> None:
    result, made = release(tmp_path, "Complete")

    assert result.returncode == 0, result.stderr
    calls = made.splitlines()
    assert calls[-2].startswith("apply -f "), calls
    assert "-l" not in calls[-2], calls
    assert calls[-1].startswith("-n fastapi-starter rollout status")
