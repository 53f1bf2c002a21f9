# Two commands on a fresh machine with only Python and make:
#   make run   - venv, install, migrate, seed the demo helpline, print its tokens, serve (with the scheduler)
#   make test  - venv, install, run the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 5000
FLASK := $(BIN)/flask --app wsgi

.PHONY: install keys run test migrate seed bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Fresh development keys on first run, reused after; nothing committed ever encrypts data.
keys: install
	@$(BIN)/python -m config.keys

migrate: keys
	$(FLASK) db upgrade

seed: migrate
	@echo "Demo helpline (tokens are new on each run):"
	@$(FLASK) demo seed | $(BIN)/python -m json.tool

run: seed
	@echo "Serving on http://$(HOST):$(PORT) (docs at /api/docs); Ctrl-C stops."
	@# gthread, 64 threads: live event streams hold one each (EVENT_STREAMS_PER_PROCESS=48), 16 stay for requests.
	@# exec: gunicorn replaces the shell, so SIGTERM and Ctrl-C reach it and nothing is left serving.
	SCHEDULER_IN_PROCESS=1 exec $(BIN)/gunicorn --worker-class gthread --workers 1 --threads 64 --bind $(HOST):$(PORT) wsgi:app

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
