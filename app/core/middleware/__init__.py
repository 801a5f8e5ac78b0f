"""Middleware on every request, pure ASGI (not BaseHTTPMiddleware): no extra task per request
and no buffering of streamed bodies."""

from app.core.middleware.allowed_hosts import AllowedHostsMiddleware
from app.core.middleware.body_limit import BodySizeLimitMiddleware
from app.core.middleware.rate_limit import RateLimitMiddleware
from app.core.middleware.request_context import RequestContextMiddleware
from app.core.middleware.write_auth import WriteAuthMiddleware

__all__ = [
    "AllowedHostsMiddleware",
    "BodySizeLimitMiddleware",
    "RateLimitMiddleware",
    "RequestContextMiddleware",
    "WriteAuthMiddleware",
]
