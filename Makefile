# racer's two commands: `make demo` and `make test`. Each sets up what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# auto: use the local channel and base image only where the registries don't answer.
OFFLINE ?= auto

.PHONY: setup venv engine offline demo test bench bench-api backend lint clean

setup: venv engine offline

venv: $(BIN)/racer

$(BIN)/racer: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[offline,test]'
	touch $@

engine:
	bin/ensure-docker

offline: venv engine
	@if [ "$(OFFLINE)" = 1 ] || { [ "$(OFFLINE)" = auto ] && [ "$$(bin/needs-offline)" = yes ]; }; then \
		PYTHON=$(BIN)/python bin/offline-setup; \
	fi

demo: setup
	$(BIN)/racer run --path test-project --ports 8080:8000
	@echo "test-project answers on http://localhost:8080"

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python bench/bench_deploy.py

bench-api: setup
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk; } \
		|| { echo "bench-api needs wrk (apt-get install wrk)" >&2; exit 1; }
	$(BIN)/python bench/bench_api.py

backend: venv engine
	$(BIN)/racerctl server start --foreground

lint: venv
	$(BIN)/ruff check racer_tools server tests bench
	$(BIN)/ruff format --check racer_tools server tests bench

clean:
	-$(BIN)/racerctl containers cleanup
	rm -rf $(VENV) *.egg-info
