"""Scale-out on a real orchestrator: three app replicas on a single-node Docker Swarm, behind the
edge, deployed by deploy/swarm/stack as `make swarm-up` does, under a steady load from a client.

The scenarios run in order on one stack (each leaves three healthy replicas of a known version):
coherent caches and a global rate limit, a graceful drain, a lost replica, a bad release that
rolls itself back, and a rolling update that carries a migration.
"""

import concurrent.futures
import http.client
import time
import unittest

from tests.container.docker import docker, http_request, report, wait_for
from tests.scale import swarm
from tests.scale.swarm import (
    ITEMS,
    RATE_LIMIT,
    REPLICAS,
    URL,
    EdgeLoad,
    Release,
    containers,
    inside,
    log_lines,
    logged_at,
    service,
)

FIRST = Release("scale-1")
NEXT = Release("scale-2", target="with-migration")
BROKEN = Release("scale-broken", target="failing-health")
# nginx keeps a DNS answer this long (deploy/edge/templates/default.conf.template), plus the
# time Swarm takes to drop a stopping task's record: after that, no new request reaches it.
EDGE_FORGETS_SECONDS = 3.0

# The item the scenarios read, created through the edge once the stack is up.
item_path = ""


def setUpModule() -> None:
    swarm.write_expand_migration()
    for release in (FIRST, NEXT, BROKEN):
        release.build()
    swarm.stack("down")  # whatever an interrupted run left
    deploy = swarm.stack("up", FIRST.image)
    swarm.report_deploy(f"first deploy, {REPLICAS} replicas ({FIRST.version})", deploy)
    if deploy.returncode != 0:
        tearDownModule()
        raise AssertionError(f"deploy/swarm/stack up failed:\n{deploy.output}")
    global item_path  # noqa: PLW0603 - set once, before any scenario
    item_path = f"{ITEMS}/{swarm.create_item()}"


def tearDownModule() -> None:
    down = swarm.stack("down")
    swarm.remove_images(FIRST, NEXT, BROKEN)
    if down.returncode != 0:
        raise AssertionError(f"deploy/swarm/stack down failed:\n{down.output}")


def served_by(replicas: list[str], marker: str) -> list[int]:
    """How many requests whose id starts with ``marker`` each replica logged."""
    time.sleep(0.5)  # access lines are written in batches
    return [
        sum(1 for line in log_lines(app) if str(line.get("request_id", "")).startswith(marker))
        for app in replicas
    ]


