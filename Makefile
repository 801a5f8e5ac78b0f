# The project's commands. `make` (or `make help`) lists them; each needs only Docker and make
# on the host, except `smoke` and `chaos`, which also run the host's python3 (3.11 or newer,
# standard library only). `browser` runs its Chromium and Python in a container.

.DEFAULT_GOAL := help
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
MAKEFLAGS += --no-print-directory

APP_IMAGE ?= fastapi-starter:local
APP_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export APP_IMAGE APP_VERSION
# Dev containers write into the bind-mounted tree as you, not as root.
export HOST_UID := $(shell id -u)
export HOST_GID := $(shell id -g)

COMPOSE := docker compose
# This checkout's Compose project (make config writes it into .env; read when a target runs).
PROJECT = $(shell sed -n 's/^COMPOSE_PROJECT_NAME=//p' .env 2>/dev/null)
# The throwaway stack of make test and make revision: Postgres and Redis of its own, beside the
# dev stack and never touching its data (compose.test.yml).
# Its edge network gets a subnet of its own too, or it would overlap the dev stack's.
TEST_STACK = EDGE_SUBNET=$$(scripts/subnet $(PROJECT)-test) \
  $(COMPOSE) --project-name $(PROJECT)-test -f compose.yml -f compose.override.yml -f compose.test.yml
# Run in the test stack, then remove it, keeping the command's exit status.
define in_test_stack
status=0; $(TEST_STACK) run --rm --build tests $(1) || status=$$?; \
  $(TEST_STACK) down --volumes --remove-orphans >/dev/null 2>&1; exit $$status
endef
# The dev image with the tree mounted at /src, for one-off tool runs (lint, fmt, lock). The
# networks `run` creates go afterwards, unless a test stack of this checkout is using them.
DEV = dev() { local status=0; $(TEST_STACK) run --rm --no-deps --build tests "$$@" || status=$$?; \
  docker network ls --quiet --filter label=com.docker.compose.project=$(PROJECT)-test \
    | xargs -r docker network rm >/dev/null 2>&1 || true; return $$status; }; dev
# The base image: the Dockerfile's digest pin, unless PYTHON_IMAGE names another (a mirror).
BUILD_ARGS := $(if $(PYTHON_IMAGE),--build-arg PYTHON_IMAGE=$(PYTHON_IMAGE))
# Prometheus (the observability profile, promtool in lint-deploy): compose.yml's digest pin,
# unless PROMETHEUS_IMAGE names another (a mirror), as for the base image.
PROMETHEUS_IMAGE ?= $(shell sed -n 's/.*$${PROMETHEUS_IMAGE:-\([^}]*\)}.*/\1/p' compose.yml)
export PROMETHEUS_IMAGE

.PHONY: help
help: ## List the targets (this text)
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: config
config: ## Create .env (own Compose project, free ports) and the secrets if missing (targets that need them do)
	@scripts/configure

.PHONY: up
up: config ## Build and start the dev stack (hot reload), wait until healthy, print the URLs
	@# The host ports of .env, before anything is published: one that make config picked and
	@# another program has taken since is picked again; one set by hand is named (exit 1).
	@scripts/configure --ports
	@# The database's roles first, so a volume from before them is upgraded (idempotent).
	@$(MAKE) db-roles
	$(COMPOSE) up --detach --build --wait
	@$(COMPOSE) ps --format 'table {{.Service}}\t{{.Status}}'
	@port=$$(sed -n 's/^APP_PORT=//p' .env); port=$${port:-8000}; \
	 echo; echo "  API      http://localhost:$$port"; \
	 echo "  Docs     http://localhost:$$port/docs"; \
	 echo "  Health   http://localhost:$$port/health/ready"; \
	 edge=$$(sed -n 's/^EDGE_PORT=//p' .env); \
	 echo "  Edge     http://localhost:$${edge:-8080} (nginx in front of the app, as in production)"
	@$(MAKE) prometheus-address

.PHONY: observe
observe: config ## Start Prometheus with the alert rules (the observability profile) beside the running stack
	@scripts/configure --ports
	$(COMPOSE) --profile observability up --detach --wait prometheus
	@$(MAKE) prometheus-address

