"""The Spark engine against the local engine, record by record (issue 19): random rulesets ×
random data (nulls, leads whose account is not in the accounts, accounts without leads, one
account with thousands of leads, signals with duplicates and records not in the data), scored by
Spark in local mode under several partitionings, equal the local engine's tables on every record,
column for column; and the Spark engine's command, files in and files out.

One SparkSession for the module (the `spark` fixture in conftest); a fixed, small number of
rulesets (SPARK_EXAMPLES, default 5), each scored under every partitioning.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from unstuck_dsl import api, sample
from unstuck_dsl.diagnostics import RuleError
from unstuck_dsl.pipeline import load_ruleset
from unstuck_dsl.schema import ACCOUNT_KEY, LEAD_KEY

from cli_support import run
from conformance_runner import arrow_table
from strategies import datasets, record, rulesets

pytest.importorskip("pyspark", reason="pyspark is in the dev extra")
from unstuck_dsl import spark as unstuck_spark  # noqa: E402 - after the skip: it imports pyspark
from unstuck_dsl import spark_parquet  # noqa: E402

EXAMPLES = int(os.environ.get("SPARK_EXAMPLES", "5"))
SKEWED_LEADS = 2500  # leads of the one account that has thousands
# The engagement block every random ruleset gets: decays by half-life and by window.
SIGNALS = {"email_reply": "weight 10 half_life 14 days", "meeting": "weight 25 half_life 2 weeks",
           "site_visit": "weight 2 window 7 days", "webinar": "weight 4 window 3 weeks"}
ENGAGEMENT = ("\nengagement {\n" + "".join(f"  signal {name} {decay}\n" for name, decay in SIGNALS.items())
              + "  stage cool below 20, warm below 50, in_market below 80, hot\n}\n")

# (the inputs, accounts' partitions or files, leads', broadcast the accounts?, records per engine
# call). The inputs: "rows", DataFrames of the Arrow tables (the JVM sends their rows to Python);
# "parquet", Parquet files of row groups of a few records each, read by the Python workers
# themselves (spark_parquet), one string column dictionary-encoded.
PARTITIONINGS = [("rows", 1, 1, True, unstuck_spark.BATCH_ROWS), ("rows", 3, 4, False, unstuck_spark.BATCH_ROWS),
                 ("rows", 2, 5, None, 1), ("parquet", 2, 3, None, unstuck_spark.BATCH_ROWS)]
ROW_GROUP_RECORDS = 7  # small and prime: batches and engine calls span row groups and files


def parquet_files(table: pa.Table, folder: Path, files: int) -> None:
    """`table` in `files` Parquet files of consecutive records, row groups of ROW_GROUP_RECORDS,
    its first string field stored dictionary-encoded (read back as a dictionary)."""
    folder.mkdir(parents=True)
    text = [i for i, f in enumerate(table.schema) if f.type == pa.string() and f.name not in (ACCOUNT_KEY, LEAD_KEY)]
    if text:
        table = table.set_column(text[0], table.field(text[0]).name, pc.dictionary_encode(table.column(text[0])))
    step = -(-table.num_rows // files)
    for k in range(files):
        pq.write_table(table.slice(k * step, step), folder / f"part-{k}.parquet", row_group_size=ROW_GROUP_RECORDS)


def read_in_python(df, columns: list[str]) -> bool:
    """Whether the Python workers read `df`'s files themselves (spark_parquet) rather than the JVM."""
    return spark_parquet.plan(df, columns) is not None


def workers_read(table: pa.Table) -> bool:
    """Whether the Python workers should read `table`'s files: it has records, and no date before
    spark_parquet.EARLIEST (Spark may rebase older ones, so the JVM reads those)."""
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_date(field.type) or pa.types.is_timestamp(field.type):
            least = pc.min(column).as_py()
            if least is not None and (least.date() if isinstance(least, dt.datetime) else least) < spark_parquet.EARLIEST:
                return False
    return table.num_rows > 0


def plain(table: pa.Table) -> list[dict]:
    """A table's records by id, dictionary columns decoded (Spark has no dictionary type)."""
    key = LEAD_KEY if LEAD_KEY in table.column_names else ACCOUNT_KEY
    columns = [c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns]
    return sorted(pa.table(columns, names=table.column_names).to_pylist(), key=lambda r: r[key])


def spark_types(table: pa.Table) -> list[tuple[str, pa.DataType]]:
    return [(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) for f in table.schema]


