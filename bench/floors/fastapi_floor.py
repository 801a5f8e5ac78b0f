"""Floor (b): a minimal FastAPI app, one route, no middleware: what the framework alone costs."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def root() -> dict[str, str]:
    return {"status": "pass"}
