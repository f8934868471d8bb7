# Two commands on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
STATE_DIR ?= .local-state
DEMO ?= 1
WORKERS ?= 2
STAGE ?= dev
TEST_ARGS ?=
# pytest-xdist: one worker per core (at most 4), a test module's tests on one worker (a module's
# fixtures start once; the end-to-end tests share one local stack per worker). `make test PARALLEL=` runs in one process.
PARALLEL ?= -n auto --maxprocesses=4 --dist loadfile --no-loadscope-reorder
BENCH_ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: run test package bench clean lint

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=/path/to/python3.11)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

run: $(STAMP)
	$(PY) -m devstack.stack --port $(PORT) --state-dir "$(STATE_DIR)" --workers $(WORKERS) $(if $(filter 0 no false,$(DEMO)),--no-demo,)

test: $(STAMP)
	$(PY) -m pytest $(PARALLEL) $(TEST_ARGS)

package: $(STAMP)
	rm -rf build/$(STAGE)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(VENV)/bin/chalice package --stage $(STAGE) \
		--merge-template infra/resources.yaml build/$(STAGE)

# Dead letters: `make dlq` lists them, `make dlq ARGS="redrive events"` sends them back
# (local stack by default; ARGS="--stack NAME" for a deployed stage, see the README).
ARGS ?=
.PHONY: dlq
dlq: $(STAMP)
	$(PY) -m ops.dlq --state-dir "$(STATE_DIR)" $(ARGS)

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build .pytest_cache .local-state

lint: $(STAMP)
	$(PY) -m mypy chalicelib app.py
