"""Benchmarks: unstuck_dsl against Polars, DuckDB, a plain Python loop and the bare read floor,
on the same job and the same data, in one run, reported as ratios.

    python benchmarks/run.py --quick          # N = 100k accounts (~300k leads), under 2 minutes
    python benchmarks/run.py --full           # N = 10k, 100k, 1M, 10M (scaling), peers at 1M
    python benchmarks/run.py --sizes 1000000  # peers at the given size

Before any timing, every peer's output is compared with unstuck_dsl's on every record; a
disagreement stops the benchmark. The last line printed is the verdict.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from peers import PEERS, FloorPeer  # noqa: E402

import unstuck_dsl  # noqa: E402
from unstuck_dsl import sample  # noqa: E402

AS_OF = dt.date(2026, 11, 26)
DATA = HERE / "data"
RESULTS = HERE / "results"
PYTHON_SAMPLE_ACCOUNTS = 50_000  # the plain Python loop is timed on this many accounts and their leads


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def workspace() -> Path:
    """The heavy ruleset with the sample data's field declarations, as one rules folder."""
    folder = DATA / "heavy_rules"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "rules" / "fields.ust", folder / "fields.ust")
    shutil.copy(HERE / "heavy.ust", folder / "heavy.ust")
    return folder


def dataset_files(n: int) -> dict[str, Path]:
    folder = DATA / str(n)
    files = {f"{kind}.{fmt}": folder / f"{kind}.{fmt}" for kind in ("accounts", "leads") for fmt in ("parquet", "csv")}
    if not all(p.exists() for p in files.values()):
        log(f"generating sample data: {n} accounts")
        sample.write(folder, n, formats=("parquet", "csv"))
    return files


def unstuck_arrays(result) -> tuple[np.ndarray, ...]:
    """unstuck_dsl's answer in the peers' shape (icp index, icp score, persona name, persona score)."""
    run = result._run
    persona = result.ruleset.persona_name_of[run.persona]
    return run.icp, run.icp_score, persona, run.persona_score


def agree(name: str, ours, theirs) -> None:
    labels = ("icp", "icp_score", "persona", "persona_score")
    for label, a, b in zip(labels, ours, theirs):
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        if a.shape != b.shape or not np.array_equal(a, b):
            bad = np.flatnonzero(a != b)[:5] if a.shape == b.shape else "shape"
            raise SystemExit(f"DISAGREEMENT: {name} differs from unstuck_dsl on {label} (records {bad}); stopping")
    log(f"  {name}: agrees on every record")


LEAD_COLUMNS = ("lead_id", "account_id", "icp_code", "icp_score", "icp_band", "persona_code", "persona_score",
                "persona_band")


