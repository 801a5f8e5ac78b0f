"""Floor (b): a minimal FastAPI app, one route, no middleware: what the framework alone costs."""

from fastapi import FastAPI

# FastAPI's own telemetry off, as the app has it (app/main.py): with OpenTelemetry installed it
# would otherwise wrap every request here and not in the app.
app = FastAPI(
    telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False}
)


@app.get("/")
async def root() -> dict[str, str]:
    return {"status": "pass"}
