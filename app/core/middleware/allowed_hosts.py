"""Only the Host headers the deployment serves (ALLOWED_HOSTS); added only when it names some.

Health endpoints answer any Host: Kubernetes, ECS and load balancers probe them by address.
"""

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.errors import problem_response

HEALTH_PREFIX = "/health/"


def parse_allowed_hosts(setting: str) -> frozenset[str]:
    return frozenset(host.strip().lower() for host in setting.split(",") if host.strip())


def host_of(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"host":
            host: str = value.decode("latin-1").lower()
            return host if host.endswith("]") else host.rsplit(":", 1)[0]
    return ""


class AllowedHostsMiddleware:
    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"].startswith(HEALTH_PREFIX)
            or host_of(scope) in self.allowed
        ):
            await self.app(scope, receive, send)
            return
        await problem_response(400, "This host is not served here.")(scope, receive, send)
