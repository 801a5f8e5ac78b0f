# Production image for the service, in four stages:
#   tools   - the base with uv and strip; `make lock` runs uv here too (never shipped)
#   build   - resolves the locked dependencies into a virtualenv (never shipped)
#   dev     - the full locked set with dev dependencies (compose.override.yml, `make test`)
#   runtime - the base image, the virtualenv and the code; nothing else (the default target)
#
# Every stage starts from the same base, pinned by digest so a rebuild months from now gets
# the same bytes. Behind a registry mirror, or on a machine with a local stand-in, override it:
#   docker build --build-arg PYTHON_IMAGE=python:3.13-slim-trixie .
ARG PYTHON_IMAGE=python:3.13-slim-trixie@sha256:9d2e5553305c7c7b0097999bb17187c69b921ccd6bc9d40e4bb5ebe652c00285


FROM ${PYTHON_IMAGE} AS tools

# binutils for `strip` (below); it stays in this stage. Versions float with the pinned base.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends binutils \
 && rm -rf /var/lib/apt/lists/*

# uv from PyPI at a pinned version: no second registry to reach, and reproducible. The version
# and its wheels' sha256 live in requirements/uv.txt (bind-mounted: no layer, and Dependabot
# can bump it); --require-hashes makes pip refuse any file that is not one of them.
RUN --mount=type=bind,source=requirements/uv.txt,target=/tmp/uv.txt \
    pip install --no-cache-dir --root-user-action=ignore --require-hashes --only-binary=:all: \
                -r /tmp/uv.txt

# - copy (not hardlink) out of the cache mount, which is gone after the RUN;
# - use the base's interpreter, never a downloaded one, so build and runtime Python match;
# - build the virtualenv where the runtime stage expects it.
# No bytecode is compiled here: the runtime image ships none (below, and ADR 0023).
ENV UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3.13 \
    UV_PROJECT_ENVIRONMENT=/opt/venv


FROM tools AS build

WORKDIR /src

# Dependencies before code: this layer changes only when the lock does, so a code-only change
# reuses it. The lock and project file are bind-mounted, not copied, so they add no layer.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-dev --no-install-project \
 # Wheels such as uvloop and asyncpg ship their debug symbols: about 35 MB nobody runs.
 && find /opt/venv -name '*.so' -exec strip --strip-unneeded {} + \
 # Nor does anything run C, C++ or Cython sources, type stubs, protobuf sources (the compiled
 # _pb2 modules are what runs), or the packages' own test suites.
 && find /opt/venv \( -name '*.pyx' -o -name '*.pxd' -o -name '*.c' -o -name '*.cpp' -o -name '*.h' \
                   -o -name '*.pyi' -o -name '*.proto' \) -delete \
 && find /opt/venv -depth -type d -name tests -exec rm -rf {} + \
 && rm -rf /opt/venv/lib/python3.13/site-packages/sqlalchemy/testing


FROM tools AS dev

# The whole locked set, dev dependencies included (pytest, ruff, mypy), and untrimmed: type
# checkers need the stubs the runtime image leaves out. Precompiled, unlike the runtime's: every
# `make test` and `make lint` starts interpreters on this venv, and size does not matter here.
WORKDIR /src
ENV UV_COMPILE_BYTECODE=1
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --locked --no-install-project

# checkov (make lint-deploy) in a virtualenv of its own: its pins clash with pytest's, so the
# lock resolves it apart (pyproject.toml's `checkov` group). Only its command joins the PATH.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    UV_PROJECT_ENVIRONMENT=/opt/checkov uv sync --locked --only-group checkov --no-install-project \
 && ln -s /opt/checkov/bin/checkov /usr/local/bin/checkov

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# The code is bind-mounted over /src by compose.override.yml; this copy makes the image
# usable on its own too (docker compose watch syncs into it).
COPY . /src
EXPOSE 8000
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--reload"]


FROM ${PYTHON_IMAGE} AS runtime

# - no .pyc written at run time (the filesystem is read-only). None is shipped either: each
#   process compiles the modules it imports, in memory, at start (about 1 s of CPU for the app;
#   the worker's health probe imports almost nothing, 0.06 s); precompiled, they would add
#   27 MB, which the arm64 image's 200 MB budget cannot hold (ADR 0023, docs/decisions/);
# - stdout/stderr unbuffered, so log lines leave the container as they are written;
# - the virtualenv first on PATH, so `gunicorn` and `alembic` are the locked ones.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH

# A system user with a fixed uid (so volume and Kubernetes securityContext rules can name it)
# and no login shell. It owns nothing in the image: it cannot change the code or the venv.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin app

# Only the virtualenv crosses over from the build stage: no uv, no pip cache, no compiler.
COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# Ordered from least to most often changed. pyproject.toml carries Alembic's configuration.
COPY pyproject.toml gunicorn.conf.py ./
COPY migrations ./migrations
COPY app ./app

# Smoke import: a missing dependency or a syntax error fails the build, not the deploy.
RUN python -c "import app.main"

# The one writable path. Compose and Kubernetes mount a tmpfs or an emptyDir over it; ECS on
# Fargate has no tmpfs, and its bind mounts are root-owned 0755 unless the image declares the
# path a VOLUME, whose mode (here /tmp's 1777) it then copies: that is what lets uid 10001 write
# there on a read-only root. Where a tmpfs is mounted (--tmpfs, Compose), no volume is created.
VOLUME ["/tmp"]

# Metrics under gunicorn's pre-fork workers: each process writes its values into files here
# (on the tmpfs) and the master serves their sum (app/observability). Set here, not from Python,
# so every process of the image, whatever starts it, agrees on the directory; gunicorn empties
# it when it starts.
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus

# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000

# A liveness probe that needs no curl in the image: the interpreter is already here.
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --start-interval=1s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)"]

# Exec form: gunicorn is PID 1 and receives SIGTERM itself, then lets in-flight requests
# finish (graceful_timeout in gunicorn.conf.py) and exits 0.
STOPSIGNAL SIGTERM
CMD ["gunicorn", "--config", "gunicorn.conf.py", "app.main:app"]

# Build metadata last: it changes on every commit, so it must not invalidate any layer above.
ARG APP_VERSION=dev
ARG VCS_REF=unknown
ARG BUILD_DATE=unknown
ARG SOURCE_URL=https://github.com/example/fastapi-starter
ENV APP_VERSION=${APP_VERSION}
LABEL org.opencontainers.image.title="fastapi-starter" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.version="${APP_VERSION}" \
      org.opencontainers.image.created="${BUILD_DATE}"
