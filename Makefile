# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DATA ?= $(if $(INKWITNESS_DATA),$(INKWITNESS_DATA),../shared/data)

.PHONY: run test evaluate bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The service: clerk's console at /, signer's ceremony at /s/{token}, API docs at /docs. HOST/PORT may be overridden.
HOST ?= 127.0.0.1
PORT ?= 8000
run: $(STAMP)
	$(VENV)/bin/inkwitness serve --host $(HOST) --port $(PORT) --data-dir inkwitness-data

evaluate: $(STAMP)
	@if [ -d "$(DATA)/svc2004/Task2" ]; then \
		$(VENV)/bin/inkwitness evaluate --dataset svc2004-task2 --data "$(DATA)" --scores scores-svc2004-task2.csv --det det-svc2004-task2.png; \
	else \
		echo "make evaluate needs the public datasets at $(DATA) (set INKWITNESS_DATA)"; exit 1; \
	fi

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
