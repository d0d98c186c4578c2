# The two commands of the README: `make demo` and `make test`.
# Both set up what they need first (scripts/bootstrap.sh), so a fresh clone works.
VENV := .venv
PY := $(VENV)/bin/python
export IPYTHONDIR := $(CURDIR)/.ipython
export JUPYTER_PLATFORM_DIRS := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup demo test lint bench lab clean

setup:
	@bash scripts/bootstrap.sh

demo: setup
	$(PY) -m auditreports demo

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check auditreports tests benchmarks scripts
	$(VENV)/bin/ruff format --check auditreports tests benchmarks scripts
	$(VENV)/bin/mypy

bench: setup
	$(PY) -m benchmarks

lab: setup
	$(PY) -m auditreports lab

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
