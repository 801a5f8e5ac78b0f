"""/docs and /redoc in a real headless Chromium, driven over the DevTools Protocol (`make browser`).

Standard library only, like the container checks; the browser and this Python run in a small
image of their own (Dockerfile), so the host needs nothing but Docker.
"""