def _plain(column) -> pa.Array:
    """A column as plain values: dictionaries decoded, strings as string, integers as int64."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return column.cast(pa.string())
    return column.cast(pa.int64())


def agree_tables(name: str, ours: pa.Table, theirs) -> None:
    """A peer's lead table equals unstuck_dsl's on every record and column, in any row order
    (both are put in lead_id order; nulls must match)."""
    import pyarrow.compute as pc

    if hasattr(theirs, "to_arrow"):
        theirs = theirs.to_arrow()
    missing = [c for c in LEAD_COLUMNS if c not in theirs.column_names]
    if missing or theirs.num_rows != ours.num_rows:
        raise SystemExit(f"DISAGREEMENT: {name} lead table: {theirs.num_rows} rows (ours {ours.num_rows}), "
                         f"missing columns {missing}; stopping")
    mine = ours.take(pc.sort_indices(_plain(ours.column("lead_id"))))
    other = theirs.take(pc.sort_indices(_plain(theirs.column("lead_id"))))
    for column in LEAD_COLUMNS:
        a, b = _plain(mine.column(column)), _plain(other.column(column))
        if not a.equals(b):
            differ = pc.invert(pc.fill_null(pc.equal(a, b), False))
            differ = pc.or_(differ, pc.not_equal(pc.is_null(a), pc.is_null(b)))
            rows = np.flatnonzero(differ.to_numpy(zero_copy_only=False))[:3]
            shown = [(mine.column("lead_id")[int(r)].as_py(), a[int(r)].as_py(), b[int(r)].as_py()) for r in rows]
            raise SystemExit(f"DISAGREEMENT: {name} lead table differs from unstuck_dsl on {column} "
                             f"(lead, ours, theirs: {shown}); stopping")
    log(f"  {name}: lead table agrees on every record")


def subsample(accounts: pa.Table, leads: pa.Table, n: int) -> tuple[pa.Table, pa.Table]:
    import pyarrow.compute as pc

    head = accounts.slice(0, n)
    return head, leads.filter(pc.is_in(leads.column("account_id"), value_set=head.column("account_id")))


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def rounds_table(compiled, dataset, peers: dict, python_peer, python_records: int, python_compiled, python_data,
                 records: int, rounds: int) -> dict:
    """Interleaved rounds: each round times every engine once, in a rotating order; ratios are
    paired within a round (peer time / unstuck_dsl time, per record for the Python sample)."""
    engines = {"unstuck_dsl": lambda: compiled.score_dataset(dataset, AS_OF)}
    engines.update({name: peer.run for name, peer in peers.items()})
    engines["python"] = python_peer.run
    engines["python_unstuck"] = lambda: python_compiled.score_dataset(python_data, AS_OF)
    times = {name: [] for name in engines}
    order = list(engines)
    for r in range(rounds):
        for name in order[r % len(order):] + order[:r % len(order)]:
            times[name].append(timed(engines[name]))
    ratios = {}
    for name in engines:
        if name in ("unstuck_dsl", "python_unstuck"):
            continue
        if name == "python":
            paired = [p / u for p, u in zip(times["python"], times["python_unstuck"])]
        elif name == "floor":
            paired = [u / f for u, f in zip(times["unstuck_dsl"], times["floor"])]
        else:
            paired = [p / u for p, u in zip(times[name], times["unstuck_dsl"])]
        ratios[name] = {"median": statistics.median(paired), "min": min(paired), "max": max(paired)}
    throughput = {name: (python_records if name.startswith("python") else records) / statistics.median(t)
                  for name, t in times.items()}
    return {"seconds": times, "ratios": ratios, "records_per_second": throughput}


def whole_process(rules: Path, files: dict, rounds: int = 3) -> dict:
    """`unstuck score` as a user runs it (warm cache) against DuckDB's one-shot query, same files."""
    out = Path(tempfile.mkdtemp(prefix="unstuck-bench-"))
    unstuck = [sys.executable, "-m", "unstuck_dsl", "score", str(rules), "--accounts", str(files["accounts.parquet"]),
               "--leads", str(files["leads.parquet"]), "--out", str(out / "scores.parquet"),
               "--as-of", AS_OF.isoformat()]
    duck = [sys.executable, str(HERE / "duckdb_oneshot.py"), str(rules), str(files["accounts.parquet"]),
            str(files["leads.parquet"]), str(out / "duck.parquet"), AS_OF.isoformat()]
    subprocess.run(unstuck, check=True, capture_output=True)  # warm the cache
    times = {"unstuck score": [], "duckdb one-shot": []}
    for r in range(rounds):
        for name, command in (("unstuck score", unstuck), ("duckdb one-shot", duck))[:: 1 if r % 2 == 0 else -1]:
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times[name].append(time.perf_counter() - started)
    shutil.rmtree(out, ignore_errors=True)
    return {name: statistics.median(t) for name, t in times.items()}


def compile_times(rules: Path) -> dict:
    """Cold compile (a fresh cache, a new process) and warm start (a second process)."""
    cache = Path(tempfile.mkdtemp(prefix="unstuck-cache-"))
    env = dict(os.environ, UNSTUCK_CACHE_DIR=str(cache))
    script = ("import time; t0 = time.perf_counter(); import unstuck_dsl; t1 = time.perf_counter();"
              f"rules = unstuck_dsl.compile({str(rules)!r}); rules.warm(); t2 = time.perf_counter();"
              "print(t1 - t0, t2 - t1)")
    measured = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True)
        measured.append([float(x) for x in out.stdout.split()])
    shutil.rmtree(cache, ignore_errors=True)
    return {"import_seconds": measured[1][0], "cold_compile_seconds": measured[0][1], "warm_start_seconds": measured[1][1]}


