# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test check bench bench-full bench-spark lint clean java chromium

# (Re)create the virtualenv and install the project whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/unstuck demo

# The Spark tests need a Java runtime: Debian's, installed once when `java` is missing.
java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "installing openjdk-17-jre-headless (Java for the Spark engine)"; \
	  apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null; }

# The browser tests drive Debian's Chromium (Playwright's own browser download is not reachable).
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

test: $(STAMP) java chromium
	$(PY) -m pytest -p no:cacheprovider

check: $(STAMP)
	$(VENV)/bin/unstuck check rules/

bench: $(STAMP)
	$(PY) benchmarks/run.py --quick

bench-full: $(STAMP)
	$(PY) benchmarks/run.py --full

bench-spark: $(STAMP) java
	$(PY) benchmarks/spark.py --size 1000000

lint: $(STAMP)
	$(VENV)/bin/ruff check unstuck_dsl tests benchmarks

clean:
	rm -rf $(VENV) .unstuck-cache .hypothesis
