# Loupe — the two commands: `make run` and `make test`. Only Python 3.11+ and git are needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Two stamps: `make run` needs only what Loupe runs on (about 20 s to install on a cold start); `make test`
# adds the test tools (pytest, Playwright, moto…), which it installs on top.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install migrate seed lint clean mutants

# pip's own warnings (about the editable build, or about a machine's pip configuration) are not the
# newcomer's business: -qq keeps only errors, whatever pip.conf says (PYTHONWARNINGS reaches the build
# backend's process too). The venv's own pip is new enough for an editable pyproject install, so it is
# not upgraded first (one download and install fewer on a cold start).
define venv
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Loupe needs Python 3.11 or newer"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
endef

$(RUN_STAMP): pyproject.toml constraints.txt
	$(venv)
	@echo "Installing Loupe and its dependencies into $(VENV)/ (the first time takes about half a minute)"
	@PYTHONWARNINGS=ignore $(PY) -m pip install -qq --disable-pip-version-check -c constraints.txt -e .
	@touch $(RUN_STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(venv)
	@echo "Installing Loupe, its dependencies and the test tools into $(VENV)/ (the first time takes a minute)"
	@PYTHONWARNINGS=ignore $(PY) -m pip install -qq --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP) $(RUN_STAMP)

install: $(STAMP)

# Development defaults: DEBUG on, SQLite under var/, local file storage, the ORM task broker.
run: export DEBUG ?= 1
run: export LOUPE_BASE_URL ?= http://$(HOST):$(PORT)
run: $(RUN_STAMP)
	@$(PY) manage.py devserver --check-port --host $(HOST) --port $(PORT)
	@echo "Preparing the database"
	@$(PY) manage.py migrate --noinput --verbosity 0
	@echo "Seeding the demo studio"
	@$(PY) manage.py seed_demo
	@$(PY) manage.py make_tiles
	@echo "Starting the web server and the task worker"
	@exec $(PY) manage.py devserver --host $(HOST) --port $(PORT)

# One test process per core (pytest-xdist); TEST_WORKERS=0 runs the suite in this process. Work stealing: the
# few long browser tests (the page audit: two minutes) no longer leave one core idle at the end (10:09 against
# 10:26 for the same suite on this machine, 7 December 2026).
TEST_WORKERS ?= auto
test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# Mutation testing of the rule modules (docs/testing.md): not part of `make test` or CI. mutmut lives in a
# venv of its own: its setproctitle renames processes, which the supervisor tests find by their environment.
MUTANTS_VENV := .venv-mutants
$(MUTANTS_VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(MUTANTS_VENV)/bin/python || $(PYTHON) -m venv $(MUTANTS_VENV)
	@PYTHONWARNINGS=ignore $(MUTANTS_VENV)/bin/python -m pip install -qq --disable-pip-version-check -c constraints.txt -e '.[dev,mutants]'
	@touch $@

mutants: $(MUTANTS_VENV)/.installed
	$(MUTANTS_VENV)/bin/mutmut run --max-children $(or $(MUTANT_CHILDREN),2) || true
	$(MUTANTS_VENV)/bin/python .ci/mutants_report.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) $(MUTANTS_VENV) mutants var