def peak_memory(rules: Path, files: dict, encoded_bytes: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="unstuck-mem-"))
    script = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True);"
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    command = [sys.executable, "-m", "unstuck_dsl", "score", str(rules), "--accounts", str(files["accounts.parquet"]),
               "--leads", str(files["leads.parquet"]), "--out", str(out / "s.parquet"), "--as-of", AS_OF.isoformat()]
    peak = int(subprocess.run([sys.executable, "-c", script, *command], check=True, capture_output=True,
                              text=True).stdout.strip()) * 1024
    baseline = int(subprocess.run([sys.executable, "-c", script, sys.executable, "-c", "import unstuck_dsl, numba"],
                                  check=True, capture_output=True, text=True).stdout.strip()) * 1024
    shutil.rmtree(out, ignore_errors=True)
    return {"peak_rss_bytes": peak, "baseline_rss_bytes": baseline, "encoded_bytes": encoded_bytes,
            "peak_over_encoded": (peak - baseline) / encoded_bytes}


def run_size(n: int, rules: Path, rounds: int, full_report: bool) -> dict:
    files = dataset_files(n)
    compiled = unstuck_dsl.compile(rules)
    compiled.warm()
    log(f"N={n}: loading")
    dataset = compiled.load(files["accounts.parquet"], files["leads.parquet"])
    records = dataset.accounts.n + dataset.leads.n
    result = compiled.score_dataset(dataset, AS_OF)
    report = {"accounts": dataset.accounts.n, "leads": dataset.leads.n, "records": records}
    if not full_report:
        report["score_seconds"] = statistics.median(timed(lambda: compiled.score_dataset(dataset, AS_OF))
                                                    for _ in range(3))
        report["seconds_per_million_records"] = report["score_seconds"] / records * 1e6
        return report

    accounts, leads = pq.read_table(files["accounts.parquet"]), pq.read_table(files["leads.parquet"])
    ours = unstuck_arrays(result)
    log("checking agreement on every record")
    peers = {}
    for name in ("polars", "duckdb"):
        peer = PEERS[name](compiled.model, AS_OF)
        peer.prepare(accounts, leads)
        agree(name, ours, peer.run())
        peers[name] = peer
    floor = FloorPeer(compiled, dataset)
    floor.run()
    peers["floor"] = floor
    small_accounts, small_leads = subsample(accounts, leads, min(PYTHON_SAMPLE_ACCOUNTS, n))
    python_peer = PEERS["python"](compiled.model, AS_OF)
    python_peer.prepare(small_accounts, small_leads)
    python_data = compiled.load(small_accounts, small_leads)
    agree("python", unstuck_arrays(compiled.score_dataset(python_data, AS_OF)), python_peer.run())
    python_records = python_data.accounts.n + python_data.leads.n

    log(f"timing {rounds} interleaved rounds")
    report.update(rounds_table(compiled, dataset, peers, python_peer, python_records, compiled, python_data,
                               records, rounds))
    report["python_sample_records"] = python_records
    log("whole process, compile times, memory, explain")
    report["whole_process_seconds"] = whole_process(rules, files)
    report["compile"] = compile_times(rules)
    encoded = dataset.accounts.nbytes + dataset.leads.nbytes + dataset.lead_account_rows.nbytes
    report["memory"] = peak_memory(rules, files, encoded)
    report["example_workspace_ratios"] = example_workspace(files)
    lead_id = result.leads.column("lead_id")[len(result.leads) // 2].as_py()
    report["explain_one_record_seconds"] = statistics.median(
        timed(lambda: result.explain(lead_id=lead_id)) for _ in range(5))
    return report


def example_workspace(files: dict, rounds: int = 3) -> dict:
    """The example workspace (rules/) on the same data: unstuck_dsl against Polars and DuckDB,
    checked record by record, paired per round."""
    compiled = unstuck_dsl.compile(ROOT / "rules")
    dataset = compiled.load(files["accounts.parquet"], files["leads.parquet"])
    ours = unstuck_arrays(compiled.score_dataset(dataset, AS_OF))
    accounts, leads = pq.read_table(files["accounts.parquet"]), pq.read_table(files["leads.parquet"])
    ratios = {}
    for name in ("polars", "duckdb"):
        peer = PEERS[name](compiled.model, AS_OF)
        peer.prepare(accounts, leads)
        agree(f"{name} (example workspace)", ours, peer.run())
        paired = [timed(peer.run) / timed(lambda: compiled.score_dataset(dataset, AS_OF)) for _ in range(rounds)]
        ratios[name] = {"median": statistics.median(paired), "min": min(paired), "max": max(paired)}
    return ratios


def print_report(reports: dict, peer_size: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False)
    main = reports[peer_size]
    table = Table(title=f"Scoring, N={peer_size} accounts ({main['records']} records), median of paired rounds")
    for column in ("engine", "records/s", "ratio (median)", "spread"):
        table.add_column(column, justify="right" if column != "engine" else "left")
    table.add_row("unstuck_dsl", f"{main['records_per_second']['unstuck_dsl']:,.0f}", "1.0x", "")
    for name, r in main["ratios"].items():
        label = name if name != "floor" else "floor (unstuck_dsl time / floor time)"
        if name == "python":
            label += f" ({main['python_sample_records']} records)"
        table.add_row(label, f"{main['records_per_second'][name]:,.0f}", f"{r['median']:.1f}x",
                      f"{r['min']:.1f}–{r['max']:.1f}x")
    console.print(table)
    whole = main["whole_process_seconds"]
    compile_ = main["compile"]
    memory = main["memory"]
    other = Table(title="Whole runs")
    other.add_column("measure")
    other.add_column("value", justify="right")
    other.add_row("unstuck score (process, warm cache)", f"{whole['unstuck score']:.2f} s")
    other.add_row("duckdb one-shot query (process)", f"{whole['duckdb one-shot']:.2f} s")
    other.add_row("cold compile (fresh cache)", f"{compile_['cold_compile_seconds']:.2f} s")
    other.add_row("warm start (second process)", f"{compile_['warm_start_seconds']:.2f} s (+ {compile_['import_seconds']:.2f} s import)")
    other.add_row("peak memory over baseline / encoded input", f"{memory['peak_over_encoded']:.1f}x "
                  f"({memory['peak_rss_bytes'] / 2**20:,.0f} MiB peak, {memory['encoded_bytes'] / 2**20:,.0f} MiB encoded)")
    other.add_row("explain one record", f"{main['explain_one_record_seconds'] * 1000:.1f} ms")
    example = main["example_workspace_ratios"]
    other.add_row("example workspace (rules/): polars / duckdb", f"{example['polars']['median']:.1f}x / "
                  f"{example['duckdb']['median']:.1f}x slower than unstuck_dsl")
    console.print(other)
    if len(reports) > 1:
        scaling = Table(title="Scaling: unstuck_dsl scoring time per million records")
        scaling.add_column("N accounts")
        scaling.add_column("records", justify="right")
        scaling.add_column("s / M records", justify="right")
        for n, r in sorted(reports.items()):
            per = r.get("seconds_per_million_records") or (1e6 / r["records_per_second"]["unstuck_dsl"])
            scaling.add_row(f"{n:,}", f"{r['records']:,}", f"{per:.3f}")
        console.print(scaling)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=100k, under 2 minutes")
    parser.add_argument("--full", action="store_true", help="every size, peers at 1M")
    parser.add_argument("--sizes", type=int, nargs="*", help="peer comparison at these sizes")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.full:
        peer_size, scale_sizes = 1_000_000, [10_000, 100_000, 1_000_000, 10_000_000]
    else:
        peer_size = (args.sizes or [100_000])[0]
        scale_sizes = [peer_size]
    rules = workspace()
    reports = {}
    for n in scale_sizes:
        reports[n] = run_size(n, rules, args.rounds, full_report=(n == peer_size))
    print_report(reports, peer_size)
    RESULTS.mkdir(exist_ok=True)
    mode = "full" if args.full else f"n{peer_size}"
    document = {"mode": mode, "when": dt.datetime.now().isoformat(timespec="seconds"), "machine": platform.platform(),
                "cpus": os.cpu_count(), "python": platform.python_version(), "reports": reports}
    (RESULTS / f"bench-{mode}.json").write_text(json.dumps(document, indent=2, default=float))
    r = reports[peer_size]["ratios"]
    print(f"verdict: N={peer_size} polars {r['polars']['median']:.1f}x duckdb {r['duckdb']['median']:.1f}x "
          f"python {r['python']['median']:.0f}x floor {r['floor']['median']:.1f}x")


if __name__ == "__main__":
    main()