# The address of this checkout's Prometheus, when it runs (make up, make observe).
.PHONY: prometheus-address
prometheus-address:
	@if [ -n "$$($(COMPOSE) --profile observability ps --status running --quiet prometheus 2>/dev/null)" ]; then \
	 port=$$(sed -n 's/^PROMETHEUS_PORT=//p' .env); \
	 echo "  Prometheus http://127.0.0.1:$${port:-9090} (HTTP API: /api/v1/alerts, /api/v1/targets)"; \
	 else echo "  Prometheus not running: make observe starts it"; fi

.PHONY: down
down: ## Stop and remove the containers (data volumes are kept)
	$(COMPOSE) --profile test --profile observability down --remove-orphans

.PHONY: logs
logs: ## Follow the logs (SERVICE=app for one service)
	$(COMPOSE) logs --follow --tail=100 $(SERVICE)

.PHONY: ps
ps: ## Show the services and their health
	$(COMPOSE) ps --all

.PHONY: shell
shell: ## Open a shell in the running app container
	$(COMPOSE) exec app bash

.PHONY: psql
psql: ## Open psql on the running database (as its superuser, through the socket)
	$(COMPOSE) exec db sh -c 'psql -U "$$POSTGRES_USER" -d "$$POSTGRES_DB"'

.PHONY: db-roles
db-roles: config ## Set up the database roles on an existing volume, or upgrade an old one (idempotent)
	@# First the platform's side, as the volume's superuser through the socket (the script a
	@# fresh volume runs at init): the admin role (CREATEROLE, CREATEDB, not a superuser), and
	@# the upgrade of older layouts. Then bootstrap-db, as that admin: the owner and app roles,
	@# their passwords and privileges. `make up` runs it; with compose.yml alone, run it with
	@# COMPOSE="docker compose -f compose.yml", then start the stack.
	$(COMPOSE) up --detach --wait db
	$(COMPOSE) exec -T --user postgres db /docker-entrypoint-initdb.d/10-roles.sh
	$(COMPOSE) run --rm --build bootstrap

.PHONY: backup
backup: config ## Dump the database (pg_dump -Fc) into backups/, named by time (COMPOSE= for another stack)
	COMPOSE="$(COMPOSE)" scripts/backup dump

.PHONY: restore
restore: config ## Restore a dump into a fresh stack: make restore file=backups/... (force=1 over rows)
	@test -n "$(file)" || { echo 'usage: make restore file=backups/<name>.dump [force=1]' >&2; exit 2; }
	COMPOSE="$(COMPOSE)" scripts/backup restore "$(file)" $(if $(force),force)

.PHONY: migrate
migrate: config ## Apply the migrations (alembic upgrade head)
	$(COMPOSE) run --rm --build migrate

