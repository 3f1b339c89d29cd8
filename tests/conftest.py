"""Test-wide settings: the hypothesis profile used everywhere (CI included).

`deadline=None` because the first example of a property may pay one-off costs (building the
Lark parser, importing numba) that say nothing about the code under test. Set
HYPOTHESIS_MAX_EXAMPLES to search harder locally, e.g. HYPOTHESIS_MAX_EXAMPLES=2000.
"""

import os

import pytest
from hypothesis import settings

from cli_support import AS_OF, run

settings.register_profile("ci", deadline=None, max_examples=int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "100")))
settings.load_profile("ci")


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    """300 sample accounts, their leads, signals and outcomes as CSV (`unstuck demo --out`)."""
    out = tmp_path_factory.mktemp("sample")
    result = run("demo", "--accounts", 300, "--out", out, "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def spark():
    """One local Spark session (2 cores) for every Spark test: the JVM starts once. Small
    memory, few shuffle partitions, small Arrow batches (so one partition reaches the engine in
    several batches), the UI off, loopback only, no package downloads."""
    pytest.importorskip("pyspark", reason="pyspark is in the dev extra (make .venv/.installed-stamp)")
    from unstuck_dsl.spark import session

    spark = session("local[2]", "unstuck-tests", {
        "spark.driver.memory": "1g", "spark.sql.shuffle.partitions": "3", "spark.default.parallelism": "2",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "256", "spark.python.worker.reuse": "true"})
    yield spark
    spark.stop()
