"""The Spark engine against the local engine, on the same Parquet data and the same cores.

    python benchmarks/spark.py                      # 10M accounts / ~30M leads, local[2]
    python benchmarks/spark.py --size 1000000       # fewer (the machine is shared, or small)
    python benchmarks/spark.py --reader jvm         # the JVM reads the Parquet files (as before spark_parquet)

The data is unstuck_dsl.sample's, written once under benchmarks/data/spark/N/ (git-ignored) as
Parquet directories of 1M-account parts (ids prefixed by part, so every id is unique). Timed:

- local: the local engine scores the Arrow tables already in memory (`rules.score(...)` to both
  output tables); reading the Parquet files is timed apart;
- spark: the step, `unstuck_dsl.spark.score`'s call (with the account scores broadcast, the
  accounts are scored and collected in it) and both outputs computed in full (every row made and
  handed to Spark's `noop` sink), with Spark in local mode from the Parquet files; run twice, the
  JVM's first full run (its JIT compiling Spark's code included) and again, warm. Then the check:
  both outputs counted per ICP, Persona and band and compared with the local engine's counts (a
  full record-by-record comparison is tests/test_spark.py's job). The Parquet files are read by
  the Python workers themselves (`--reader python`, unstuck_spark.score's default for a bare
  Parquet scan: spark_parquet) or by the JVM (`--reader jvm`). And how the warm run's time
  splits, each part run on its own and written to the `noop` sink:
  - read: the columns the engine reads, read from Parquet by the JVM, or with `--reader python`
    read by the Python workers (a mapInArrow over the row groups that only counts);
  - join (when Spark joins the account scores with the leads, not when they are broadcast to
    the Python workers): the leads joined with the account scores' id, ICP and score (the
    engine's strategy, the account scores already persisted), no Python, minus the read;
  - to Python (`--reader jvm`): the accounts and the (joined) leads sent JVM -> Arrow -> Python
    workers (a mapInArrow that only counts), minus the read and the join;
  - the rest (warm run - read - join - to Python): the engine in the Python workers, its
    results' way back to the JVM, persisting and collecting the account scores, and Spark's
    decoding.
  Every part's wall time and CPU time is reported, the CPU time apart for the JVM (all its
  threads) and the Python workers (its child processes): on a shared machine wall times are
  stretched by other jobs, CPU times much less, and they say which side the time is spent on.
Reported: records/s of each, the overhead ratio (spark / local), throughput per core. Results go
to benchmarks/results/spark-N.txt. The machine's load average is printed: the benchmark shares
the machine with whatever else runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from unstuck_dsl import api, sample  # noqa: E402 - after the path
from unstuck_dsl import spark as unstuck_spark  # noqa: E402

AS_OF = dt.date(2026, 11, 26)
PART = 1_000_000  # accounts per generated part
COUNTED = ["icp_code", "icp_band", "persona_code", "persona_band"]
BROADCAST = {"auto": None, "yes": True, "no": False}  # --broadcast: unstuck_spark.score's broadcast_accounts
READERS = {"python": True, "jvm": False}  # --reader: unstuck_spark.score's read_parquet


def data(size: int) -> Path:
    """benchmarks/data/spark/N/{accounts,leads}/part-K.parquet, generated once."""
    folder = HERE / "data" / "spark" / str(size)
    done = folder / ".complete"
    if done.exists():
        return folder
    for kind in ("accounts", "leads"):
        (folder / kind).mkdir(parents=True, exist_ok=True)
    for part, start in enumerate(range(0, size, PART)):
        accounts, leads = sample.generate(min(PART, size - start), seed=7 + part, as_of=AS_OF)
        prefix = f"P{part:03d}-"
        accounts = accounts.set_column(0, "account_id", pc.binary_join_element_wise(prefix, accounts.column("account_id"), ""))
        leads = leads.set_column(leads.schema.get_field_index("lead_id"), "lead_id",
                                 pc.binary_join_element_wise(prefix, leads.column("lead_id"), ""))
        leads = leads.set_column(leads.schema.get_field_index("account_id"), "account_id",
                                 pc.binary_join_element_wise(prefix, leads.column("account_id"), ""))
        pq.write_table(accounts, folder / "accounts" / f"part-{part:03d}.parquet")
        pq.write_table(leads, folder / "leads" / f"part-{part:03d}.parquet")
        print(f"  generated part {part} ({start + accounts.num_rows:,} accounts)", flush=True)
    done.touch()
    return folder


def counts(table) -> dict:
    """Records per (ICP, band, Persona, band): a pa.Table or a Spark DataFrame."""
    if isinstance(table, pa.Table):
        plain = pa.table([c.cast(c.type.value_type) if pa.types.is_dictionary(c.type) else c for c in table.columns],
                         names=table.column_names)
        grouped = plain.group_by([c for c in COUNTED if c in plain.column_names]).aggregate([([], "count_all")])
        return {tuple(r[c] for c in COUNTED if c in r): r["count_all"] for r in grouped.to_pylist()}
    rows = table.groupBy(*[c for c in COUNTED if c in table.columns]).count().collect()
    return {tuple(r[c] for c in COUNTED if c in r): r["count"] for r in rows}


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


@dataclasses.dataclass(frozen=True)
class Cost:
    """Wall seconds and the CPU seconds the JVM (all its threads) and the Python workers spent."""

    wall: float
    jvm: float = 0.0
    python: float = 0.0

    def __sub__(self, other):  # not clamped at 0: a negative part says the noise is larger than it
        return Cost(*(a - b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    def __add__(self, other):
        return Cost(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU seconds of process `pid` and of its descendants (Spark's Python daemon and workers;
    reaped children count through their parent): Linux /proc."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(process) -> list[str]:
        try:
            return Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):  # ended since the listing
            return []

    children: dict[int, list[int]] = {}
    stats = {int(p): stat(p) for p in os.listdir("/proc") if p.isdigit()}
    for process, fields in stats.items():
        if fields:
            children.setdefault(int(fields[1]), []).append(process)
    own = stats[pid]
    descendants, pending = 0.0, list(children.get(pid, []))
    while pending:
        process = pending.pop()
        descendants += sum(int(x) for x in stats[process][11:15]) / tick  # own and reaped children's
        pending += children.get(process, [])
    return (int(own[11]) + int(own[12])) / tick, descendants


def costed(jvm_pid: int, fn) -> tuple[Cost, object]:
    """fn's wall time and the CPU time it took in the JVM and in the Python workers."""
    jvm, python = cpu_seconds(jvm_pid)
    took, value = timed(fn)
    jvm_after, python_after = cpu_seconds(jvm_pid)
    return Cost(took, jvm_after - jvm, python_after - python), value


