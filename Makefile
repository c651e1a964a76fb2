# Two commands on a fresh machine: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1

.PHONY: install run test test-reliability bench bench-fanout bench-stats bench-roster bench-media bench-burden \
	bench-dashboard bench-exports clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/flask --app server init-db
	$(BIN)/flask --app server demo
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m emulator.demo

test: install
	$(BIN)/python -m pytest -q -rs -p no:cacheprovider tests

# The reliability suite alone (it also runs within `make test`).
test-reliability: install
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/reliability

bench: install
	$(BIN)/python bench/webhook.py

bench-fanout: install
	$(BIN)/python bench/fanout.py

bench-stats: install
	$(BIN)/python bench/stats.py

bench-roster: install
	$(BIN)/python bench/roster.py

bench-media: install
	$(BIN)/python bench/media.py

bench-dashboard: install
	$(BIN)/python bench/dashboard.py

bench-exports: install
	$(BIN)/python bench/exports.py

bench-burden: install
	$(BIN)/python bench/burden.py

clean:
	rm -rf $(VENV) data
