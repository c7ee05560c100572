.PHONY: run test test-postgres lint

# Extra arguments: make test ARGS="-k order -x"
ARGS ?=

run:
	./bin/run $(ARGS)

test:
	./bin/test $(ARGS)

test-postgres:
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/test ./bin/test $(ARGS)

lint:
	. bin/_venv.sh && .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports --no-cache
