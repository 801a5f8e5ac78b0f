"""The cache and the rate limiter on a 3-master Redis Cluster (compose.cluster.yml): the app's
keys land on the cluster's nodes, a cached read is served from there, the limit holds across
slots; and a script that touches two keys in two slots (the planted defect) is refused, while
the same keys under one hash tag are not."""

import os
import subprocess
import unittest
from typing import Any

from tests.container.docker import (
    PROJECT_ROOT,
    compose_stack,
    first_key_secret,
    http_request,
    report,
)

PROJECT = os.environ.get("MANAGED_PROJECT", "fastapi-starter-managed") + "-cluster"
PORT = os.environ.get("CLUSTER_PORT", "18072")
URL = f"http://127.0.0.1:{PORT}"
NODES = ("redis-node-1", "redis-node-2", "redis-node-3")
TWO_KEYS = "return {redis.call('INCR', KEYS[1]), redis.call('INCR', KEYS[2])}"


def compose(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    return compose_stack(
        PROJECT, *args, extra_files=("tests/managed/compose.cluster.yml",), **options
    )


def redis_cli(node: str, *args: str, check: bool = True) -> str:
    result = compose(
        "exec",
        "-T",
        node,
        "sh",
        "-c",
        'REDISCLI_AUTH="$(cat /run/secrets/redis_admin_password)" redis-cli --user admin -c "$@"',
        "redis-cli",
        *args,
        check=check,
    )
    return (result.stdout + result.stderr).strip()


class CacheAndRateLimitOnRedisCluster(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        os.environ["EDGE_PORT"] = PORT
        try:
            compose("down", "--volumes", "--remove-orphans", check=False)
            compose("up", "--detach", "--wait", "--no-build", timeout=300)
        finally:
            os.environ.pop("EDGE_PORT", None)

    @classmethod
    def tearDownClass(cls) -> None:
        compose("down", "--volumes", "--remove-orphans", check=False)

    def keys_by_node(self) -> dict[str, list[str]]:
        return {node: redis_cli(node, "KEYS", "*").split() for node in NODES}

    def test_the_cluster_has_three_masters(self) -> None:
        info = redis_cli("redis-node-1", "CLUSTER", "INFO")
        self.assertIn("cluster_state:ok", info)
        self.assertIn("cluster_size:3", info)

    def test_the_cache_and_the_rate_limit_work_on_the_cluster(self) -> None:
        key = first_key_secret((PROJECT_ROOT / ".secrets/api_keys").read_text())
        created = http_request(
            "POST", f"{URL}/api/v1/items", {"name": "On a cluster", "price": "2.00"}, key
        )
        self.assertEqual(created.status, 201, created.body)
        item = created.json()["id"]
        for _ in range(2):  # the first read fills the cache, the second is served from it
            read = http_request("GET", f"{URL}/api/v1/items/{item}", api_key=key)
            self.assertEqual(read.status, 200)
        keys = self.keys_by_node()
        everywhere = [k for node in keys.values() for k in node]
        self.assertIn(f"cache:items:{item.replace('-', '')}", everywhere)
        self.assertTrue(any(k.startswith("ratelimit:") for k in everywhere))
        statuses = [
            http_request("GET", f"{URL}/api/v1/items?limit=1", api_key=key).status for _ in range(6)
        ]
        report(f"keys per node {[len(v) for v in keys.values()]}; then 6 reads: {statuses}")
        # The key's three requests above, then its limit of 5 in the window.
        self.assertIn(429, statuses)
        self.assertEqual(statuses.count(200) + statuses.count(429), 6)

    def test_a_script_touching_two_slots_is_refused_and_one_hash_tag_is_not(self) -> None:
        refused = redis_cli(
            "redis-node-1", "EVAL", TWO_KEYS, "2", "ratelimit:a", "ratelimit:b", check=False
        )
        self.assertIn("CROSSSLOT", refused)
        tagged = redis_cli("redis-node-1", "EVAL", TWO_KEYS, "2", "{ratelimit}:a", "{ratelimit}:b")
        self.assertNotIn("ERR", tagged)
        report(f"two slots: {refused.splitlines()[-1]}; one hash tag: {tagged.split()}")


if __name__ == "__main__":
    unittest.main()
