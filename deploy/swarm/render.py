"""Reads `docker compose config --format json` on stdin and writes a stack file for
`docker stack deploy` on stdout: the same services, minus what Swarm does not take.

Kept small on purpose: each rule names what Compose has and Swarm lacks.
"""

import json
import sys
from typing import Any

# Compose-only keys: ordering (Swarm restarts until dependencies answer), builds (a stack runs
# images), the restart policy (deploy.restart_policy in Swarm), kernel options Swarm ignores.
DROPPED = ("depends_on", "build", "restart", "security_opt", "pull_policy")


def tmpfs_mounts(paths: list[str]) -> list[dict[str, Any]]:
    """Compose's `tmpfs:` (path:options) as Swarm's tmpfs mounts. Swarm takes a mode and a size,
    not an owner: world-writable with the sticky bit, as /tmp is."""
    return [
        {"type": "tmpfs", "target": path.split(":", 1)[0], "tmpfs": {"mode": 0o1777}}
        for path in paths
    ]


def render(config: dict[str, Any]) -> dict[str, Any]:
    config.pop("name", None)
    for service in config["services"].values():
        for key in DROPPED:
            service.pop(key, None)
        for key in [key for key, value in service.items() if value is None]:
            del service[key]  # Compose writes "not set" as null; Swarm's schema refuses it
        # Not in the stack file's schema: Swarm probes at `interval` while starting too.
        service.get("healthcheck", {}).pop("start_interval", None)
        if "tmpfs" in service:
            service["volumes"] = [*service.get("volumes", []), *tmpfs_mounts(service.pop("tmpfs"))]
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        if "cpus" in limits:  # Compose writes a number, Swarm's schema wants a string
            limits["cpus"] = str(limits["cpus"])
        for port in service.get("ports", []):
            port.pop("host_ip", None)
            port["published"] = int(port["published"])
        # Unset pass-through variables: Compose writes them as null; Swarm wants a value.
        environment = service.get("environment") or {}
        service["environment"] = {k: v for k, v in environment.items() if v is not None}
    for network in config.get("networks", {}).values():
        network.pop("name", None)
    for kind in ("secrets", "configs", "volumes"):
        for item in config.get(kind, {}).values():
            item.pop("name", None)
    config["version"] = "3.9"
    return config


if __name__ == "__main__":
    json.dump(render(json.load(sys.stdin)), sys.stdout, indent=1)
