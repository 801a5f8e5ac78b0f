"""The worker and the scheduler: the same image, the same settings and logging as the app, and
their own commands (``python -m app.worker worker`` / ``scheduler``)."""
