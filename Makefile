# The two commands of the README: `make demo` and `make test`.
# Both set up what they need first (scripts/bootstrap.sh), so a fresh clone works.
VENV := .venv
PY := $(VENV)/bin/python
export IPYTHONDIR := $(CURDIR)/.ipython
export JUPYTER_PLATFORM_DIRS := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup demo test lint bench lab clean constraints

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

# Re-pin constraints.txt to what .venv resolved (after changing dependencies in pyproject.toml).
constraints: setup
	@{ sed -n '/^#/p' constraints.txt; $(VENV)/bin/pip freeze --exclude-editable | grep -v '^auditreports'; } > constraints.txt.new
	@mv constraints.txt.new constraints.txt
	@echo "constraints.txt: $$(grep -vc '^#' constraints.txt) packages pinned"

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
