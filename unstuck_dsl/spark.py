"""Scoring Spark DataFrames: the same scores as the local engine, distributed by Spark itself.

    from unstuck_dsl import spark as unstuck_spark
    accounts, leads = unstuck_spark.score("rules/", accounts_df, leads_df, as_of="2026-11-26")
    leads.write.parquet("s3://bucket/scores/leads")

The rules are read, checked and lowered on the driver, so a rule error is raised there, before
any Spark job. Executors get the ruleset's canonical text, never pickled kernels (a kernel is
machine code for one CPU and one library version): each Python worker compiles the text once
(`_rules`, a module-level cache keyed by the text's hash; Spark reuses Python workers across
tasks) and loads or builds its kernels through the disk cache (UNSTUCK_CACHE_DIR on the executor).

Each partition goes through the local engine's own Arrow path with `mapInArrow`. An input that
is a bare Parquet scan (`spark.read.parquet`, at most some columns selected) never passes
through the JVM's rows: the Python workers read its row groups themselves (spark_parquet: the
JVM's Parquet decoding and its rows -> Arrow conversion were two thirds of its CPU time). In
two steps:

- accounts are scored once, on their own (`CompiledRules.score`; an account's fit reads only
  its own fields); the workers return the id and the ICP's number and score, and Spark's own
  expressions make the code and band strings (`_decoded`). With leads, these numbers are
  persisted: both outputs read them;
- leads run the lead kernel alone (`pipeline.score_leads`), given each lead's account's ICP from
  the narrow account scores (id, ICP number and score). Up to BROADCAST_ACCOUNTS accounts, those
  scores are collected to the driver and broadcast to the Python workers, each of which finds a
  lead's account in a hash table of its own (keys.IdIndex): the leads go from their source
  straight to Python, with no join in the JVM (`AccountScores`). Above it, Spark joins the leads
  with them (a shuffled hash join). A lead whose account is not in the accounts gets no ICP and
  no Persona, as locally;
- engagement (signals): a lead's score sums its own signals, an account's its own and all its
  leads' (engagement.py), so Spark deduplicates the signals, resolves each signal's account
  through the leads, and partitions them by record, so that every record's signals are scored
  together; records without signals get the score of none.

The output columns are the local tables' columns in the same order, with the same values; Spark
has no dictionary type, so the code, band and stage columns are strings. Row order is Spark's
(join on the ids). Errors about the data are the local engine's, raised in the executor; their
row numbers count within the Spark batch that held the row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import sys
import uuid
import warnings

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import engagement, pipeline, spark_parquet
from .api import CompiledRules, parse_as_of
from .data import DICTIONARY_TYPES, DataError, _check_columns
from .keys import IdIndex, rows_of_dictionary_chunks
from .schema import ACCOUNT_KEY, BANDS, LEAD_KEY
from .tables import score_column  # (a nullable int32 column of numbers, -1 null: an ICP or Persona number too)

# Scoring passes Arrow, never pandas, through pyspark: its pandas version warning says nothing here.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")

# pyspark is imported inside the functions that need it: the package works without it (the
# `spark` extra), and importing it costs a second the other commands need not pay.

# Between Spark and the Python workers an assignment travels as numbers; Spark's own
# expressions turn them into the code and band strings of the local tables.
ICP = "__unstuck_icp"  # the assigned ICP's number (its index in the ruleset's ICPs), null: none
ICP_SCORE = "__unstuck_icp_score"
PERSONA = "__unstuck_persona"  # the Persona's index in persona_names, null: no ICP
PERSONA_SCORE = "__unstuck_persona_score"
PREVIEW = "preview_"  # the preview assignment's columns (a preview run's)
RECORD = "__unstuck_record"  # engagement: the id of the record a signal counts for
LEAD_ACCOUNT = "__unstuck_lead_account"  # a signal's lead's account id
SIGNAL_COLUMNS = ("lead_id", "account_id", "signal", "timestamp")
BATCH_ROWS = 500_000  # records per call of the local engine (Spark hands Python batches of 10,000)
# Accounts whose narrow scores are broadcast to the lead pass (above: a shuffled join). Each
# Python worker holds them and their hash table, about 50 bytes per account (50 MB at 1M).
BROADCAST_ACCOUNTS = 10_000_000


@attrs.frozen
class Job:
    """What an executor needs to score: the canonical rule text (shipped instead of kernels) and
    the run's options. Small and picklable."""

    text: str
    digest: str
    as_of: dt.date
    preview: frozenset[str]
    account_fields: tuple[str, ...]
    lead_fields: tuple[str, ...]
    missing_columns: str = "error"
    skip_unknown_signals: bool = False
    batch_rows: int = BATCH_ROWS


