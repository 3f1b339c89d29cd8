"""Benchmarks: unstuck_dsl against Polars, DuckDB, a plain Python loop and the true floor, on
the same job and the same data, in one run, reported as paired ratios.

    python benchmarks/run.py --quick          # N = 100k accounts (~400k records), a few minutes
    python benchmarks/run.py --full           # N = 10k, 100k, 1M, 10M (scaling), peers at 1M
    python benchmarks/run.py --sizes 1000000  # peers at the given size

Three footings (benchmarks/peers.py says exactly what each peer does on each):

- kernel: data already loaded and encoded (lead->account resolved), no output table —
  `score_dataset` against the peers' `run` on their own encoded frames / tables, the floor
  (every encoded byte the kernel reads read once, outputs written once; reported as unstuck_dsl
  time / floor time) and a plain Python loop (on a sample);
- whole: Arrow tables in memory in, the lead table out — `score(accounts, leads).leads` against
  the peers' `run_table`;
- process: `unstuck score` (warm kernel cache) against a DuckDB and a Polars one-shot process
  (duckdb_oneshot.py, polars_oneshot.py), the same Parquet files in and the same lead table out,
  for the heavy ruleset and the example workspace rules/.

Before any timing, every peer's output is compared with unstuck_dsl's on every record (and each
process's output file with unstuck's); a disagreement stops the benchmark. Rounds are
interleaved (each round times every engine once, in a rotating order) and ratios paired within
a round. The last line printed is the verdict:

    verdict: N=1000000 polars 5.2x duckdb 6.1x python 80x floor 3.5x process/duckdb 0.8x

(kernel footing peer time / unstuck_dsl time; floor: unstuck_dsl time / floor time; last:
`unstuck score` process time / DuckDB one-shot process time, heavy ruleset, same files). The line
before it gives the whole footing and the process ratios for both rulesets.
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

import installed  # noqa: E402, F401 - processes timed run as installed (and each peer's, which unpickles our model)
from peers import PEERS, FloorPeer  # noqa: E402

import unstuck_dsl  # noqa: E402
from unstuck_dsl import sample  # noqa: E402

AS_OF = dt.date(2026, 11, 26)
DATA = HERE / "data"
RESULTS = HERE / "results"
PYTHON_SAMPLE_ACCOUNTS = 50_000  # the plain Python loop is timed on this many accounts and their leads
WHOLE_CALL_ACCOUNTS = 10_000  # the whole API call against plain Python: the size its target names


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


def parquet_files(n: int) -> dict[str, Path]:
    """The sample data of N accounts as Parquet only (the whole-process comparison reads no CSV;
    at 10M the CSV files would be gigabytes written for nothing)."""
    folder = DATA / str(n)
    files = {f"{kind}.parquet": folder / f"{kind}.parquet" for kind in ("accounts", "leads")}
    if not all(p.exists() for p in files.values()):
        log(f"generating sample data: {n} accounts (Parquet)")
        sample.write(folder, n, formats=("parquet",))
    return files


def process_at(n: int, rules: Path, rounds: int) -> dict:
    """The whole process alone at N accounts (the issue's 10M target): heavy and rules/."""
    files = parquet_files(n)
    return {"heavy": whole_process(rules, files, rounds), "rules/": whole_process(ROOT / "rules", files, rounds)}


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


def interleaved(engines: dict, rounds: int) -> dict[str, list[float]]:
    """Each round times every engine once, in an order rotated per round."""
    times = {name: [] for name in engines}
    order = list(engines)
    for r in range(rounds):
        for name in order[r % len(order):] + order[:r % len(order)]:
            times[name].append(timed(engines[name]))
    return times


def paired(numerator: list[float], denominator: list[float]) -> dict:
    ratios = [a / b for a, b in zip(numerator, denominator)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def rounds_table(compiled, dataset, peers: dict, python_peer, python_records: int, python_compiled, python_data,
                 records: int, rounds: int, whole_call=None) -> dict:
    """The kernel footing. Interleaved rounds: each round times every engine once, in a rotating
    order; ratios are paired within a round (peer time / unstuck_dsl time; for the floor,
    unstuck_dsl time / floor time; for plain Python, per record of the Python sample).
    `whole_call` is (a Python peer prepared on a small sample, its records, its tables): the whole
    API call (load and lead table included) against plain Python at the size the target names."""
    engines = {"unstuck_dsl": lambda: compiled.score_dataset(dataset, AS_OF)}
    engines.update({name: peer.run for name, peer in peers.items()})
    engines["python"] = python_peer.run
    engines["python_unstuck"] = lambda: python_compiled.score_dataset(python_data, AS_OF)
    if whole_call is not None:
        small_peer, _, small_tables = whole_call
        engines["python_small"] = small_peer.run
        engines["python_unstuck_whole"] = lambda: python_compiled.score(*small_tables, as_of=AS_OF).leads
    times = interleaved(engines, rounds)
    ratios = {}
    for name in engines:
        if name.startswith("python_unstuck") or name in ("unstuck_dsl", "python_small"):
            continue
        if name == "python":
            ratios[name] = paired(times["python"], times["python_unstuck"])
            if whole_call is not None:
                ratios["python (whole API call)"] = paired(times["python_small"], times["python_unstuck_whole"])
        elif name == "floor":
            ratios[name] = paired(times["unstuck_dsl"], times["floor"])
        else:
            ratios[name] = paired(times[name], times["unstuck_dsl"])
    throughput = {name: (python_records if name.startswith("python") else records) / statistics.median(t)
                  for name, t in times.items() if name not in ("python_small", "python_unstuck_whole")}
    if whole_call is not None:
        throughput["python (whole API call)"] = whole_call[1] / statistics.median(times["python_small"])
    return {"seconds": times, "ratios": ratios, "records_per_second": throughput}


def whole_footing(compiled, accounts: pa.Table, leads: pa.Table, peers: dict, rounds: int) -> dict:
    """The whole footing: Arrow tables in memory in, the lead table out. unstuck_dsl loads and
    encodes, resolves lead->account, scores and builds `result.leads`; each peer encodes, scores,
    joins the matched leads and builds the same table. Checked record by record, then timed in
    interleaved rounds."""
    ours = compiled.score(accounts, leads, as_of=AS_OF).leads
    for name, peer in peers.items():
        agree_tables(f"{name} (whole footing)", ours, peer.run_table(accounts, leads))
    engines = {"unstuck_dsl": lambda: compiled.score(accounts, leads, as_of=AS_OF).leads}
    engines.update({name: (lambda p=peer: p.run_table(accounts, leads)) for name, peer in peers.items()})
    times = interleaved(engines, rounds)
    return {"seconds": times, "median_seconds": {n: statistics.median(t) for n, t in times.items()},
            "ratios": {name: paired(times[name], times["unstuck_dsl"]) for name in peers}}


PROCESS_PEERS = {"duckdb one-shot": "duckdb_oneshot.py", "polars one-shot": "polars_oneshot.py"}


def whole_process(rules: Path, files: dict, rounds: int = 3) -> dict:
    """`unstuck score` as a user runs it (warm kernel cache) against the DuckDB and Polars
    one-shot processes, the same Parquet files in and the same lead table out. Each output is
    checked against unstuck's before timing; ratios are unstuck time / peer time, paired per round."""
    from oneshot import save_ruleset

    out = Path(tempfile.mkdtemp(prefix="unstuck-bench-"))
    pickled = save_ruleset(unstuck_dsl.compile(rules).model, out / "ruleset.pickle")
    inputs = [str(files["accounts.parquet"]), str(files["leads.parquet"])]
    commands = {"unstuck score": [sys.executable, "-m", "unstuck_dsl", "score", str(rules), "--accounts", inputs[0],
                                  "--leads", inputs[1], "--out", str(out / "unstuck.parquet"),
                                  "--as-of", AS_OF.isoformat()]}
    for name, script in PROCESS_PEERS.items():
        commands[name] = [sys.executable, str(HERE / script), str(pickled), *inputs,
                          str(out / f"{script}.parquet"), AS_OF.isoformat()]
    for command in commands.values():  # warms the kernel cache and the page cache; checked below
        subprocess.run(command, check=True, capture_output=True)
    ours = pq.read_table(out / "unstuck.parquet")
    for name, script in PROCESS_PEERS.items():
        agree_tables(f"{name} process ({rules.name})", ours, pq.read_table(out / f"{script}.parquet"))
    # The tables checked are let go before timing: at 10M accounts this process held 8 GB of
    # them, which the processes timed then lacked.
    del ours
    pa.default_memory_pool().release_unused()
    times = interleaved({name: (lambda c=command: subprocess.run(c, check=True, capture_output=True))
                         for name, command in commands.items()}, rounds)
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": {name: statistics.median(t) for name, t in times.items()},
            "ratios": {name: paired(times["unstuck score"], times[name]) for name in PROCESS_PEERS}}


def explain_process(rules: Path, files: dict, lead_id: str, rounds: int = 3) -> float:
    """`unstuck explain --lead` as a user runs it on the Parquet files (warm kernel cache): the
    median wall time of `rounds` processes, each checked to explain that lead."""
    command = [sys.executable, "-m", "unstuck_dsl", "explain", str(rules), "--accounts", str(files["accounts.parquet"]),
               "--leads", str(files["leads.parquet"]), "--lead", lead_id, "--as-of", AS_OF.isoformat(), "--json"]
    times = []
    for _ in range(rounds + 1):  # the first warms the page cache
        start = time.perf_counter()
        out = subprocess.run(command, check=True, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if lead_id not in out.stdout:
            raise SystemExit(f"explain did not explain {lead_id}:\n{out.stdout[:500]}")
    return statistics.median(times[1:])


def compile_times(rules: Path, runs: int = 3) -> dict:
    """Cold compile (a fresh cache, a new process: the median of `runs`, each on its own fresh
    cache, as one run swings by a few tenths of a second) and warm start (a second process on
    the last of those caches)."""
    script = ("import time; t0 = time.perf_counter(); import unstuck_dsl; t1 = time.perf_counter();"
              f"rules = unstuck_dsl.compile({str(rules)!r}); rules.warm(); t2 = time.perf_counter();"
              "print(t1 - t0, t2 - t1)")
    def start(env: dict) -> list[float]:
        out = subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True, text=True)
        return [float(x) for x in out.stdout.split()]

    cold = []
    for attempt in range(runs):
        cache = Path(tempfile.mkdtemp(prefix="unstuck-cache-"))
        env = dict(os.environ, UNSTUCK_CACHE_DIR=str(cache))
        cold.append(start(env)[1])
        if attempt < runs - 1:
            shutil.rmtree(cache, ignore_errors=True)
    warm = start(env)  # (a second process on the last cache)
    shutil.rmtree(cache, ignore_errors=True)
    return {"import_seconds": warm[0], "cold_compile_seconds": statistics.median(cold), "cold_compile_runs": cold,
            "warm_start_seconds": warm[1]}


def peak_memory(rules: Path, files: dict, encoded_bytes: int, runs: int = 3) -> dict:
    """The peak resident set of `unstuck score` on the Parquet files (the median of `runs`), over
    the same command's on one account and one lead: what the command holds whatever its input
    (Python, pyarrow, numba and LLVM with the kernels loaded, about 250 MB) is not the input's.
    Over a process that only imports numba, as reported before, for comparison."""
    out = Path(tempfile.mkdtemp(prefix="unstuck-mem-"))
    script = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True);"
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")

    def peak(command: list[str]) -> int:
        return int(subprocess.run([sys.executable, "-c", script, *command], check=True, capture_output=True,
                                  text=True).stdout.strip()) * 1024

    def score(accounts: Path, leads: Path) -> list[str]:
        return [sys.executable, "-m", "unstuck_dsl", "score", str(rules), "--accounts", str(accounts),
                "--leads", str(leads), "--out", str(out / "s.parquet"), "--as-of", AS_OF.isoformat()]

    one = {kind: out / f"one-{kind}.parquet" for kind in ("accounts", "leads")}
    for kind, path in one.items():
        pq.write_table(pq.ParquetFile(files[f"{kind}.parquet"]).read_row_group(0).slice(0, 1), path)
    measured = statistics.median(peak(score(files["accounts.parquet"], files["leads.parquet"])) for _ in range(runs))
    fixed = statistics.median(peak(score(one["accounts"], one["leads"])) for _ in range(runs))
    imported = peak([sys.executable, "-c", "import unstuck_dsl, numba"])
    shutil.rmtree(out, ignore_errors=True)
    return {"peak_rss_bytes": measured, "one_record_rss_bytes": fixed, "baseline_rss_bytes": imported,
            "encoded_bytes": encoded_bytes, "peak_over_encoded": (measured - fixed) / encoded_bytes,
            "peak_over_import_over_encoded": (measured - imported) / encoded_bytes}