.PHONY: revision
revision: config ## Autogenerate a migration from the models: make revision m="add orders"
	@test -n "$(m)" || { echo 'usage: make revision m="what changes"' >&2; exit 2; }
	@# Compared with a throwaway database at head, so the dev database is neither needed nor changed.
	@# Numbered like the others: the highest revision id (0001, 0002, ...) plus one, which the
	@# file's name carries too (file_template in pyproject.toml).
	@last=$$(sed -n "s/^revision[^=]*= *[\"']\([0-9][0-9]*\)[\"'].*/\1/p" migrations/versions/*.py | sort -n | tail -n 1); \
	rev=$$(printf '%04d' $$((10#$${last:-0} + 1))); \
	$(call in_test_stack,sh -c 'alembic upgrade head && alembic revision --autogenerate --rev-id '$$rev' -m "$(m)"')
	@last=$$(sed -n "s/^revision[^=]*= *[\"']\([0-9][0-9]*\)[\"'].*/\1/p" migrations/versions/*.py | sort -n | tail -n 1); \
	echo; echo "New migration: $$(ls migrations/versions/*_$${last}_*.py)"; \
	echo "Apply it to the dev stack with: make migrate"

.PHONY: resource
resource: config ## Add a resource from the example: make resource name=orders (plural=people if irregular)
	@test -n "$(name)" || { echo 'usage: make resource name=orders [plural=...]' >&2; exit 2; }
	scripts/resource.py add $(name) $(if $(plural),--plural $(plural))
	$(MAKE) fmt
	$(DEV) python scripts/settings_doc.py
	$(MAKE) revision m="create $(name)"

.PHONY: remove-resource
remove-resource: config ## Remove a resource and drop its table: make remove-resource name=items
	@test -n "$(name)" || { echo 'usage: make remove-resource name=items' >&2; exit 2; }
	scripts/resource.py remove $(name)
	$(MAKE) fmt
	$(DEV) python scripts/settings_doc.py
	$(MAKE) revision m="drop $(name)"

.PHONY: rename
rename: ## Rename the project everywhere it is named: make rename name=acme-orders
	@test -n "$(name)" || { echo 'usage: make rename name=acme-orders' >&2; exit 2; }
	scripts/rename.py $(name)

.PHONY: test
test: config ## Run the tests in the dev image against a throwaway Postgres and Redis (ARGS= for pytest)
	$(call in_test_stack,pytest --cov --cov-report=term-missing $(ARGS))

.PHONY: trace
trace: config ## List the project files one in-process request runs through (cached and uncached read, list, create); fail above 12
	$(call in_test_stack,python bench/trace.py --files --max-files 12)

.PHONY: lint
lint: config ## Check: ruff, ruff format, mypy --strict, the import layers, the docs' links and make targets
	$(DEV) sh -c 'ruff check . && ruff format --check . && mypy && lint-imports --no-cache \
	  && python tests/lint/check_layers.py && python scripts/settings_doc.py --check'
	@# Standard library only, on the host: every relative link and `make` target the docs name.
	python3 scripts/check_docs.py
	python3 scripts/check_docs.py --self-test

.PHONY: lint-deploy
lint-deploy: config ## Check deploy/ offline: cfn-lint, checkov, kubectl kustomize + kubernetes-validate, check-jsonschema, promtool check and test rules, dashboard; each refuses its planted defects
	@# tests/deploy/check_deploy.py: every checker on the real definitions (no finding), then on
	@# tests/deploy/fixtures/, where each must refuse the defect a fixture plants.
	@# check_observability.py: the rules and the dashboard name only metrics the app and the
	@# worker export, every alert has unit tests, the PrometheusRule holds alerts.yml.
	$(DEV) sh -c 'python tests/deploy/check_deploy.py && python tests/deploy/check_deploy.py --planted \
	  && python tests/deploy/check_observability.py && python tests/deploy/check_observability.py --planted'
	@# check_promtool.py, on the host: promtool check rules and test rules (alerts.test.yml) in
	@# $$PROMETHEUS_IMAGE, and the dashboard's queries; a planted wrong threshold fails the tests.
	python3 tests/deploy/check_promtool.py
	python3 tests/deploy/check_promtool.py --planted

.PHONY: lint-ci
lint-ci: config lint-deploy ## Check the delivery pipeline and deploy/ offline: zizmor, check-jsonschema, hadolint, compose, pins, publishing rules, lint-deploy
	@# check_workflow.py: one build, scanned, pushed by a push-only job; no cancelled publish;
	@# hashed pip. --self-test proves it can fail: each planted defect in its fixtures is refused.
	$(DEV) sh -c '\
	  zizmor --offline --pedantic .github && \
	  check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml && \
	  check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml && \
	  check-jsonschema --builtin-schema vendor.compose-spec compose.yml compose.override.yml && \
	  hadolint Dockerfile tests/browser/Dockerfile tests/scale/release/Dockerfile deploy/pgbouncer/Dockerfile && \
	  python tests/pipeline/check_workflow.py && \
	  python tests/pipeline/check_workflow.py --self-test'
	$(COMPOSE) -f compose.yml config --quiet
	$(COMPOSE) -f compose.yml -f compose.override.yml config --quiet
	$(COMPOSE) -f compose.yml -f deploy/pgbouncer/compose.pgbouncer.yml config --quiet
	$(TEST_STACK) config --quiet
	@# Every action pinned to a full commit SHA: a tag can be moved, a commit cannot.
	@if grep -rnE '^[[:space:]-]*uses:' .github | grep -vE 'uses:[[:space:]]*[^@[:space:]]+@[0-9a-f]{40}([[:space:]]|$$)'; then \
	  echo "lint-ci: the uses: above are not pinned to a 40-character commit SHA" >&2; exit 1; \
	else echo "every uses: is pinned to a commit SHA"; fi

.PHONY: run
run: config ## Run a command in the dev image, in this tree: make run CMD="pytest -x"
	$(DEV) sh -c '$(CMD)'

.PHONY: fmt
fmt: config ## Fix what ruff can fix and format the code
	$(DEV) sh -c 'ruff check --fix --exit-zero --quiet . && ruff format .'

.PHONY: lock
lock: ## Re-resolve uv.lock after editing pyproject.toml (with the image's Python and uv)
	docker build --target tools --tag fastapi-starter:tools $(BUILD_ARGS) .
	docker run --rm --volume "$(CURDIR)":/src --workdir /src --user $(HOST_UID):$(HOST_GID) \
	  --env UV_CACHE_DIR=/tmp/uv-cache fastapi-starter:tools uv lock

# The production image (the runtime stage) tagged $(1), with more docker build options $(2).
define build_runtime
docker build --target runtime --tag $(1) $(2) \
  --build-arg APP_VERSION=$(APP_VERSION) \
  --build-arg VCS_REF=$$(git rev-parse HEAD 2>/dev/null || echo unknown) \
  --build-arg BUILD_DATE=$$(date -u +%Y-%m-%dT%H:%M:%SZ) \
  .
endef

.PHONY: build
build: ## Build the production image as $(APP_IMAGE)
	$(call build_runtime,$(APP_IMAGE),$(BUILD_ARGS))

# The same image for linux/arm64, from the same Dockerfile. Its base is the Dockerfile's pin (the
# official image's multi-platform index, whose arm64 image --platform picks), unless
# ARM64_PYTHON_IMAGE names another: an arm64 mirror, or the arm64v8/ stand-in .ci/run exports.
# On an amd64 machine it builds and runs under QEMU emulation (binfmt_misc); natively on arm64.
export ARM64_IMAGE ?= $(APP_IMAGE)-arm64
ARM64_BUILD_ARGS := --platform linux/arm64 \
  $(if $(ARM64_PYTHON_IMAGE),--build-arg PYTHON_IMAGE=$(ARM64_PYTHON_IMAGE))
export ARM64_PROJECT = $(PROJECT)-arm64

.PHONY: smoke
smoke: config build ## Black-box checks of the production image and the compose.yml stack
	python3 -m unittest discover --start-directory tests/container --top-level-directory . --verbose

.PHONY: arm64
arm64: config ## Build the image for linux/arm64 as $(ARM64_IMAGE) and run the smoke subset on it in the stack
	$(call build_runtime,$(ARM64_IMAGE),$(ARM64_BUILD_ARGS))
	@# tests/arm64: the arm64 app, worker and migration in the compose.yml stack; the stack is
	@# removed whatever the outcome (the tests' tearDown), the exit status is the tests'.
	python3 -m unittest discover --start-directory tests/arm64 --top-level-directory . --verbose

CHAOS = $(COMPOSE) --project-name $(PROJECT)-chaos -f compose.yml
export SMOKE_PROJECT = $(PROJECT)-smoke
export CHAOS_PROJECT = $(PROJECT)-chaos
export BENCH_PROJECT = $(PROJECT)-bench
# The Swarm stack of make swarm-up and make scale (deploy/swarm/stack).
export SWARM_STACK = $(PROJECT)-swarm

# The alert rules on real faults: the compose.yml stack with its Prometheus (the observability
# profile), scraping every second, and the rules with every duration divided (tests/alerts).
export ALERTS_PROJECT = $(PROJECT)-alerts
ALERTS_STACK = $(COMPOSE) --project-name $(ALERTS_PROJECT) -f compose.yml --profile observability

.PHONY: alerts
alerts: config build ## The alert rules in a real Prometheus: Postgres stopped, failing jobs, 5xx bursts fire them
	@# The stack is removed whatever the outcome; the exit status is the tests'.
	status=0; python3 -m unittest discover --start-directory tests/alerts --top-level-directory . \
	  --verbose || status=$$?; $(ALERTS_STACK) down --volumes --remove-orphans >/dev/null 2>&1; exit $$status

# The stack on data services shaped like a managed platform's (tests/managed): a non-superuser
# admin, TLS required with a test CA's certificates (Postgres, the cache, the queue store),
# pg_hba.conf out of reach.
export MANAGED_PROJECT = $(PROJECT)-managed
# The PgBouncer image (deploy/pgbouncer), built from Debian's package; PGBOUNCER_BASE_IMAGE names
# a mirror's copy of its base, as PYTHON_IMAGE does for the app's.
PGBOUNCER_IMAGE ?= fastapi-starter-pgbouncer:local
export PGBOUNCER_IMAGE
MANAGED_STACK = $(COMPOSE) --project-name $(MANAGED_PROJECT) -f compose.yml -f tests/managed/compose.managed.yml

.PHONY: pgbouncer-build
pgbouncer-build: ## Build the PgBouncer image (deploy/pgbouncer) as $(PGBOUNCER_IMAGE): Swarm's pooler and the Compose overlay's
	docker build --quiet --tag $(PGBOUNCER_IMAGE) \
	  $(if $(PGBOUNCER_BASE_IMAGE),--build-arg PGBOUNCER_BASE_IMAGE=$(PGBOUNCER_BASE_IMAGE)) deploy/pgbouncer

.PHONY: managed
managed: config build pgbouncer-build ## Managed-data rehearsal (non-superuser admin, TLS verify-full, TLS-only cache and queue store), PgBouncer under load, Redis Cluster, the restore drill
	@# The stacks and the TLS volume are removed whatever the outcome; the exit status is the tests'.
	status=0; python3 -m unittest discover --start-directory tests/managed --top-level-directory . \
	  --verbose || status=$$?; MANAGED_TLS_VOLUME=none $(MANAGED_STACK) down --volumes --remove-orphans >/dev/null 2>&1; \
	  docker volume rm --force $(MANAGED_PROJECT)-tls >/dev/null 2>&1; exit $$status

.PHONY: chaos
chaos: config build ## Faults, concurrency, fuzzing and hostile input against the compose.yml stack
	$(COMPOSE) build tests
	@# The stack is removed whatever the outcome; the exit status is the tests'.
	status=0; python3 -m unittest discover --start-directory tests/chaos --top-level-directory . \
	  --verbose || status=$$?; $(CHAOS) down --volumes --remove-orphans >/dev/null 2>&1; exit $$status

# Chromium and Python from Debian, in an image of their own (tests/browser/Dockerfile): the host
# needs Docker only, with no browser to install and no root. The browser joins the app
# container's network namespace, so it opens http://localhost:8000/docs as a developer's
# browser opens the published port, over loopback; no other network is involved.
BROWSER_IMAGE = fastapi-starter-browser

.PHONY: browser
browser: config ## /docs and /redoc in headless Chromium on the dev stack (started and stopped if not up)
	docker build --quiet --tag $(BROWSER_IMAGE) tests/browser >/dev/null
	@# The dev stack as `make up` starts it, unless it is running already; stopped again only
	@# when started here, whatever the outcome, and its volumes removed only when created here
	@# (a stopped stack's data stays). The exit status is the tests'.
	@started=; [ -n "$$($(COMPOSE) ps --status running --quiet app)" ] || started=1; \
	created=; docker volume inspect $(PROJECT)_pgdata >/dev/null 2>&1 || created=1; \
	status=0; { [ -z "$$started" ] || $(MAKE) up; } && \
	docker run --rm --init --network "container:$$($(COMPOSE) ps --quiet app)" \
	  --volume "$(CURDIR)/tests:/src/tests:ro" $(BROWSER_IMAGE) \
	  python3 -m unittest discover --start-directory tests/browser --top-level-directory . \
	  --verbose || status=$$?; \
	if [ -n "$$started" ]; then $(MAKE) down; fi; \
	if [ -n "$$created" ]; then $(COMPOSE) down --volumes >/dev/null 2>&1; fi; exit $$status

.PHONY: bench
bench: config build ## Measure the stack against its floors (QUICK=1 for a 2-minute harness check)
	$(COMPOSE) build tests
	QUICK=$(QUICK) bench/run

.PHONY: recipes
recipes: ## Prove the documented recipes (resource, rename, remove the example, two clones) in copies
	tests/recipes/run

.PHONY: swarm-up
swarm-up: config build pgbouncer-build ## Deploy $(APP_IMAGE) as a stack on a single-node swarm (edge on SWARM_PORT, 18090); again to roll out
	deploy/swarm/stack up

.PHONY: swarm-down
swarm-down: ## Remove the swarm stack and its volumes; leave the swarm if swarm-up created it (idempotent)
	deploy/swarm/stack down

.PHONY: scale
scale: config build pgbouncer-build ## Scale-out on Swarm: 3 replicas under load; drain, lost replica, rollback, rolling update with a migration
	@# The stack is removed (and the swarm left, if the suite created it) whatever the outcome.
	status=0; python3 -m unittest discover --start-directory tests/scale --top-level-directory . \
	  --verbose || status=$$?; deploy/swarm/stack down; exit $$status

# The images the targets build. A rebuild leaves the tag's previous image untagged: those are
# found by the labels they carry (the Dockerfile's title; Compose's project, for the dev image).
BUILT_IMAGES = $(APP_IMAGE) $(ARM64_IMAGE) $(PGBOUNCER_IMAGE) $(BROWSER_IMAGE) fastapi-starter:tools \
  $${DEV_IMAGE:-fastapi-starter:dev}

.PHONY: clean
clean: config ## Remove containers, volumes, test stacks, the images built here and caches (keeps .env and .secrets)
	$(COMPOSE) --profile test down --volumes --remove-orphans
	$(TEST_STACK) down --volumes --remove-orphans
	$(COMPOSE) --project-name $(SMOKE_PROJECT) -f compose.yml down --volumes --remove-orphans
	$(COMPOSE) --project-name $(SMOKE_PROJECT)-upgrade -f compose.yml down --volumes --remove-orphans
	$(CHAOS) down --volumes --remove-orphans
	$(ALERTS_STACK) down --volumes --remove-orphans
	MANAGED_TLS_VOLUME=none $(MANAGED_STACK) down --volumes --remove-orphans
	docker volume rm --force $(MANAGED_PROJECT)-tls
	$(COMPOSE) --project-name $(MANAGED_PROJECT)-backup -f compose.yml down --volumes --remove-orphans
	$(COMPOSE) --project-name $(MANAGED_PROJECT)-restored -f compose.yml down --volumes --remove-orphans
	$(COMPOSE) --project-name $(MANAGED_PROJECT)-pooling -f compose.yml \
	  -f deploy/pgbouncer/compose.pgbouncer.yml down --volumes --remove-orphans
	$(COMPOSE) --project-name $(MANAGED_PROJECT)-cluster -f compose.yml \
	  -f tests/managed/compose.cluster.yml down --volumes --remove-orphans
	$(COMPOSE) --project-name $(BENCH_PROJECT) -f compose.yml -f bench/compose.bench.yml down --volumes --remove-orphans
	$(COMPOSE) --project-name $(SMOKE_PROJECT)-edge -f compose.yml down --volumes --remove-orphans
	$(COMPOSE) --project-name $(ARM64_PROJECT) -f compose.yml -f tests/arm64/compose.arm64.yml down --volumes --remove-orphans
	deploy/swarm/stack down
	docker image rm --force $(BUILT_IMAGES) >/dev/null 2>&1 || true
	docker image prune --force --filter label=org.opencontainers.image.title=fastapi-starter >/dev/null
	for project in $(PROJECT) $(PROJECT)-test; do \
	  docker image prune --force --filter label=com.docker.compose.project=$$project >/dev/null; done
	rm -rf .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