@attrs.frozen
class AccountScores:
    """The accounts' narrow scores sent to every Python worker (a Spark broadcast variable of an
    Arrow table: account_id, then per assignment the ICP's number and score), so that the lead
    pass finds each lead's account in Python rather than through a join in the JVM. `token`
    names one run's scores in a worker's cache."""

    token: str
    table: object  # pyspark.Broadcast holding the pa.Table


# ---- on the executors ---------------------------------------------------------------------------

_RULES: dict[str, CompiledRules] = {}  # ruleset hash -> rules compiled in this Python worker


def _rules(job: Job) -> CompiledRules:
    """The job's rules, compiled once per Python worker (the kernels come from the disk cache)."""
    rules = _RULES.get(job.digest)
    if rules is None:
        rules = _RULES[job.digest] = pipeline.compile_rules(job.text)
    return rules


# The broadcast account scores in this Python worker: token -> (hash table of their ids, each
# ICP column as int32 with -1 for null and one -1 more at the end, the row of an id not found).
_ACCOUNT_SCORES: dict[str, tuple[IdIndex, dict[str, np.ndarray]]] = {}


def _account_scores(scores: AccountScores) -> tuple[IdIndex, dict[str, np.ndarray]]:
    """The broadcast account scores and their hash table, built once per Python worker and run."""
    found = _ACCOUNT_SCORES.get(scores.token)
    if found is None:
        _ACCOUNT_SCORES.clear()  # one run's at a time: a worker's memory holds one table
        table = scores.table.value
        found = _ACCOUNT_SCORES[scores.token] = (
            IdIndex(table.column(ACCOUNT_KEY)),
            {name: np.append(_or_none(table.column(name)), np.int32(-1)) for name in table.column_names[1:]})
    return found


def _tables(batches, rows: int):
    """A partition's Arrow batches gathered into tables of about `rows` records: the engine's
    fixed cost per call (dictionaries, constants, the kernel launch) is paid per table, not per
    Spark batch."""
    pending, count = [], 0
    for batch in batches:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending)
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _numbers(codes) -> pa.Array:
    """A dictionary column of the local tables as its index numbers, null where the code is:
    codes and bands travel back to Spark as small integers (tables.codes_column's indices)."""
    codes = codes.combine_chunks() if isinstance(codes, pa.ChunkedArray) else codes
    return codes.indices.cast(pa.int32())