@st.composite
def skewed_leads(draw, schema, account_id: str, as_of: dt.date) -> list[dict]:
    """Thousands of leads of one account, their fields cycling through a few drawn records."""
    shapes = [draw(record(schema, "lead", as_of=as_of)) for _ in range(3)]
    return [{LEAD_KEY: f"skew-{i}", ACCOUNT_KEY: account_id, **shapes[i % len(shapes)]} for i in range(SKEWED_LEADS)]


@st.composite
def signal_table(draw, leads: list[dict], accounts: list[dict], as_of: dt.date) -> pa.Table:
    """Signals naming leads and accounts of the data and some that are not, by lead, by account
    or both, at times around the as-of date (later ones too), some twice."""
    lead_ids = [r[LEAD_KEY] for r in leads[:40]] + ["no-such-lead"]
    account_ids = [r[ACCOUNT_KEY] for r in accounts[:40]] + ["no-such-account"]
    ids = st.one_of(st.tuples(st.sampled_from(lead_ids), st.none()), st.tuples(st.none(), st.sampled_from(account_ids)),
                    st.tuples(st.sampled_from(lead_ids), st.sampled_from(account_ids)))
    rows = draw(st.lists(st.tuples(ids, st.sampled_from(sorted(SIGNALS)), st.integers(-5 * 24, 90 * 24)), max_size=60))
    rows += rows[: len(rows) // 4]  # duplicates count once
    stamp = dt.datetime.combine(as_of, dt.time(12), dt.UTC)
    return pa.table({"lead_id": pa.array([r[0][0] for r in rows], pa.string()),
                     "account_id": pa.array([r[0][1] for r in rows], pa.string()),
                     "signal": pa.array([r[1] for r in rows], pa.string()),
                     "timestamp": pa.array([stamp - dt.timedelta(hours=r[2]) for r in rows], pa.timestamp("us", "UTC"))})


def assert_same(local: pa.Table, spark_df) -> None:
    """The Spark DataFrame holds the local table's columns, in order and of the same types
    (strings for dictionary columns), and its records, every value equal."""
    from_spark = spark_df.toArrow()
    assert spark_types(from_spark) == spark_types(local)
    assert plain(from_spark) == plain(local)


@contextlib.contextmanager
def spark_setting(spark, key: str, value: str):
    """The session's `key` set to `value` for the block, then as it was."""
    before = spark.conf.get(key)
    spark.conf.set(key, value)
    try:
        yield
    finally:
        spark.conf.set(key, before)


@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck), phases=[Phase.generate])
@given(data=st.data())
def test_spark_scores_equal_the_local_engine_on_every_record(spark, data):
    text, _ = data.draw(rulesets(), label="rules")
    ruleset = load_ruleset(text + ENGAGEMENT)
    rules = api.CompiledRules(ruleset)
    accounts, leads, as_of = data.draw(datasets(ruleset.schema, max_accounts=40, max_leads=60), label="data")
    if accounts:
        leads = leads + data.draw(skewed_leads(ruleset.schema, accounts[0][ACCOUNT_KEY], as_of), label="skew")
    signals = data.draw(signal_table(leads, accounts, as_of), label="signals")
    drafts = [i.code for i in ruleset.icps if i.status == "draft"]
    drafts += [f"{i.code}.{p.code}" for i in ruleset.icps for p in i.personas if p.status == "draft"]
    preview = data.draw(st.lists(st.sampled_from(drafts), unique=True, max_size=2), label="preview") if drafts else []
    account_table, lead_table = arrow_table(accounts, ruleset.schema, "account"), arrow_table(leads, ruleset.schema, "lead")

    local = rules.score(account_table, lead_table, as_of=as_of, preview=preview, signals=signals)
    signals_df = spark.createDataFrame(signals)
    # Field names that differ only in case (`c`, `C`) need a session that matches names by case.
    names = [f.name for f in ruleset.schema.fields]
    case_sensitive = "true" if len({n.lower() for n in names}) < len(names) else "false"
    with tempfile.TemporaryDirectory() as folder, spark_setting(spark, "spark.sql.caseSensitive", case_sensitive):
        for inputs, account_parts, lead_parts, broadcast, batch_rows in PARTITIONINGS:
            if inputs == "rows":
                accounts_df = spark.createDataFrame(account_table).repartition(account_parts)
                leads_df = spark.createDataFrame(lead_table).repartition(lead_parts)
            else:
                parquet_files(account_table, Path(folder) / "accounts", account_parts)
                parquet_files(lead_table, Path(folder) / "leads", lead_parts)
                accounts_df = spark.read.parquet(f"{folder}/accounts")
                leads_df = spark.read.parquet(f"{folder}/leads")
                assert read_in_python(accounts_df, account_table.column_names) == workers_read(account_table)
                assert read_in_python(leads_df, lead_table.column_names) == workers_read(lead_table)
            scored_accounts, scored_leads = unstuck_spark.score(
                rules, accounts_df, leads_df, as_of, preview, signals_df.repartition(2), broadcast_accounts=broadcast,
                batch_rows=batch_rows)
            assert_same(local.accounts, scored_accounts)
            assert_same(local.leads, scored_leads)


