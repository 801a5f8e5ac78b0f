"""Every task the worker runs, imported here the way app/main.py includes every router."""

from app.exports import tasks as exports_tasks

__all__ = ["exports_tasks"]