def run_size(n: int, rules: Path, rounds: int, full_report: bool, process_rounds: int = 3) -> dict:
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
    log("kernel footing: checking agreement on every record")
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

    log(f"kernel footing: timing {rounds} interleaved rounds")
    call_accounts, call_leads = subsample(accounts, leads, min(WHOLE_CALL_ACCOUNTS, n))
    call_peer = PEERS["python"](compiled.model, AS_OF)
    call_peer.prepare(call_accounts, call_leads)
    agree("python (whole API call)", unstuck_arrays(compiled.score(call_accounts, call_leads, as_of=AS_OF)),
          call_peer.run())
    call_records = call_accounts.num_rows + call_leads.num_rows
    report.update(rounds_table(compiled, dataset, peers, python_peer, python_records, compiled, python_data,
                               records, rounds, (call_peer, call_records, (call_accounts, call_leads))))
    report["python_sample_records"] = python_records
    report["whole_call_records"] = call_records
    report["floor_bytes_read"] = floor.bytes_read
    del peers
    log(f"whole footing (Arrow tables in, lead table out): checking, then {rounds} rounds")
    report["whole_footing"] = whole_footing(compiled, accounts, leads,
                                            {name: PEERS[name](compiled.model, AS_OF) for name in ("polars", "duckdb")},
                                            rounds)
    log("whole process (Parquet in and out), heavy ruleset and rules/")
    report["whole_process"] = whole_process(rules, files, process_rounds)
    report["whole_process_example"] = whole_process(ROOT / "rules", files, process_rounds)
    log("compile times, memory, explain, example workspace")
    report["compile"] = compile_times(rules)
    encoded = dataset.accounts.nbytes + dataset.leads.nbytes + dataset.lead_account_rows.nbytes
    report["memory"] = peak_memory(rules, files, encoded)
    report["example_workspace_ratios"] = example_workspace(files, accounts, leads)
    lead_id = result.leads.column("lead_id")[len(result.leads) // 2].as_py()
    result.explain(lead_id=lead_id)  # the first call builds the id index (see `ScoreResult.explain`)
    # The median of many calls: a call lasts about half a millisecond, and the median of five
    # moved from 0.5 to 1.4 ms between runs of this harness (a loop of forty: 0.37-0.54 ms).
    report["explain_one_record_seconds"] = statistics.median(
        timed(lambda: result.explain(lead_id=lead_id)) for _ in range(25))
    report["explain_process_seconds"] = explain_process(rules, files, lead_id, process_rounds)
    return report


def example_workspace(files: dict, accounts: pa.Table, leads: pa.Table, rounds: int = 3) -> dict:
    """The example workspace (rules/) on the same data, kernel footing: unstuck_dsl against Polars
    and DuckDB, checked record by record, paired per round."""
    compiled = unstuck_dsl.compile(ROOT / "rules")
    dataset = compiled.load(files["accounts.parquet"], files["leads.parquet"])
    ours = unstuck_arrays(compiled.score_dataset(dataset, AS_OF))
    engines = {"unstuck_dsl": lambda: compiled.score_dataset(dataset, AS_OF)}
    for name in ("polars", "duckdb"):
        peer = PEERS[name](compiled.model, AS_OF)
        peer.prepare(accounts, leads)
        agree(f"{name} (example workspace)", ours, peer.run())
        engines[name] = peer.run
    times = interleaved(engines, rounds)
    return {name: paired(times[name], times["unstuck_dsl"]) for name in ("polars", "duckdb")}


def _spread(r: dict) -> str:
    return f"{r['min']:.1f}–{r['max']:.1f}x"


def print_report(reports: dict, peer_size: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False, width=120)
    main = reports[peer_size]
    table = Table(title=f"Kernel footing, N={peer_size:,} accounts ({main['records']:,} records): encoded data in "
                        "memory, lead->account resolved, no output table; median of paired rounds")
    for column in ("engine", "records/s", "ratio (median)", "spread"):
        table.add_column(column, justify="right" if column != "engine" else "left")
    table.add_row("unstuck_dsl (score_dataset)", f"{main['records_per_second']['unstuck_dsl']:,.0f}", "1.0x", "")
    for name, r in main["ratios"].items():
        label = {"floor": f"floor (unstuck_dsl time / floor time; {main['floor_bytes_read'] / 1e6:,.0f} MB read once)",
                 "polars": "polars (peer time / unstuck_dsl time)",
                 "duckdb": "duckdb (peer time / unstuck_dsl time)"}.get(name, name)
        if name == "python":
            label += f" ({main['python_sample_records']:,} records)"
        elif name.startswith("python"):
            label += f" ({main['whole_call_records']:,} records of {WHOLE_CALL_ACCOUNTS:,} accounts)"
        table.add_row(label, f"{main['records_per_second'][name]:,.0f}", f"{r['median']:.1f}x", _spread(r))
    console.print(table)

    whole = main["whole_footing"]
    table = Table(title="Whole footing: Arrow tables in memory in (load, encode, resolve lead->account), "
                        "the lead table out; peer time / unstuck_dsl time")
    for column in ("engine", "seconds (median)", "ratio (median)", "spread"):
        table.add_column(column, justify="right" if column != "engine" else "left")
    table.add_row("unstuck_dsl (score + result.leads)", f"{whole['median_seconds']['unstuck_dsl']:.3f}", "1.0x", "")
    for name, r in whole["ratios"].items():
        table.add_row(name, f"{whole['median_seconds'][name]:.3f}", f"{r['median']:.2f}x", _spread(r))
    console.print(table)

    console.print(process_table("Whole process: Parquet in, lead table Parquet out, warm kernel cache; "
                                "unstuck score time / peer process time",
                                {"heavy": main["whole_process"], "rules/ (example workspace)": main["whole_process_example"]}))

    compile_ = main["compile"]
    memory = main["memory"]
    other = Table(title="Other measures")
    other.add_column("measure")
    other.add_column("value", justify="right")
    other.add_row("cold compile (fresh cache)", f"{compile_['cold_compile_seconds']:.2f} s (median of "
                  + ", ".join(f"{t:.2f}" for t in compile_["cold_compile_runs"]) + ")")
    other.add_row("warm start (second process)", f"{compile_['warm_start_seconds']:.2f} s (+ {compile_['import_seconds']:.2f} s import)")
    other.add_row("peak memory over a one-record run / encoded input",
                  f"{memory['peak_over_encoded']:.1f}x ({memory['peak_rss_bytes'] / 2**20:,.0f} MiB peak, "
                  f"{memory['one_record_rss_bytes'] / 2**20:,.0f} MiB for one record, "
                  f"{memory['encoded_bytes'] / 2**20:,.0f} MiB encoded; over `import numba`: "
                  f"{memory['peak_over_import_over_encoded']:.1f}x)")
    other.add_row("explain one record (API)", f"{main['explain_one_record_seconds'] * 1000:.1f} ms")
    if "explain_process_seconds" in main:
        other.add_row("explain one record (`unstuck explain` process, Parquet in)",
                      f"{main['explain_process_seconds']:.2f} s")
    example = main["example_workspace_ratios"]
    other.add_row("example workspace (rules/), kernel footing: polars / duckdb",
                  f"{example['polars']['median']:.1f}x / {example['duckdb']['median']:.1f}x")
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


def process_table(title: str, measured: dict[str, dict]):
    """Whole-process times per ruleset, ours and the one-shot peers', with the ratios."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("ruleset", "unstuck score", "duckdb one-shot", "polars one-shot", "unstuck/duckdb", "unstuck/polars"):
        table.add_column(column, justify="right" if column != "ruleset" else "left")
    for label, w in measured.items():
        table.add_row(label, *(f"{w['seconds'][n]:.2f} s" for n in ("unstuck score", "duckdb one-shot", "polars one-shot")),
                      *(f"{w['ratios'][n]['median']:.2f}x" for n in ("duckdb one-shot", "polars one-shot")))
    return table


def verdict(report: dict, peer_size: int) -> tuple[str, str]:
    """The detail line and the verdict line (the last line printed)."""
    r, w = report["ratios"], report["whole_footing"]["ratios"]
    p, e = report["whole_process"]["ratios"], report["whole_process_example"]["ratios"]
    detail = (f"whole footing: polars {w['polars']['median']:.2f}x duckdb {w['duckdb']['median']:.2f}x; "
              f"process heavy: /duckdb {p['duckdb one-shot']['median']:.2f}x /polars {p['polars one-shot']['median']:.2f}x; "
              f"process rules/: /duckdb {e['duckdb one-shot']['median']:.2f}x /polars {e['polars one-shot']['median']:.2f}x")
    line = (f"verdict: N={peer_size} polars {r['polars']['median']:.1f}x duckdb {r['duckdb']['median']:.1f}x "
            f"python {r['python']['median']:.0f}x floor {r['floor']['median']:.1f}x "
            f"process/duckdb {p['duckdb one-shot']['median']:.2f}x")
    return detail, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=100k, a few minutes")
    parser.add_argument("--full", action="store_true", help="every size, peers at 1M")
    parser.add_argument("--sizes", type=int, nargs="*", help="peer comparison at these sizes")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--process-rounds", type=int, default=3)
    parser.add_argument("--process-sizes", type=int, nargs="*", default=[],
                        help="also time the whole process alone at these sizes (e.g. 10000000)")
    args = parser.parse_args()
    if args.full:
        peer_size, scale_sizes = 1_000_000, [10_000, 100_000, 1_000_000, 10_000_000]
    else:
        peer_size = (args.sizes or [100_000])[0]
        scale_sizes = [peer_size]
    rules = workspace()
    reports = {}
    for n in scale_sizes:
        reports[n] = run_size(n, rules, args.rounds, full_report=(n == peer_size), process_rounds=args.process_rounds)
    processes = {n: process_at(n, rules, args.process_rounds) for n in args.process_sizes}
    print_report(reports, peer_size)
    for n, measured in processes.items():
        from rich.console import Console

        Console(width=120).print(process_table(f"Whole process at N={n:,} accounts: Parquet in, lead table Parquet "
                                               "out; unstuck score time / peer process time", measured))
    RESULTS.mkdir(exist_ok=True)
    mode = "full" if args.full else f"n{peer_size}"
    document = {"mode": mode, "when": dt.datetime.now().isoformat(timespec="seconds"), "machine": platform.platform(),
                "cpus": os.cpu_count(), "python": platform.python_version(), "command": sys.argv, "reports": reports,
                "processes": processes}
    (RESULTS / f"bench-{mode}.json").write_text(json.dumps(document, indent=2, default=float))
    detail, line = verdict(reports[peer_size], peer_size)
    print(detail)
    print(line)


if __name__ == "__main__":
    main()
