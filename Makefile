# picotask: `make run` serves the API, `make test` runs every check. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test lint typecheck pytest schema migrations bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

run: $(STAMP)
	$(BIN)/picotask serve

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# SQLite and the memory bus always; PostgreSQL and Redis too when their URLs are set.
# Each backend runs in its own process (tortoise keeps per-model SQL for one dialect).
pytest: $(STAMP)
	env -u PICOTASK_TEST_DATABASE_URL -u PICOTASK_TEST_BROADCAST_URL $(BIN)/pytest
	if [ -n "$$PICOTASK_TEST_DATABASE_URL" ]; then $(BIN)/pytest; fi

schema: $(STAMP)
	$(BIN)/picotask export-schema --output schema.graphql

# After changing models: write the next migration (see README, "Migrations").
migrations: $(STAMP)
	$(BIN)/tortoise -c picotask.server.db.TORTOISE_ORM makemigrations
	$(BIN)/python -m picotask.server.fix_migrations picotask/migrations

bench: $(STAMP)
	$(BIN)/python -m bench.fanout

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
