# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test chromium check bench bench-full lint clean

# (Re)create the virtualenv and install the project whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/unstuck demo

# The browser tests drive Debian's Chromium (Playwright's own browser download is not reachable).
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

test: $(STAMP) chromium
	$(PY) -m pytest -p no:cacheprovider

check: $(STAMP)
	$(VENV)/bin/unstuck check rules/

bench: $(STAMP)
	$(PY) benchmarks/run.py --quick

bench-full: $(STAMP)
	$(PY) benchmarks/run.py --full

lint: $(STAMP)
	$(VENV)/bin/ruff check unstuck_dsl tests benchmarks

clean:
	rm -rf $(VENV) .unstuck-cache .hypothesis