def get_through_edge(path: str, request_id: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", swarm.PORT, timeout=10)
    try:
        connection.request("GET", path, headers={"X-Request-ID": request_id})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


class ScaleOut(unittest.TestCase):
    maxDiff = None

    def test_1_a_change_through_one_replica_is_read_through_every_other_at_once(self) -> None:
        replicas = containers("app")
        self.assertEqual(len(replicas), REPLICAS)
        before = [inside(app, item_path)[0] for app in replicas]  # each fills or reads the cache
        self.assertEqual(len({read["etag"] for read in before}), 1, before)
        changed = http_request(
            "PATCH", f"{URL}{item_path}", {"name": f"changed {time.time()}"}, swarm.api_key()
        )
        self.assertEqual(changed.status, 200, changed.body)
        after = [inside(app, item_path)[0] for app in replicas]
        report(f"after a change through the edge, each replica read {after}")
        self.assertNotEqual(changed.headers["etag"], before[0]["etag"])
        self.assertEqual(
            after, [{"status": 200, "etag": changed.headers["etag"], "version": None}] * REPLICAS
        )

    def test_2_the_rate_limit_is_one_limit_across_replicas(self) -> None:
        marker = f"limit-{time.time_ns()}"
        path = item_path
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(lambda n: get_through_edge(path, f"{marker}-{n}"), range(RATE_LIMIT + 1))
            )
        spread = served_by(containers("app"), marker)
        report(
            f"{RATE_LIMIT + 1} requests against a limit of {RATE_LIMIT}: "
            f"{statuses.count(200)} answered 200, {statuses.count(429)} answered 429; "
            f"per replica {spread}"
        )
        self.assertTrue(all(count > 0 for count in spread), spread)
        # Never past the one limit (per-replica limits would answer all 2,001). A refusal may
        # come early by what leases hold unused (app/core/rate_limit.py): at most one lease per
        # server process (2 per replica here), of at most RATE_LIMIT // 256 requests each.
        ok, refused = statuses.count(200), statuses.count(429)
        self.assertEqual(ok + refused, RATE_LIMIT + 1, statuses)
        self.assertLessEqual(ok, RATE_LIMIT)
        self.assertGreaterEqual(ok, RATE_LIMIT - REPLICAS * 2 * (RATE_LIMIT // 256))

    def test_3_a_draining_replica_finishes_its_work_and_the_edge_stops_using_it(self) -> None:
        replicas = containers("app")
        self.addCleanup(swarm.wait_for_replicas)
        self.addCleanup(docker, "service", "scale", "--detach", f"{service('app')}={REPLICAS}")
        with EdgeLoad(item_path) as load:
            # One request in flight on every replica: whichever Swarm stops, one is on it.
            slow_posts = {app: swarm.start_slow_post(app, seconds=9) for app in replicas}
            for process in slow_posts.values():
                self.addCleanup(process.kill)
            time.sleep(2)
            docker("service", "scale", "--detach", f"{service('app')}={REPLICAS - 1}")
            draining = wait_for_draining(replicas)
            signalled = wait_for_drain_line(draining)
            # Requests that start during the drain, sent to that replica itself.
            during = inside(draining, "/health/ready", item_path)
            wait_for(lambda: draining not in containers("app"), 60, "the replica to exit")
            exited = time.time()
            time.sleep(1)
        posts = {
            app: process.communicate(timeout=30)[0].strip() for app, process in slow_posts.items()
        }
        lines = log_lines(draining)
        drain_started = min(logged_at(line) for line in lines if line["message"] == "draining")
        # Access lines from the edge (not from inside the replica: its healthcheck, the probes
        # above), as seconds after the drain started.
        from_edge = [
            round(logged_at(line) - drain_started, 2)
            for line in lines
            if line.get("logger") == "app.access" and line.get("client") != "127.0.0.1"
        ]
        from_edge_late = [after for after in from_edge if after > EDGE_FORGETS_SECONDS]
        report(
            f"drain: exited {exited - drain_started:.1f} s after SIGTERM; probed "
            f"{signalled:.1f} s into it: ready {during[0]['status']}, a new request "
            f"{during[1]['status']}; in-flight POSTs {list(posts.values())}; the edge's last "
            f"request {max(from_edge, default=0):.2f} s after SIGTERM, "
            f"{len(from_edge_late)} after {EDGE_FORGETS_SECONDS} s; load: {load.summary()}"
        )
        self.assertEqual([read["status"] for read in during], [503, 200])
        self.assertEqual(set(posts.values()), {"201"}, posts)
        self.assertEqual(from_edge_late, [])
        self.assertEqual(load.failed(), [])

    def test_4_a_lost_replica_costs_at_most_its_requests_in_flight(self) -> None:
        with EdgeLoad(item_path) as load:
            time.sleep(3)
            victim = containers("app")[0]
            killed = time.monotonic()
            docker("kill", victim)
            replaced = swarm.wait_for_replicas(without=frozenset({victim}))
            time.sleep(3)
        failed = load.failed()
        after = [outcome for outcome in load.outcomes() if outcome.started >= killed]
        report(
            f"lost replica: replaced in {replaced:.1f} s; {len(after)} requests after the kill, "
            f"{len(failed)} failed (in flight: {[o.error or o.status for o in failed]}); "
            f"load: {load.summary()}"
        )
        # Only requests that had started when the replica died may fail, one per load thread.
        self.assertTrue(all(outcome.started < killed for outcome in failed), failed)
        self.assertLessEqual(len(failed), sum(load.threads for load in load.loads))

    def test_5_a_release_that_never_turns_healthy_rolls_back_by_itself(self) -> None:
        with EdgeLoad(item_path) as load:
            deploy = swarm.stack("up", BROKEN.image)
            time.sleep(2)
        swarm.report_deploy(f"bad release ({BROKEN.version}), rolled back", deploy)
        report(f"bad release: versions answering {load.versions.distinct()}; {load.summary()}")
        self.assertEqual(deploy.returncode, 3, deploy.output)
        self.assertEqual(swarm.update_state(), "rollback_completed")
        self.assertEqual({swarm.image_of(app) for app in containers("app")}, {FIRST.image})
        self.assertEqual(load.versions.distinct(), [FIRST.version])
        self.assertEqual(load.failed(), [])

    def test_6_a_rolling_update_with_a_migration_fails_no_request(self) -> None:
        with EdgeLoad(item_path) as load:
            time.sleep(2)
            deploy = swarm.stack("up", NEXT.image)
            time.sleep(3)
        swarm.report_deploy(f"rolling update {FIRST.version} → {NEXT.version}", deploy)
        self.assertEqual(deploy.returncode, 0, deploy.output)
        runs = swarm.psql("SELECT extract(epoch FROM ran_at) FROM scale_migration_runs").split()
        migrated = float(runs[0])
        old_after_migration = sum(
            1 for at, version in load.versions.seen if version == FIRST.version and at > migrated
        )
        report(
            f"rolling update: migration ran {len(runs)} time(s), "
            f"{load.versions.first(NEXT.version) - migrated:.1f} s before {NEXT.version} first "
            f"answered; {old_after_migration} answers from {FIRST.version} on the new schema; "
            f"{load.summary()}"
        )
        self.assertEqual(len(runs), 1)
        self.assertLess(migrated, load.versions.first(NEXT.version))
        self.assertGreater(old_after_migration, 0)
        self.assertEqual(load.versions.distinct(), [FIRST.version, NEXT.version])
        self.assertEqual(load.versions.seen[-1][1], NEXT.version)
        replicas = containers("app")
        self.assertEqual(len(replicas), REPLICAS)
        self.assertEqual(
            [inside(app, "/health/live")[0]["version"] for app in replicas],
            [NEXT.version] * REPLICAS,
        )
        self.assertEqual(load.failed(), [])

    def test_7_the_app_reaches_postgres_through_pgbouncer(self) -> None:
        # After the load above, the app's role holds server connections (PgBouncer keeps an
        # idle one 60 s): each one's client is PgBouncer, never a replica, a worker or the
        # scheduler.
        with EdgeLoad(item_path, seconds=3) as load:
            time.sleep(3)
        role = swarm.environment_of("app")["POSTGRES_USER"]
        connections = swarm.psql(
            "SELECT usename, host(client_addr) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND client_addr IS NOT NULL"
        ).splitlines()
        clients = sorted({line.split("|")[1] for line in connections if line.split("|")[0] == role})
        pgbouncer = swarm.addresses("pgbouncer")
        direct = swarm.addresses("app") | swarm.addresses("worker") | swarm.addresses("scheduler")
        report(
            f"the app role's connections come from {clients}; PgBouncer is {sorted(pgbouncer)}; "
            f"load: {load.summary()}"
        )
        self.assertTrue(clients)
        self.assertLessEqual(set(clients), pgbouncer)
        self.assertFalse(set(clients) & direct)
        self.assertEqual(load.failed(), [])


def wait_for_drain_line(container: str) -> float:
    """Until the replica logs that it drains (its SIGTERM); how long after it that was seen."""
    started: list[float] = []

    def logged() -> bool:
        started.extend(
            logged_at(line) for line in log_lines(container) if line["message"] == "draining"
        )
        return bool(started)

    wait_for(logged, 30, "the replica to start draining", interval=0.1)
    return time.time() - min(started)


def wait_for_draining(replicas: list[str]) -> str:
    """The replica Swarm is stopping: the one still running whose task is no longer meant to."""
    found: list[str] = []

    def stopping() -> bool:
        tasks = docker(
            "service",
            "ps",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.DesiredState}} {{.CurrentState}}",
            service("app"),
        ).stdout.splitlines()
        for task in tasks:
            task_id, desired, current = task.split(maxsplit=2)
            if desired == "Running" or not current.startswith("Running"):
                continue
            container = docker(
                "inspect", "--format", "{{.Status.ContainerStatus.ContainerID}}", task_id
            ).stdout.strip()[:12]
            if container in replicas:
                found.append(container)
                return True
        return False

    wait_for(stopping, 30, "Swarm to stop a replica", interval=0.1)
    return found[0]


if __name__ == "__main__":
    unittest.main()
