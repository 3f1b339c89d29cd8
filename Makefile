# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test check bench bench-full bench-spark lint parser clean java chromium

# (Re)create the virtualenv and install the project whenever pyproject.toml changes. The package is
# installed editable, which pip does not byte-compile: compiled here, as a regular install would be,
# so that no command compiles its modules from source when bytecode is not written (this machine
# sets PYTHONDONTWRITEBYTECODE): 0.15-0.2 s of every `unstuck` process.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m compileall -q unstuck_dsl
	touch $(STAMP)

# The demo, then a workspace of its sample data (demo/, ignored by git) to open in a browser.
run: $(STAMP)
	$(VENV)/bin/unstuck demo --out demo/
	$(VENV)/bin/unstuck ingest rules/ --accounts demo/accounts.csv --leads demo/leads.csv --signals demo/signals.csv \
	  --outcomes demo/outcomes.csv --db demo/unstuck.duckdb --as-of 2026-11-26
	@echo
	@echo "Open the workspace in a browser:"
	@echo "  $(VENV)/bin/unstuck serve --db demo/unstuck.duckdb"
	@echo "then the http://127.0.0.1:8765/?token=... address it prints (loopback only; the token signs the browser in to write)."

# The Spark tests need a Java runtime: Debian's, installed once when `java` is missing.
java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "installing openjdk-17-jre-headless (Java for the Spark engine)"; \
	  apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null; }

# The browser tests drive Debian's Chromium (Playwright's own browser download is not reachable).
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

# Two workers, one per core; a test file stays on one worker, so its module fixtures (compiled
# kernels, the Spark session, the browser) are made once.
test: $(STAMP) java chromium
	$(PY) -m pytest -p no:cacheprovider -n 2 --dist loadfile

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

# The grammar's LALR parser, generated from it (unstuck_dsl/grammar/lalr.py and lalr_tables.py): after every change to the grammar.
parser: $(STAMP)
	$(PY) -m unstuck_dsl.grammar

clean:
	rm -rf $(VENV) .unstuck-cache .hypothesis
