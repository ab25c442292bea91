# picotask: `make run` serves the API, `make test` runs every check. Both set up .venv first,
# with exactly the versions in uv.lock (README, "Upgrading").
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# uv, pinned, in an environment of its own: `uv sync` removes from .venv whatever uv.lock does
# not list, uv included. Bootstrapped with the machine's python3 and pip, nothing else.
UV_VERSION := 0.13.9
TOOLS := .uv
UV := $(TOOLS)/bin/uv
UV_STAMP := $(TOOLS)/.installed-$(UV_VERSION)
STAMP := $(VENV)/.synced-$(shell cat pyproject.toml uv.lock | cksum | cut -d' ' -f1)
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run web test lint typecheck pytest screenshots schema migrations bench bench-quick \
	lock upgrade clean nginx

$(UV_STAMP):
	rm -rf $(TOOLS)
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	touch $@

# --locked: a pyproject.toml changed without `make lock` stops here, instead of installing
# something else than what the lock says.
$(STAMP): pyproject.toml uv.lock $(UV_STAMP)
	$(UV) sync --locked --extra dev --python $(PYTHON) --quiet
	rm -f $(VENV)/.synced-* && touch $@

# After editing the dependencies in pyproject.toml: the lock again, changing only what must.
lock: $(UV_STAMP)
	$(UV) lock

# Every dependency to its newest release within pyproject.toml's bounds, then every check.
# Commit uv.lock when it passes; tests/test_upgrading.py names any internal that moved.
upgrade: $(UV_STAMP)
	$(UV) lock --upgrade
	$(MAKE) test

run: $(STAMP) web
	$(BIN)/picotask serve

# The web app (web/ -> web/dist, served at /): built when missing or older than its sources,
# when npm is on the machine; its packages installed (npm ci) when the lockfile changed.
NPM ?= npm
WEB_SOURCES := web/src web/index.html web/package.json web/package-lock.json web/vite.config.ts web/tsconfig.json
web:
	@if ! command -v $(NPM) >/dev/null 2>&1; then \
	  if [ -f web/dist/index.html ]; then echo "picotask: Node.js (npm) is missing: serving web/dist as last built"; \
	  else echo "picotask: Node.js (npm) is missing: serving the API alone, without the web app at /"; fi; \
	elif [ ! -f web/dist/index.html ] || [ -n "$$(find $(WEB_SOURCES) -newer web/dist/index.html 2>/dev/null)" ]; then \
	  cd web && { [ node_modules/.package-lock.json -nt package-lock.json ] || $(NPM) ci --no-audit --no-fund; } && \
	  $(NPM) run build; \
	fi

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# SQLite and the memory bus always; PostgreSQL and Redis too when their URLs are set.
# Each backend runs in its own process (tortoise keeps per-model SQL for one dialect); the two
# run side by side, each on its own core, and their reports are printed one after the other.
SQLITE_ENV := env -u PICOTASK_TEST_DATABASE_URL -u PICOTASK_TEST_BROADCAST_URL
# tests/test_proxy.py runs Debian's nginx in front of the instances: installed here when it is
# missing and apt-get can (as root); otherwise that test skips, saying why (.ci/run requires it).
nginx:
	@if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "picotask: installing nginx for tests/test_proxy.py"; \
	    apt-get update -qq && apt-get install -y -qq nginx >/dev/null; \
	  else echo "picotask: nginx is missing (apt-get install nginx): tests/test_proxy.py skips it"; fi; \
	fi

pytest: $(STAMP) nginx
	@if [ -z "$$PICOTASK_TEST_DATABASE_URL" ]; then exec $(SQLITE_ENV) $(BIN)/pytest; fi; \
	logs=$$(mktemp -d); \
	echo "pytest: SQLite and PostgreSQL passes side by side (reports follow when both end)"; \
	$(SQLITE_ENV) $(BIN)/pytest > $$logs/sqlite.log 2>&1 & sqlite=$$!; \
	$(BIN)/pytest > $$logs/postgres.log 2>&1 & postgres=$$!; \
	wait $$sqlite; sqlite_rc=$$?; wait $$postgres; postgres_rc=$$?; \
	echo "===== SQLite and the memory bus (exit $$sqlite_rc)"; cat $$logs/sqlite.log; \
	echo "===== PostgreSQL and Redis (exit $$postgres_rc)"; cat $$logs/postgres.log; \
	rm -rf $$logs; \
	[ $$sqlite_rc -eq 0 ] && [ $$postgres_rc -eq 0 ]

# The README's screenshots: the browser tests (SQLite pass) write them into docs/screenshots/
# instead of var/screenshots/. Commit the changed files.
screenshots: $(STAMP) web
	PICOTASK_SCREENSHOTS=docs/screenshots $(SQLITE_ENV) $(BIN)/pytest tests/test_browser.py -q

schema: $(STAMP)
	$(BIN)/picotask export-schema --output schema.graphql

# After changing models: write the next migration (see README, "Migrations").
migrations: $(STAMP)
	$(BIN)/tortoise -c picotask.server.db.TORTOISE_ORM makemigrations
	$(BIN)/python -m picotask.server.fix_migrations picotask/migrations

# Fan-out to subscribers, then the HTTP pages against a bare Starlette baseline, batches, and
# whole jobs against the services in-process (SQLite, and PostgreSQL + Redis when they
# answer). The load comes from Python: nothing to install.
bench: $(STAMP)
	$(BIN)/python -m bench.fanout --subscribers 1000 5000 10000
	$(BIN)/python -m bench.http
	$(BIN)/python -m bench.batches
	$(BIN)/python -m bench.writes
	$(BIN)/python -m bench.retention
	$(BIN)/python -m bench.growth

# CI: a short run of each benchmark, so none of them rots (the HTTP one also checks that
# picotask and its baseline answer the same data).
bench-quick: $(STAMP)
	$(BIN)/python -m bench.http --quick
	$(BIN)/python -m bench.fanout --quick
	$(BIN)/python -m bench.batches --quick
	$(BIN)/python -m bench.writes --quick
	$(BIN)/python -m bench.retention --quick
	$(BIN)/python -m bench.growth --quick

clean:
	rm -rf $(VENV) $(TOOLS) var .mypy_cache .ruff_cache .pytest_cache