def _or_none(column) -> np.ndarray:
    """A nullable number column as the kernel's int32 array: null -> codegen.NO_RULE (-1)."""
    return pc.fill_null(column, -1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def score_account_batches(job: Job, batches):
    """mapInArrow: accounts (account_id and the account fields) -> account_id and, per
    assignment (live, and preview in a preview run), the ICP's number and score."""
    rules = _rules(job)
    for table in _tables(batches, job.batch_rows):
        result = rules.score(table, None, as_of=job.as_of, preview=job.preview, missing_columns=job.missing_columns)
        scored = result.accounts
        columns = {ACCOUNT_KEY: table.column(ACCOUNT_KEY)}  # the scored rows are the input's, in order
        for prefix in _prefixes(job):
            columns[f"{prefix}{ICP}"] = _numbers(scored.column(f"{prefix}icp_code"))
            columns[f"{prefix}{ICP_SCORE}"] = scored.column(f"{prefix}icp_score").combine_chunks()
        yield from pa.table(columns).to_batches()


def score_lead_batches(job: Job, batches, accounts: AccountScores | None = None):
    """mapInArrow: leads (lead_id, account_id, the lead fields) -> the ids and, per assignment,
    their account's ICP number and score and the Persona's number (in persona_names) and score.
    The account's ICP comes from `accounts`, the broadcast account scores, or else from the
    batch, joined by Spark (the ICP and ICP_SCORE columns); null when the account is not in the
    accounts or fits no ICP. Only the lead kernel runs: the accounts were scored once, before."""
    rules = _rules(job)
    lead_columns = [LEAD_KEY, ACCOUNT_KEY, *job.lead_fields]
    icp_columns = [f"{prefix}{name}" for prefix in _prefixes(job) for name in (ICP, ICP_SCORE)]
    found = _account_scores(accounts) if accounts is not None else None
    for table in _tables(batches, job.batch_rows):
        leads = table.select([c for c in lead_columns if c in table.column_names])
        if found is None:
            icps = {name: _or_none(table.column(name)) for name in icp_columns}
        else:
            index, numbers = found
            rows = rows_of_dictionary_chunks(index, table.column(ACCOUNT_KEY))  # -1: the extra last entry, null
            icps = {name: numbers[name][rows] for name in icp_columns}
        icp = icps[ICP]
        preview_icp = icps[f"{PREVIEW}{ICP}"] if job.preview else icp[:1]
        run = pipeline.score_leads(rules, leads, icp, preview_icp, job.as_of, job.preview, job.missing_columns)
        columns = {LEAD_KEY: table.column(LEAD_KEY), ACCOUNT_KEY: table.column(ACCOUNT_KEY)}
        for prefix, persona, score in (("", run.persona, run.persona_score),
                                       (PREVIEW, run.preview_persona, run.preview_persona_score))[:len(_prefixes(job))]:
            name = rules.persona_name_of[persona]
            columns[f"{prefix}{ICP}"] = score_column(icps[f"{prefix}{ICP}"])
            columns[f"{prefix}{ICP_SCORE}"] = score_column(icps[f"{prefix}{ICP_SCORE}"])
            columns[f"{prefix}{PERSONA}"] = score_column(name)
            columns[f"{prefix}{PERSONA_SCORE}"] = score_column(score)
        yield from pa.table(columns).to_batches()


def _prefixes(job: Job) -> tuple[str, ...]:
    """The output columns' prefixes: the live assignment, and the preview's in a preview run."""
    return ("", PREVIEW) if job.preview else ("",)


def engagement_batches(job: Job, batches):
    """mapInArrow over a whole partition of deduplicated signals, partitioned by RECORD (every
    record's signals in one partition): RECORD, engagement_score, stage per record."""
    rules = _rules(job)
    batches = list(batches)
    if not batches:
        return
    table = pa.Table.from_batches(batches)
    # The signals are already unique (Spark dropped duplicates over all of them). Each row's
    # number goes in lead_id, so that read_signals merges no two signals that count for one
    # record and each checked signal names its row (hence its record); a row with neither id
    # keeps none, for read_signals to refuse as locally.
    no_id = pc.and_(pc.is_null(table.column("lead_id")), pc.is_null(table.column("account_id")))
    numbered = pa.array(np.arange(table.num_rows)).cast(pa.string())
    signals = pa.table({"lead_id": pc.if_else(no_id, pa.nulls(table.num_rows, pa.string()), numbered),
                        "account_id": table.column("account_id"), "signal": table.column("signal"),
                        "timestamp": table.column("timestamp")})
    checked = engagement.read_signals(signals, rules.model.engagement, job.skip_unknown_signals).checked
    row = checked.column("lead_id").cast(pa.int64())
    records = table.column(RECORD).take(row)
    encoded = pc.dictionary_encode(records.combine_chunks())
    rows = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    days = checked.column("day").to_numpy().astype(np.int32)
    kinds = checked.column("kind").to_numpy().astype(np.int32)
    # engagement's own CSR lists (in (day, type) order per record), as signal_lists builds them
    lists = engagement._lists(rows, days, kinds, len(encoded.dictionary))
    value, stage = engagement.score(rules.model.engagement, lists, job.as_of)
    stages = pa.array(list(rules.model.engagement.stages), pa.string())
    yield from pa.table({RECORD: encoded.dictionary, "engagement_score": pa.array(value, pa.float64()),
                         "stage": stages.take(pa.array(stage))}).to_batches()


# ---- on the driver ------------------------------------------------------------------------------


def _compiled(rules) -> CompiledRules:
    return rules if isinstance(rules, CompiledRules) else pipeline.compile_rules(rules)


def job_of(rules: CompiledRules, as_of, preview=(), missing_columns: str = "error",
           skip_unknown_signals: bool = False, batch_rows: int = BATCH_ROWS) -> Job:
    """The executors' part of a run, its options checked here on the driver."""
    text = rules.model.source_text
    return Job(text, hashlib.sha256(text.encode("utf-8")).hexdigest(), parse_as_of(as_of),
               rules.preview_codes(preview), tuple(rules.account_fields), tuple(rules.lead_fields),
               missing_columns, skip_unknown_signals, batch_rows)


def _columns(df, keys: list[str], fields: tuple[str, ...], name: str, missing_columns: str) -> list[str]:
    """The columns to send to the engine, checked as the local loader checks them, and each one
    Spark can select: a session that matches names ignoring case (Spark's default) cannot tell
    `c` from `C`, which the rules (and the local engine) can."""
    optional = fields if missing_columns == "unknown" else ()
    columns = _check_columns(df.columns, [*keys, *fields], name, optional)
    if df.sparkSession.conf.get("spark.sql.caseSensitive", "false").lower() != "true":
        for column in columns:
            alike = [other for other in df.columns if other.lower() == column.lower() and other != column]
            if alike:
                raise DataError(f"{name}: column `{column}` and `{alike[0]}` differ only in case, and this Spark session "
                                "matches column names ignoring case; set spark.sql.caseSensitive to true (or rename "
                                "one) to score them")
    return columns


def _numbers_schema(id_fields, job: Job, lead: bool):
    """What the Python workers return: the ids and, per assignment, ICP (and Persona) numbers
    and scores."""
    from pyspark.sql.types import IntegerType, StructField, StructType

    names = [ICP, ICP_SCORE, *((PERSONA, PERSONA_SCORE) if lead else ())]
    return StructType([*id_fields, *(StructField(f"{prefix}{name}", IntegerType())
                                      for prefix in _prefixes(job) for name in names)])


def _decoded(df, rules: CompiledRules, job: Job, ids: list[str], lead: bool):
    """The local table's columns from the workers' numbers, by Spark expressions: the code of
    each number, the score, the band of the score (schema.BANDS: the first band whose top the
    score does not exceed); null stays null."""
    from pyspark.sql import functions as F

    def code(column: str, names: list[str]):
        # `get`, not [ ]: under ANSI mode Spark's generated code checks the bounds of a null
        # index's placeholder value (-1) and fails
        return F.get(F.array(*map(F.lit, names)), F.col(column)) if names else F.lit(None).cast("string")

    def band(column: str):
        out = None
        for name, top in BANDS:
            out = (F if out is None else out).when(F.col(column) <= top, F.lit(name))
        return out

    columns = [F.col(c) for c in ids]
    for prefix in _prefixes(job):
        what = [("icp", ICP, ICP_SCORE, rules.icp_codes)]
        if lead:
            what.append(("persona", PERSONA, PERSONA_SCORE, rules.persona_names))
        for kind, number, score, names in what:
            columns += [code(f"{prefix}{number}", names).alias(f"{prefix}{kind}_code"),
                        F.col(f"{prefix}{score}").alias(f"{prefix}{kind}_score"),
                        band(f"{prefix}{score}").alias(f"{prefix}{kind}_band")]
    return df.select(*columns)


def _warm_locally(spark, rules: CompiledRules) -> None:
    """In local mode the Python workers share this machine's kernel cache: compile the usual
    layout once here rather than in each worker at the same time."""
    if spark.sparkContext.master.startswith("local"):
        rules.warm()


def _broadcast_scores(numbers, accounts_in, account_pieces, broadcast_accounts: bool | None) -> AccountScores | None:
    """The account scores collected and broadcast to the Python workers when `broadcast_accounts`
    is True, or None (the default) and there are at most BROADCAST_ACCOUNTS accounts (counted:
    for Parquet a read of the files' footers, already read when the workers read the files);
    else None. A Spark Connect session has no broadcast variables: None."""
    from pyspark.sql.utils import is_remote

    if broadcast_accounts is False or is_remote():
        return None
    count = account_pieces.rows if account_pieces is not None else None
    if broadcast_accounts is None and (count if count is not None else accounts_in.count()) > BROADCAST_ACCOUNTS:
        return None
    return AccountScores(uuid.uuid4().hex, numbers.sparkSession.sparkContext.broadcast(numbers.toArrow()))


def _dictionary_columns(rules: CompiledRules, columns: list[str]) -> tuple[str, ...]:
    """The columns read from Parquet as dictionaries: the text and set fields, as the local
    engine reads them (data.encode). Not the leads' account ids, as it does: their pages are
    mostly plain (a dictionary page holds about 1 MB), so pyarrow would hash every id to make
    their dictionary (at 1M accounts that cost the workers more than finding the accounts
    saved: 1.2 CPU s against 0.9 per 3M leads)."""
    schema = rules.model.schema
    return tuple(c for c in columns if schema.get(c) is not None and schema.get(c).type.name in DICTIONARY_TYPES)


def _map_in_arrow(df, pieces: spark_parquet.ParquetPieces | None, job: Job, score_batches, schema):
    """`df.mapInArrow(score_batches)`: Spark reads df and hands its rows to the Python workers as
    Arrow batches, or, when df is a bare Parquet scan (`pieces`), the workers read its row
    groups themselves and score the same batches (spark_parquet)."""
    if pieces is None:
        return df.mapInArrow(score_batches, schema)
    return pieces.tasks(df.sparkSession).mapInArrow(lambda tasks: score_batches(pieces.batches(tasks)), schema)


def score(rules, accounts_df, leads_df=None, as_of=None, preview=(), signals_df=None,
          broadcast_accounts: bool | None = None, missing_columns: str = "error",
          skip_unknown_signals: bool = False, batch_rows: int = BATCH_ROWS, persist: bool = True,
          read_parquet: bool = True):
    """Score Spark DataFrames: (account scores, lead scores or None), the local engine's
    `result.accounts` and `result.leads` columns as DataFrames (lazy: nothing runs until they
    are written or collected). `rules`: a path, rule text or compiled rules. `accounts_df` holds
    account_id and the account fields; `leads_df` lead_id, account_id and the lead fields;
    `signals_df` (lead_id and/or account_id, signal, timestamp) adds engagement_score and stage
    when the rules declare engagement.

    The accounts are scored once; the leads get their account's narrow scores (account id, the
    ICP's number and score) and run the lead kernel only. `broadcast_accounts`: True collects
    those account scores on the driver and broadcasts them to the Python workers, which look up
    each lead's account (no join, no shuffle); False has Spark join them with the leads, both
    sides shuffled by account id (a hash join: the leads are not sorted); None broadcasts up to
    BROADCAST_ACCOUNTS accounts, else joins. A broadcast runs the accounts' scoring here, in
    this call (its collect); everything else runs when the results are computed. `persist`: the
    account fit scores are persisted (memory, then disk) when leads are given, so that computing
    both outputs (and the broadcast) scores the accounts once (`spark.catalog.clearCache()` or
    the session's end lets them go). `read_parquet`: when an input is a bare Parquet scan
    (`spark.read.parquet`, at most its columns selected), the Python workers read its row groups
    themselves rather than the JVM (spark_parquet says when); False: the JVM reads every input.
    A rule error is raised here; a data error when the accounts are scored (here, with a
    broadcast) or the result is computed."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    rules = _compiled(rules)
    job = job_of(rules, as_of, preview, missing_columns, skip_unknown_signals, batch_rows)
    if accounts_df is None:
        raise DataError("the Spark engine needs the accounts as a DataFrame of their own (a flat lead table: "
                        "select account_id and the account columns, distinct, as the accounts)")
    account_columns = _columns(accounts_df, [ACCOUNT_KEY], job.account_fields, "accounts", missing_columns)
    accounts_in = accounts_df.select(*account_columns)
    _warm_locally(accounts_df.sparkSession, rules)
    account_ids = [accounts_in.schema[ACCOUNT_KEY]]
    account_pieces = spark_parquet.plan(accounts_df, account_columns, _dictionary_columns(rules, account_columns)) \
        if read_parquet else None
    numbers = _map_in_arrow(accounts_in, account_pieces, job, lambda batches: score_account_batches(job, batches),
                            _numbers_schema(account_ids, job, lead=False))
    lead_scores = None
    if leads_df is not None:
        if persist:  # the numbers, narrow: both outputs read them, and the broadcast's collect
            numbers = numbers.persist(StorageLevel.MEMORY_AND_DISK)
        lead_columns = _columns(leads_df, [LEAD_KEY, ACCOUNT_KEY], job.lead_fields, "leads", missing_columns)
        leads_in = leads_df.select(*lead_columns)
        lead_schema = _numbers_schema([leads_df.schema[LEAD_KEY], leads_df.schema[ACCOUNT_KEY]], job, lead=True)
        broadcast = _broadcast_scores(numbers, accounts_in, account_pieces, broadcast_accounts)
        if broadcast is not None:
            lead_pieces = spark_parquet.plan(leads_df, lead_columns, _dictionary_columns(rules, lead_columns)) \
                if read_parquet else None
            lead_numbers = _map_in_arrow(leads_in, lead_pieces, job,
                                         lambda batches: score_lead_batches(job, batches, broadcast), lead_schema)
        else:
            # A hash table of the narrow account scores per shuffle partition: the leads are
            # shuffled but not sorted (Spark's default, a sort-merge join, sorts all of them).
            # Spark Connect has no broadcast variables: there, True is Spark's broadcast join.
            icps = F.broadcast(numbers) if broadcast_accounts else numbers.hint("shuffle_hash")
            joined = leads_in.join(icps, on=ACCOUNT_KEY, how="left")
            joined = joined.select(LEAD_KEY, ACCOUNT_KEY, *lead_columns[2:], *icps.columns[1:])
            lead_numbers = joined.mapInArrow(lambda batches: score_lead_batches(job, batches), lead_schema)
        lead_scores = _decoded(lead_numbers, rules, job, [LEAD_KEY, ACCOUNT_KEY], lead=True)
    account_scores = _decoded(numbers, rules, job, [ACCOUNT_KEY], lead=False)
    if rules.model.engagement is not None and signals_df is not None:
        account_scores, lead_scores = _with_engagement(job, rules, account_scores, lead_scores, signals_df, leads_df)
    return account_scores, lead_scores


def _with_engagement(job: Job, rules: CompiledRules, account_scores, lead_scores, signals_df, leads_df):
    """The scores with engagement_score and stage: each record's signals gathered by Spark
    (a lead's own; an account's own and its leads'), scored per partition."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    name = "signals"
    for column in ("signal", "timestamp"):
        if column not in signals_df.columns:
            raise DataError(f"{name}: missing column `{column}`; signals have lead_id or account_id, signal, timestamp")
    ids = [(F.col(c) if c in signals_df.columns else F.lit(None)).cast("string").alias(c) for c in (LEAD_KEY, ACCOUNT_KEY)]
    signals = signals_df.select(*ids, "signal", "timestamp")
    signals = signals.dropDuplicates(list(SIGNAL_COLUMNS))  # as locally: the same signal twice counts once
    schema = StructType([StructField(RECORD, StringType()), StructField("engagement_score", DoubleType()),
                         StructField("stage", StringType())])
    none_value, none_stage = _engagement_of_none(rules, job.as_of)

    def engaged(scores, by_record, key: str):
        scored = by_record.repartition(RECORD).mapInArrow(lambda batches: engagement_batches(job, batches), schema)
        out = scores.join(scored, F.col(key).cast("string") == F.col(RECORD), "left").drop(RECORD)
        return out.select(*scores.columns, F.coalesce("engagement_score", F.lit(none_value)).alias("engagement_score"),
                          F.coalesce("stage", F.lit(none_stage)).alias("stage"))

    if leads_df is not None:
        leads = leads_df.select(F.col(LEAD_KEY).cast("string").alias(LEAD_KEY),
                                F.col(ACCOUNT_KEY).cast("string").alias(LEAD_ACCOUNT))
        resolved = signals.join(leads, on=LEAD_KEY, how="left")
        # A signal of a known lead counts for that lead's account, any other for its account_id.
        record = F.when(F.col(LEAD_ACCOUNT).isNotNull(), F.col(LEAD_ACCOUNT)).otherwise(F.col(ACCOUNT_KEY))
        resolved = resolved.withColumn(RECORD, record).drop(LEAD_ACCOUNT)
    else:
        resolved = signals.withColumn(RECORD, F.col(ACCOUNT_KEY))
    # Signals naming no record are left out; those naming neither id stay, to be refused.
    neither = F.col(LEAD_KEY).isNull() & F.col(ACCOUNT_KEY).isNull()
    account_scores = engaged(account_scores, resolved.filter(F.col(RECORD).isNotNull() | neither), ACCOUNT_KEY)
    if lead_scores is not None:
        by_lead = signals.filter(F.col(LEAD_KEY).isNotNull()).withColumn(RECORD, F.col(LEAD_KEY))
        lead_scores = engaged(lead_scores, by_lead, LEAD_KEY)
    return account_scores, lead_scores


def _engagement_of_none(rules: CompiledRules, as_of: dt.date) -> tuple[float, str]:
    """The engagement score and stage of a record without signals."""
    none = engagement._lists(np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32), 1)
    value, stage = engagement.score(rules.model.engagement, none, as_of)
    return float(value[0]), rules.model.engagement.stages[int(stage[0])]


def session(master: str = "local[*]", app_name: str = "unstuck", config: dict | None = None):
    """A SparkSession for scoring on one machine or a cluster: offline (no package downloads),
    the UI off, the driver bound to loopback in local mode, time zone UTC (a timestamp's day is
    its UTC day, as locally), and the Arrow and shuffle settings docs/spark.md advises."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    settings = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false", "spark.sql.session.timeZone": "UTC",
                "spark.sql.execution.arrow.pyspark.enabled": "true",
                # Arrow batches of 100,000 records to the Python workers rather than 10,000: a
                # tenth of the per-batch cost, still a few tens of MB per batch.
                "spark.sql.execution.arrow.maxRecordsPerBatch": "100000",
                # No byte limit per batch (Int.MaxValue is Spark's "none"): under any other
                # value the JVM re-measures the whole Arrow batch after every row it adds (30%
                # of its CPU time reading and sending rows to Python); the record limit bounds
                # a batch.
                "spark.sql.execution.arrow.maxBytesPerBatch": str(2**31 - 1)}
    if local_cores(master) is not None:
        # A few join partitions per core, not Spark's 200: each of the lead join's map tasks
        # writes a piece per partition (200 took a fifth more of the JVM's CPU time than 8 at
        # 1M accounts on 2 cores).
        settings["spark.sql.shuffle.partitions"] = str(4 * local_cores(master))
    if master.startswith("local"):
        settings.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"})
        # The workers run this interpreter (where unstuck_dsl is installed), not the first
        # python3 on PATH; pyspark reads the variable when the context starts.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # every JVM service on loopback, not the host's address
    settings.update(config or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def local_cores(master: str) -> int | None:
    """The cores a local master runs on (`local`, `local[N]`, `local[*]`, `local[N,retries]`),
    None for a cluster's master."""
    if master == "local":
        return 1
    if not master.startswith("local["):
        return None
    count = master[len("local["):].rstrip("]").split(",")[0]
    return os.cpu_count() or 1 if count == "*" else int(count)


# ---- files in, files out (`unstuck score --engine spark`) ---------------------------------------


def _read_parquet(spark, path, what: str):
    """A Parquet file or a directory of them (a partitioned dataset)."""
    if path is None:
        return None
    if not os.path.exists(path):
        raise DataError(f"{what}: {path}: no such file or directory")
    if os.path.isfile(path) and not str(path).endswith(".parquet"):
        raise DataError(f"{path}: the Spark engine reads Parquet (a .parquet file or a directory of them)")
    return spark.read.parquet(str(path))


def _write_parquet(df, path) -> None:
    """A directory of Parquet part files, replacing `path` only once every part is written
    (Spark's committer writes into a hidden folder beside it, then the folder is renamed)."""
    path = os.path.abspath(path)
    staging = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.unstuck-writing")
    try:
        df.write.mode("overwrite").parquet(staging)
    except BaseException:
        if os.path.exists(staging):
            shutil.rmtree(staging)
        raise
    old = None
    if os.path.exists(path):
        old = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.unstuck-old")
        os.rename(path, old)
    os.rename(staging, path)
    if old is not None:
        shutil.rmtree(old) if os.path.isdir(old) else os.remove(old)


def check_unique(df, key: str, name: str) -> None:
    """Refuse a table in which an id appears twice, as the local loader does (the engine sees one
    batch at a time, so only Spark can see a repeat across partitions): one aggregation job."""
    from pyspark.sql import functions as F

    repeated = df.groupBy(key).count().filter(F.col("count") > 1).limit(1).collect()
    if repeated:
        raise DataError(f"{name}: column `{key}`: id {repeated[0][key]!r} appears {repeated[0]['count']:,} times; "
                        "every record needs its own id")


def _data_error(exc) -> DataError | None:
    """The data error an executor raised, out of Spark's wrapping of its traceback."""
    text = str(exc)
    for kind in ("DataError", "ScoringError"):
        marker = f"{kind}: "
        if marker in text:
            line = text[text.rindex(marker) + len(marker):].strip().splitlines()[0]
            return DataError(f"{line} (a row number counts within the Spark batch that held the row)")
    return None


def score_files(rules, accounts_path, leads_path, out_path, accounts_out=None, as_of=None, preview=(),
                signals_path=None, master: str = "local[*]", config: dict | None = None) -> dict[str, int]:
    """Read Parquet inputs, score them with Spark, write the scores as Parquet directories:
    `out_path` gets the lead scores (the account scores when no leads are given) and
    `accounts_out`, when given, the account scores. Returns the record counts written."""
    from pyspark.errors import PythonException

    rules = _compiled(rules)  # rule errors before the JVM starts
    job_of(rules, as_of, preview)  # so are unknown preview codes and bad dates
    if accounts_path is None:
        raise DataError("the Spark engine needs --accounts (Parquet) besides --leads")
    spark = session(master, config=config)
    accounts = _read_parquet(spark, accounts_path, "--accounts")
    leads = _read_parquet(spark, leads_path, "--leads")
    signals = _read_parquet(spark, signals_path, "--signals")
    check_unique(accounts, ACCOUNT_KEY, str(accounts_path))
    if leads is not None:
        check_unique(leads, LEAD_KEY, str(leads_path))
    written = {}
    try:  # a data error in the accounts is raised by `score` itself when it broadcasts their scores
        account_scores, lead_scores = score(rules, accounts, leads, as_of, preview, signals)
        main = lead_scores if lead_scores is not None else account_scores
        _write_parquet(main, out_path)
        written["leads" if lead_scores is not None else "accounts"] = spark.read.parquet(os.path.abspath(out_path)).count()
        if accounts_out:
            _write_parquet(account_scores, accounts_out)
            written["accounts"] = spark.read.parquet(os.path.abspath(accounts_out)).count()
    except PythonException as exc:
        raise (_data_error(exc) or exc) from None
    return written