def noop(df) -> None:
    df.write.format("noop").mode("overwrite").save()


def count_batches(batches):
    rows = sum(batch.num_rows for batch in batches)
    yield pa.record_batch({"rows": pa.array([rows], pa.int64())})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000_000, help="accounts (about 3 leads each)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--rules", default=str(ROOT / "rules"))
    parser.add_argument("--out", help="results file (default benchmarks/results/spark-N.txt)")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--broadcast", choices=sorted(BROADCAST), default="auto",
                        help="the account scores for the lead pass: broadcast to the Python workers (yes), joined by "
                             "Spark (no), or as unstuck_spark.score decides by their count (auto)")
    parser.add_argument("--batch-rows", type=int, default=100_000, help="spark.sql.execution.arrow.maxRecordsPerBatch")
    parser.add_argument("--reader", choices=sorted(READERS), default="python",
                        help="who reads the Parquet files: the Python workers (spark_parquet) or the JVM")
    args = parser.parse_args()
    cores = unstuck_spark.local_cores(args.master) or os.cpu_count()
    load = os.getloadavg()
    print(f"size {args.size:,} accounts, master {args.master}, load average {load[0]:.1f}", flush=True)
    folder = data(args.size)
    rules = api.compile(args.rules)

    # ---- the local engine, one part (1M accounts and their leads) at a time in memory: the
    # parts share no account, so their scores are the whole data's; a 10M run in one piece
    # needs more memory than a shared machine has.
    read_s = local_s = local_cpu = 0.0
    records = 0
    local_counts = (Counter(), Counter())
    for part in sorted((folder / "accounts").glob("part-*.parquet")):
        took, inputs = timed(lambda part=part: (pq.read_table(part), pq.read_table(folder / "leads" / part.name)))
        read_s += took
        records += inputs[0].num_rows + inputs[1].num_rows
        rules.score(inputs[0].slice(0, 1000), inputs[1].slice(0, 1000), as_of=AS_OF)  # kernels compiled or loaded

        def score_locally(inputs=inputs):
            result = rules.score(*inputs, as_of=AS_OF)
            return result.accounts, result.leads  # both output tables built

        cpu = time.process_time()
        took, local = timed(score_locally)
        local_s += took
        local_cpu += time.process_time() - cpu
        local_counts[0].update(counts(local[0]))
        local_counts[1].update(counts(local[1]))
        inputs = local = None  # the memory let go before the next part
    print(f"local: read {read_s:.1f}s, score {local_s:.1f}s", flush=True)
    local_counts = (dict(local_counts[0]), dict(local_counts[1]))

    # ---- Spark
    spark = unstuck_spark.session(args.master, "unstuck-bench", {
        "spark.driver.memory": args.driver_memory,
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(args.batch_rows)})
    accounts_df = spark.read.parquet(str(folder / "accounts"))
    leads_df = spark.read.parquet(str(folder / "leads"))
    broadcast_accounts = BROADCAST[args.broadcast]
    read_parquet = READERS[args.reader]
    unstuck_spark.score(rules, accounts_df.limit(1000), leads_df.limit(1000), AS_OF)[1].collect()  # workers warm
    jvm_pid = spark._jvm.java.lang.ProcessHandle.current().pid()  # local mode: the one JVM, its workers its children

    def score_with_spark():
        """The step: `score`'s call (with a broadcast, the accounts are scored and collected in
        it) and both outputs computed in full, every row made and handed to the noop sink."""
        spark.catalog.clearCache()
        call, (scored_accounts, scored_leads) = costed(jvm_pid, lambda: unstuck_spark.score(
            rules, accounts_df, leads_df, AS_OF, broadcast_accounts=broadcast_accounts, read_parquet=read_parquet))
        accounts_out, _ = costed(jvm_pid, lambda: noop(scored_accounts))
        leads_out, _ = costed(jvm_pid, lambda: noop(scored_leads))
        return (call, accounts_out, leads_out), (scored_accounts, scored_leads)

    first, _ = score_with_spark()  # the JVM's first full run: its JIT compiling Spark's code included
    warm, (scored_accounts, scored_leads) = score_with_spark()
    spark_first, spark_warm = sum(first, Cost(0.0)), sum(warm, Cost(0.0))
    # The check against the local engine: both outputs counted per ICP, Persona and band (the
    # accounts from their persisted scores, the leads scored once more).
    counted, (account_counts, lead_counts) = costed(jvm_pid, lambda: (counts(scored_accounts), counts(scored_leads)))
    agree = (account_counts, lead_counts) == local_counts
    if not agree:
        sys.exit("the Spark engine's counts differ from the local engine's: not reporting a wrong answer's speed")

    account_columns = ["account_id", *rules.account_fields]
    lead_columns = ["lead_id", "account_id", *rules.lead_fields]
    accounts_in, leads_in = accounts_df.select(*account_columns), leads_df.select(*lead_columns)
    plan = scored_leads._jdf.queryExecution().executedPlan().toString()
    strategy = next((name for name in ("BroadcastHashJoin", "ShuffledHashJoin", "SortMergeJoin") if name in plan), None)
    counted_rows = "rows long"
    pieces = [unstuck_spark.spark_parquet.plan(df, columns, unstuck_spark._dictionary_columns(rules, columns))
              if read_parquet else None for df, columns in ((accounts_df, account_columns), (leads_df, lead_columns))]
    if strategy is None and None not in pieces:  # the Python workers read the files (with a join, the JVM reads the leads)
        read_accounts, _ = costed(jvm_pid, lambda: noop(pieces[0].tasks(spark).mapInArrow(
            lambda tasks: count_batches(pieces[0].batches(tasks)), counted_rows)))
        read_leads, _ = costed(jvm_pid, lambda: noop(pieces[1].tasks(spark).mapInArrow(
            lambda tasks: count_batches(pieces[1].batches(tasks)), counted_rows)))
    else:
        read_accounts, _ = costed(jvm_pid, lambda: noop(accounts_in))
        read_leads, _ = costed(jvm_pid, lambda: noop(leads_in))
    spark_read = read_accounts + read_leads
    to_python = leads_in
    join = Cost(0.0)
    if strategy is not None:  # the join as the engine does it, without Python: the leads with the
        # persisted account scores' id, ICP and score columns, by the strategy the engine's plan chose
        narrow = scored_accounts.select("account_id", "icp_code", "icp_score")
        to_python = leads_in.join(narrow.hint("broadcast" if strategy == "BroadcastHashJoin" else "shuffle_hash"),
                                  on="account_id", how="left")
        join = costed(jvm_pid, lambda: noop(to_python))[0] - read_leads
    transfer = None
    if pieces[0] is None:
        through_python, _ = costed(jvm_pid, lambda: (noop(accounts_in.mapInArrow(count_batches, counted_rows)),
                                                     noop(to_python.mapInArrow(count_batches, counted_rows))))
        transfer = through_python - spark_read - join
    rest = spark_warm - spark_read - (transfer or Cost(0.0)) - join
    spark.stop()

    def row(name: str, cost: Cost) -> str:
        return f"{name:<34}{cost.wall:>10.1f}{cost.jvm:>10.1f}{cost.python:>10.1f}"

    spark_s, warm_s = spark_first.wall, spark_warm.wall
    lines = [
        f"# Spark engine vs local engine: {args.size:,} accounts, {records - args.size:,} leads "
        f"({records:,} records), rules {Path(args.rules).name}",
        f"# {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, master {args.master}, load average at start {load[0]:.1f}, "
        f"at the end {os.getloadavg()[0]:.1f} (shared machine)",
        f"# command: python benchmarks/spark.py --size {args.size} --master '{args.master}' "
        f"--broadcast {args.broadcast} --batch-rows {args.batch_rows} --reader {args.reader}",
        "# local: the local engine on each 1M-account part in memory (read apart), times summed",
        "# spark: unstuck_spark.score's call and both outputs computed in full (the noop sink), Parquet in;",
        "#   run twice: the JVM's first full run (its JIT compiling included) and again, warm",
        "# seconds: wall; JVM cpu, Py cpu: CPU seconds of the JVM (all threads) and of the Python workers "
        "(local: this process)",
        f"# the Parquet files read by {'the Python workers (spark_parquet)' if strategy is None and None not in pieces else 'the JVM'}",
        f"# the lead pass: {'Spark joins the account scores (' + strategy + ')' if strategy else 'the account scores broadcast to the Python workers, no join'}",
        "",
        f"{'step':<34}{'seconds':>10}{'JVM cpu':>10}{'Py cpu':>10}{'records/s':>14}{'records/s/core':>16}",
        f"{'local: read Parquet (apart)':<34}{read_s:>10.1f}",
        f"{'local: score (in memory)':<34}{local_s:>10.1f}{'':>10}{local_cpu:>10.1f}"
        f"{records / local_s:>14,.0f}{records / local_s / cores:>16,.0f}",
        f"{row('spark: score, Parquet in', spark_first)}{records / spark_s:>14,.0f}{records / spark_s / cores:>16,.0f}",
        row("  score() call (accounts scored)", first[0]),
        row("  accounts out", first[1]),
        row("  leads out", first[2]),
        f"{row('spark: again, JVM warm', spark_warm)}{records / warm_s:>14,.0f}{records / warm_s / cores:>16,.0f}",
        row("  score() call (accounts scored)", warm[0]),
        row("  accounts out", warm[1]),
        row("  leads out", warm[2]),
        *([row("  split: Parquet read (JVM)", spark_read), row("  split: JVM->Arrow->Python", transfer)]
          if transfer is not None else [row("  split: Parquet read (Py workers)", spark_read)]),
        *([row(f"  split: join ({strategy})", join)] if strategy else []),
        row("  split: the rest (scoring, back)", rest),
        row("spark: counted (the check)", counted),
        "",
        f"overhead spark / local: {spark_s / local_s:.2f}x first run, {warm_s / local_s:.2f}x warm (target <= 3x); "
        f"against local read + score {spark_s / (read_s + local_s):.2f}x, {warm_s / (read_s + local_s):.2f}x warm; "
        f"CPU seconds spark / local {(spark_first.jvm + spark_first.python) / local_cpu:.2f}x, "
        f"{(spark_warm.jvm + spark_warm.python) / local_cpu:.2f}x warm",
        f"per core spark / local throughput {local_s / spark_s:.2f}, {local_s / warm_s:.2f} warm (target >= 0.5)",
        f"outputs agree (counts per ICP, Persona and band): {agree}",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out) if args.out else HERE / "results" / f"spark-{args.size}.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
