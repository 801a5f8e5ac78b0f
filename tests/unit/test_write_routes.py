"""Every write route needs an API key, and checks it before its body is read: taken from the
OpenAPI document, so a route added later is held to it too (the test-only probes included)."""

import re
import uuid

from fastapi import FastAPI
from httpx import AsyncClient

WRITES = ("post", "put", "patch", "delete")


async def test_every_write_declares_the_key_and_refuses_a_keyless_body_with_401(
    app: FastAPI, client: AsyncClient
) -> None:
    operations = [
        (path, method, operation)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if method in WRITES
    ]
    assert len(operations) >= 3  # the test probes' writes at least (a resource adds its own)

    for path, method, operation in operations:
        assert operation.get("security") == [{"APIKeyHeader": []}], f"{method} {path}"
        concrete = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
        response = await client.request(
            method.upper(),
            concrete,
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 401, f"{method} {path}: {response.status_code}"