def test_accounts_alone_and_without_signals(spark):
    """No leads: the account table only; rules with engagement but no signals: no engagement columns."""
    accounts, _ = sample.generate(300, seed=3)
    rules = api.compile("rules/")
    local = rules.score(accounts, None, as_of="2026-11-26")
    scored_accounts, scored_leads = unstuck_spark.score(rules, spark.createDataFrame(accounts), None, as_of="2026-11-26")
    assert scored_leads is None
    assert_same(local.accounts, scored_accounts)


def _sample_with_gaps(n: int, seed: int) -> tuple[pa.Table, pa.Table]:
    """Sample accounts and leads where every fifth account is left out (its leads' account is
    missing) and a tenth of the accounts lose their leads (accounts without leads)."""
    accounts, leads = sample.generate(n, seed=seed)
    without_leads = accounts.column(ACCOUNT_KEY).slice(0, n // 10)
    leads = leads.filter(pc.invert(pc.is_in(leads.column(ACCOUNT_KEY), value_set=without_leads)))
    kept = accounts.filter(pa.array([i % 5 != 0 for i in range(n)]))
    return kept, leads


@pytest.mark.parametrize(("broadcast", "persist"), [(True, True), (False, False)])
def test_the_two_step_lead_path_with_missing_accounts_accounts_without_leads_and_a_preview(spark, broadcast, persist):
    """The accounts are scored once and the leads joined with their narrow scores, broadcast or
    shuffled: leads whose account is missing get no ICP and no Persona, accounts without leads
    are scored, a preview's columns match; with and without persisting the account scores."""
    accounts, leads = _sample_with_gaps(600, seed=11)
    rules = api.compile("rules/")
    local = rules.score(accounts, leads, as_of="2026-11-26", preview=["ent_finserv"])
    account_ids, owners = accounts.column(ACCOUNT_KEY), leads.column(ACCOUNT_KEY)
    orphans = pc.invert(pc.is_in(owners, value_set=account_ids))
    assert 0 < pc.sum(orphans).as_py() < leads.num_rows  # some leads' account is not in the accounts
    assert pc.sum(pc.invert(pc.is_in(account_ids, value_set=owners))).as_py() > 0  # accounts without leads
    assert pc.all(pc.is_null(local.leads.filter(orphans).column("icp_code"))).as_py()
    scored_accounts, scored_leads = unstuck_spark.score(
        rules, spark.createDataFrame(accounts).repartition(3), spark.createDataFrame(leads).repartition(4),
        as_of="2026-11-26", preview=["ent_finserv"], broadcast_accounts=broadcast, persist=persist)
    assert_same(local.accounts, scored_accounts)
    assert_same(local.leads, scored_leads)
    spark.catalog.clearCache()


def test_the_account_scores_are_broadcast_up_to_a_count_and_joined_by_spark_above(spark, monkeypatch):
    """Up to BROADCAST_ACCOUNTS accounts the leads meet their account's scores in the Python
    workers (the plan has no join: the leads are never shuffled); above it Spark joins them by a
    shuffled hash join; the scores are the local engine's either way."""
    accounts, leads = _sample_with_gaps(300, seed=17)
    rules = api.compile("rules/")
    local = rules.score(accounts, leads, as_of="2026-11-26")
    accounts_df, leads_df = spark.createDataFrame(accounts).repartition(2), spark.createDataFrame(leads).repartition(3)
    for limit, join in ((accounts.num_rows, None), (accounts.num_rows - 1, "ShuffledHashJoin")):
        monkeypatch.setattr(unstuck_spark, "BROADCAST_ACCOUNTS", limit)
        scored_accounts, scored_leads = unstuck_spark.score(rules, accounts_df, leads_df, as_of="2026-11-26")
        plan = scored_leads._jdf.queryExecution().executedPlan().toString()
        assert ("Join" not in plan) if join is None else (join in plan)
        assert_same(local.accounts, scored_accounts)
        assert_same(local.leads, scored_leads)
        spark.catalog.clearCache()


def test_leads_scored_from_their_accounts_icps_alone_equal_the_local_engine():
    """pipeline.score_leads, the lead kernel given each lead's account's ICP numbers (what the
    Spark workers run), assigns the Personas the local engine assigns the leads with their
    accounts, live and preview."""
    from unstuck_dsl import codegen, pipeline

    accounts, leads = _sample_with_gaps(500, seed=13)
    rules = api.compile("rules/")
    preview = rules.preview_codes(["ent_finserv"])
    local = rules.score(accounts, leads, as_of="2026-11-26", preview=preview)
    icp_numbers = {code: k for k, code in enumerate(rules.icp_codes)}

    def numbers(column: str) -> list[int]:
        return [icp_numbers.get(c, codegen.NO_RULE) for c in local.leads.column(column).to_pylist()]

    run = pipeline.score_leads(rules, leads, numbers("icp_code"), numbers("preview_icp_code"), local.as_of, preview)
    for prefix, persona, score in (("", run.persona, run.persona_score),
                                   ("preview_", run.preview_persona, run.preview_persona_score)):
        names = [rules.persona_names[k] if k >= 0 else None for k in rules.persona_name_of[persona]]
        assert names == local.leads.column(f"{prefix}persona_code").to_pylist()
        assert [s if s >= 0 else None for s in score.tolist()] == local.leads.column(f"{prefix}persona_score").to_pylist()
    assert len(set(local.leads.column("preview_persona_code").to_pylist()) - {None}) > 1  # the preview assigns Personas


def test_rule_errors_are_raised_on_the_driver_and_data_errors_name_the_column(spark, tmp_path):
    accounts, leads = sample.generate(50, seed=5)
    with pytest.raises(RuleError) as error:
        unstuck_spark.score("icp broken {", spark.createDataFrame(accounts))
    assert error.value.diagnostics  # file:line:column diagnostics, raised before any Spark job
    rules = api.compile("rules/")
    with pytest.raises(unstuck_spark.DataError, match="missing column `employees`"):
        unstuck_spark.score(rules, spark.createDataFrame(accounts.drop_columns(["employees"])), as_of="2026-11-26")
    with pytest.raises(api.ScoringError, match="unknown preview code"):
        unstuck_spark.score(rules, spark.createDataFrame(accounts), as_of="2026-11-26", preview=["nope"])


def test_fields_that_differ_only_in_case_are_named_or_scored_with_a_case_sensitive_session(spark):
    """Rules may declare `c` and `C`; a Spark session matching names ignoring case (its default)
    cannot select them apart: the engine says so, naming both; with spark.sql.caseSensitive set
    it scores them as the local engine does."""
    rules = api.compile("account fields { c: int  C: int }\n"
                        'icp big "Big" {\n  score 3: c > 5\n  score 1: C > 5\n}\n')
    accounts = pa.table({"account_id": ["a", "b", "d"], "c": [1, 9, None], "C": [9, 1, 7]})
    with pytest.raises(unstuck_spark.DataError, match="column `c` and `C` differ only in case"):
        unstuck_spark.score(rules, spark.createDataFrame(accounts), as_of="2026-11-26")
    with spark_setting(spark, "spark.sql.caseSensitive", "true"):
        scored, _ = unstuck_spark.score(rules, spark.createDataFrame(accounts), as_of="2026-11-26")
        assert_same(rules.score(accounts, as_of="2026-11-26").accounts, scored)


def test_the_command_reads_and_writes_parquet_directories(spark, tmp_path):
    """`unstuck score --engine spark`: a Parquet file and a partitioned directory in, Parquet
    directories out, equal to the local command's output; a data error is one line."""
    accounts, leads = sample.generate(400, seed=9)
    pq.write_table(accounts, tmp_path / "accounts.parquet")
    (tmp_path / "leads").mkdir()
    half = leads.num_rows // 2
    pq.write_table(leads.slice(0, half), tmp_path / "leads" / "part-0.parquet")
    pq.write_table(leads.slice(half), tmp_path / "leads" / "part-1.parquet")
    pq.write_table(leads, tmp_path / "leads.parquet")  # the local engine reads one file
    pq.write_table(sample.signals(leads), tmp_path / "signals.parquet")
    common = ["rules/", "--accounts", tmp_path / "accounts.parquet", "--signals", tmp_path / "signals.parquet",
              "--as-of", "2026-11-26"]
    result = run("score", *common, "--leads", tmp_path / "leads", "--engine", "spark", "--master", "local[2]",
                 "--out", tmp_path / "out", "--accounts-out", tmp_path / "accounts-out")
    assert result.exit_code == 0, result.output
    assert f"{leads.num_rows:,} leads" in result.output
    local = run("score", *common, "--leads", tmp_path / "leads.parquet", "--out", tmp_path / "local.parquet", "--accounts-out", tmp_path / "local-accounts.parquet")
    assert local.exit_code == 0, local.output
    assert plain(pq.read_table(tmp_path / "out")) == plain(pq.read_table(tmp_path / "local.parquet"))
    assert plain(pq.read_table(tmp_path / "accounts-out")) == plain(pq.read_table(tmp_path / "local-accounts.parquet"))
    assert not [p for p in os.listdir(tmp_path) if "unstuck-writing" in p or "unstuck-old" in p]

    bad = accounts.set_column(accounts.schema.get_field_index("employees"), "employees",
                              pa.array(["many"] * accounts.num_rows))
    pq.write_table(bad, tmp_path / "bad.parquet")
    for with_leads in ([], ["--leads", tmp_path / "leads"]):  # with leads, `score` broadcasts the accounts' scores
        result = run("score", "rules/", "--engine", "spark", "--master", "local[2]", "--accounts", tmp_path / "bad.parquet",
                     *with_leads, "--out", tmp_path / "bad-out", "--as-of", "2026-11-26")
        assert result.exit_code == 1
        assert "`employees`" in result.output and "Traceback" not in result.output
        assert not (tmp_path / "bad-out").exists()

    twice = pa.concat_tables([accounts, accounts.slice(0, 1)])
    pq.write_table(twice, tmp_path / "twice.parquet")
    result = run("score", "rules/", "--engine", "spark", "--master", "local[2]", "--accounts", tmp_path / "twice.parquet",
                 "--out", tmp_path / "twice-out", "--as-of", "2026-11-26")
    assert result.exit_code == 1
    assert f"id {accounts.column('account_id')[0].as_py()!r} appears 2 times" in result.output


@pytest.mark.parametrize("master, cores", [("local", 1), ("local[2]", 2), ("local[8]", 8), ("local[3,4]", 3),
                                           ("local[*]", os.cpu_count() or 1), ("spark://host:7077", None)])
def test_the_cores_a_local_master_names(master, cores):
    """The cores a local master names, whatever the machine has (`local[8]` on a 2-core machine is
    8), size the session's join partitions; a cluster's master names none (Spark's own setting)."""
    assert unstuck_spark.local_cores(master) == cores


def test_the_workers_read_a_bare_parquet_scan_and_the_jvm_anything_else(spark, tmp_path):
    """A DataFrame that is only Spark's read of Parquet files (a directory of several files of
    many row groups, hive partition directories whose column the rules do not read) is read by
    the Python workers, with the local engine's scores; a filter, a computed column, a partition
    column the rules read, files disagreeing on a column's type, or a date before 1900 leave the
    read to the JVM."""
    accounts, leads = _sample_with_gaps(900, seed=21)
    rules = api.compile("rules/")
    local = rules.score(accounts, leads, as_of="2026-11-26")
    parquet_files(accounts, tmp_path / "accounts", 3)
    third = -(-leads.num_rows // 3)
    for k in range(3):  # leads/batch=K/part-0.parquet: a partition column the rules do not read
        parquet_files(leads.slice(k * third, third), tmp_path / "leads" / f"batch={k}", 1)
    accounts_df, leads_df = spark.read.parquet(str(tmp_path / "accounts")), spark.read.parquet(str(tmp_path / "leads"))
    assert "batch" in leads_df.columns
    account_columns, lead_columns = ["account_id", *rules.account_fields], ["lead_id", "account_id", *rules.lead_fields]
    pieces = spark_parquet.plan(leads_df, lead_columns)
    assert pieces is not None and pieces.rows == leads.num_rows
    assert sum(len(p) for p in pieces.partitions) == sum(-(-n // ROW_GROUP_RECORDS) for n in (third, third, leads.num_rows - 2 * third))
    assert read_in_python(accounts_df, account_columns)
    scored_accounts, scored_leads = unstuck_spark.score(rules, accounts_df, leads_df, as_of="2026-11-26")
    for scored in (scored_accounts, scored_leads):
        assert "Scan parquet" not in scored._jdf.queryExecution().executedPlan().toString()
    assert_same(local.accounts, scored_accounts)
    assert_same(local.leads, scored_leads)
    spark.catalog.clearCache()

    from pyspark.sql import functions as F

    by_country = tmp_path / "by-country"
    accounts_df.write.partitionBy("country").parquet(str(by_country))
    pre_1900 = accounts.set_column(accounts.schema.get_field_index("hired_ciso_on"), "hired_ciso_on",
                                   pa.array([dt.date(1899, 12, 31)] * accounts.num_rows, pa.date32()))
    parquet_files(pre_1900, tmp_path / "pre-1900", 1)
    (tmp_path / "mixed").mkdir()
    pq.write_table(accounts.slice(0, 10), tmp_path / "mixed" / "a.parquet")
    rest = accounts.slice(10)
    employees = rest.schema.get_field_index("employees")
    pq.write_table(rest.set_column(employees, "employees", pc.cast(rest.column(employees), pa.int32())),
                   tmp_path / "mixed" / "b.parquet")  # read by Spark as a.parquet's int64
    for jvm_reads in (accounts_df.filter(F.col("employees") > 10), accounts_df.withColumn("employees", F.col("employees") + 1),
                      spark.read.parquet(str(by_country)), spark.read.parquet(str(tmp_path / "pre-1900")),
                      spark.read.parquet(str(tmp_path / "mixed"))):
        assert not read_in_python(jvm_reads, account_columns)
    scored_accounts, _ = unstuck_spark.score(rules, spark.read.parquet(str(by_country)), as_of="2026-11-26")
    assert "Scan parquet" in scored_accounts._jdf.queryExecution().executedPlan().toString()
    assert_same(local.accounts, scored_accounts)


def test_row_groups_are_split_into_partitions_in_order_each_once(spark):
    """Every row group in exactly one partition, in file order; about as many partitions as
    Spark makes of files of their size (each at most maxPartitionBytes)."""
    pieces = [spark_parquet.Piece(f"f{k // 5}", k % 5, 100, size) for k, size in enumerate([3 << 20, 50 << 20, 1, 200 << 20] * 10)]
    partitions = spark_parquet._partitions(spark, pieces)
    assert [p for partition in partitions for p in partition] == pieces
    assert len(partitions) >= sum(p.size for p in pieces) / (128 << 20)
    assert spark_parquet._partitions(spark, pieces[:1]) == (tuple(pieces[:1]),)


def test_integer_ids_read_by_the_workers_stay_integers(spark, tmp_path):
    """Whole-number ids in Parquet (int64 columns) read by the Python workers: the scores are
    the local engine's, the ids come out as Spark's bigint."""
    accounts, leads = _sample_with_gaps(500, seed=23)
    every_account = pa.concat_arrays([accounts.column(ACCOUNT_KEY).combine_chunks(), leads.column(ACCOUNT_KEY).combine_chunks()]).unique()

    def numbered(table: pa.Table, column: str, ids) -> pa.Table:
        return table.set_column(table.schema.get_field_index(column), column,
                                pc.cast(pc.index_in(table.column(column), value_set=ids), pa.int64()))

    accounts = numbered(accounts, ACCOUNT_KEY, every_account)
    leads = numbered(numbered(leads, ACCOUNT_KEY, every_account), LEAD_KEY, leads.column(LEAD_KEY).combine_chunks())
    rules = api.compile("rules/")
    local = rules.score(accounts, leads, as_of="2026-11-26")
    parquet_files(accounts, tmp_path / "accounts", 2)
    parquet_files(leads, tmp_path / "leads", 2)
    accounts_df, leads_df = spark.read.parquet(str(tmp_path / "accounts")), spark.read.parquet(str(tmp_path / "leads"))
    assert read_in_python(accounts_df, ["account_id", *rules.account_fields])
    assert read_in_python(leads_df, ["lead_id", "account_id", *rules.lead_fields])
    scored_accounts, scored_leads = unstuck_spark.score(rules, accounts_df, leads_df, as_of="2026-11-26")
    assert dict(scored_leads.dtypes)[LEAD_KEY] == "bigint"
    assert_same(local.accounts, scored_accounts)
    assert_same(local.leads, scored_leads)
    spark.catalog.clearCache()
