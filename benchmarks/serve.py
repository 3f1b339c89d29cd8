"""`unstuck serve` at speed (issue 15): a local server on loopback over a 1M-account / 3M-lead
workspace, measured with bounded requests, each figure beside its target.

    python benchmarks/serve.py                          # N = 1M accounts (~3M leads), 60 s of 8 clients
    python benchmarks/serve.py --accounts 10000 --seconds 10

The workspace is built once (the sample data as Parquet: /work/data1m when it holds N accounts,
else generated into benchmarks/data/serve-N/) and reused; each run works on a copy of it. The
server runs as `unstuck serve` in its own process; it is started twice (the first start fills
the kernel cache, the second is the warm start measured). Requests go over keep-alive HTTP/1.1
connections on 127.0.0.1, as a caller on the same machine sends them; times are wall-clock,
client side, including HTTP and JSON. The machine's load average is printed with the table: on
a shared machine the figures grow with it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import installed  # noqa: F401 - the processes timed run as installed
import numpy as np
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
AS_OF = "2026-11-26"
TOKEN = "benchmark-token"
SHARED_DATA = Path("/work/data1m")
# name -> (target in ms, what is compared with it)
TARGETS = {
    "score 1 record, p50": 2.0,
    "score 1 record, p99": 10.0,
    "score 1,000 records": 30.0,
    "ingest 1 changed account, p50": 25.0,
    "ingest 1,000 changed accounts": 300.0,
    "lead detail with drawer, p50": 5.0,
    "sorted filtered list page, p50": 50.0,
    "server start, warm cache": 10_000.0,
    "Leads page sorted by ICP score, p50": 200.0,  # the pages (issue 16): HTML rendered on the server
    "lead page with the drawer open, p50": 200.0,
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def data_files(n: int) -> tuple[Path, Path]:
    if (SHARED_DATA / "accounts.parquet").exists() and pq.ParquetFile(SHARED_DATA / "accounts.parquet").metadata.num_rows == n:
        return SHARED_DATA / "accounts.parquet", SHARED_DATA / "leads.parquet"
    from unstuck_dsl import sample

    folder = HERE / "data" / f"serve-{n}"
    if not (folder / "leads.parquet").exists():
        log(f"writing the sample data for N={n:,} into {folder}")
        sample.write(folder, n, formats=("parquet",))
    return folder / "accounts.parquet", folder / "leads.parquet"


def workspace(n: int) -> Path:
    """The benchmark's workspace: N accounts and their leads, the README's rules published."""
    import datetime as dt

    from unstuck_dsl.workspace import Workspace

    path = HERE / "data" / f"serve-{n}" / "workspace.duckdb"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    accounts, leads = data_files(n)
    building = path.with_name("building.duckdb")
    for stale in (building, building.with_name(building.name + ".wal")):
        stale.unlink(missing_ok=True)
    log(f"building the workspace {path} ({n:,} accounts)")
    with Workspace(building) as ws:
        ws.publish(str(ROOT / "rules"), message="benchmark", as_of=dt.date.fromisoformat(AS_OF))
        ws.ingest(accounts=str(accounts), leads=str(leads))
    os.replace(building, path)
    return path


class Client:
    """One keep-alive connection to the server."""

    def __init__(self, port: int):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.connection.connect()
        # As an HTTP client library does: no Nagle delay on a request sent in two writes.
        self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def call(self, method: str, path: str, body=None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        payload = response.read()
        return response.status, json.loads(payload)

    def page(self, path: str) -> float:
        """A page's HTML (GET, no token: a reader's browser), timed in ms."""
        start = time.perf_counter()
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        payload = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200 or not payload.startswith(b"<!doctype html>"):
            raise SystemExit(f"GET {path}: {response.status} {payload[:200]!r}")
        return elapsed

    def timed(self, method: str, path: str, body=None) -> float:
        start = time.perf_counter()
        status, payload = self.call(method, path, body)
        elapsed = (time.perf_counter() - start) * 1000
        if status != 200:
            raise SystemExit(f"{method} {path}: {status} {payload}")
        return elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path, port: int) -> tuple[subprocess.Popen, float]:
    """`unstuck serve` in its own process, and the seconds until it answers."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "unstuck_dsl", "serve", "--db", str(db), "--port", str(port),
                                "--token", TOKEN], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = start + 300
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped: {process.stderr.read().decode()}")
        try:
            status, _ = Client(port).call("GET", "/api/status")
            if status == 200:
                return process, time.perf_counter() - start
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("the server did not answer within 300 s")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def peak_memory_mib(pid: int) -> float:
    """The process's peak resident memory (Linux), in MiB: what it keeps in memory is reported
    beside its speed."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(times: list[float], q: float) -> float:
    return float(np.percentile(np.array(times), q))


def measure(port: int, accounts_file: Path, leads_file: Path, seconds: float, requests: int) -> dict[str, float]:
    rng = np.random.default_rng(7)
    accounts = pq.read_table(accounts_file)
    leads = pq.ParquetFile(leads_file).read_row_group(0)
    client = Client(port)
    found: dict[str, float] = {}

    def plain(row: dict) -> dict:
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items() if v is not None}

    inbound = [plain(r) for r in accounts.slice(0, 1000).to_pylist()]
    for i, row in enumerate(inbound):
        row["account_id"] = f"inbound-{i}"
    log("score 1 record")
    times = [client.timed("POST", "/api/score", {"accounts": [inbound[i % 1000]]}) for i in range(requests)]
    found["score 1 record, p50"], found["score 1 record, p99"] = percentile(times, 50), percentile(times, 99)
    log("score 1,000 records")
    found["score 1,000 records"] = statistics.median(client.timed("POST", "/api/score", {"accounts": inbound})
                                                     for _ in range(max(5, requests // 50)))
    log("ingest 1 changed account")
    picks = rng.choice(accounts.num_rows, size=max(10, requests // 10), replace=False)
    times = []
    for i, row in enumerate(picks):
        changed = {"account_id": accounts.column("account_id")[int(row)].as_py(), "employees": 100 + i}
        times.append(client.timed("POST", "/api/ingest", {"accounts": [changed]}))
    found["ingest 1 changed account, p50"] = percentile(times, 50)
    log("ingest 1,000 changed accounts")
    times = []
    for run in range(5):
        rows = rng.choice(accounts.num_rows, size=1000, replace=False)
        batch = [{"account_id": accounts.column("account_id")[int(r)].as_py(), "employees": 200 + run,
                  "tech_stack": ["Snowflake", "Okta", "dbt"]} for r in rows]
        times.append(client.timed("POST", "/api/ingest", {"accounts": batch}))
    found["ingest 1,000 changed accounts"] = statistics.median(times)
    log("lead detail")
    ids = leads.column("lead_id").to_pylist()
    times = [client.timed("GET", f"/api/leads/{ids[int(rng.integers(len(ids)))]}") for _ in range(requests // 2)]
    found["lead detail with drawer, p50"] = percentile(times, 50)
    log("list page")
    page = "/api/leads?icp=mm_saas&band=strong&sort=-persona_score&limit=50"
    times = [client.timed("GET", page) for _ in range(max(10, requests // 10))]
    found["sorted filtered list page, p50"] = percentile(times, 50)
    log("pages")
    times = [client.page("/leads?sort=-icp_score") for _ in range(max(10, requests // 20))]
    found["Leads page sorted by ICP score, p50"] = percentile(times, 50)
    times = [client.page(f"/leads/{ids[int(rng.integers(len(ids)))]}?drawer=icp") for _ in range(max(10, requests // 20))]
    found["lead page with the drawer open, p50"] = percentile(times, 50)
    log(f"8 clients for {seconds:g} s")
    found.update(concurrent(port, inbound, ids, seconds))
    return found


def concurrent(port: int, inbound: list[dict], ids: list[str], seconds: float, clients: int = 8) -> dict[str, float]:
    """`clients` connections sending a mix (score, detail, list) for `seconds`: requests and errors."""
    done, errors = [0] * clients, [0] * clients
    stop = time.perf_counter() + seconds

    def work(k: int) -> None:
        client, rng = Client(port), np.random.default_rng(k)
        while time.perf_counter() < stop:
            choice = int(rng.integers(3))
            try:
                if choice == 0:
                    status, _ = client.call("POST", "/api/score", {"accounts": [inbound[int(rng.integers(1000))]]})
                elif choice == 1:
                    status, _ = client.call("GET", f"/api/leads/{ids[int(rng.integers(len(ids)))]}")
                else:
                    status, _ = client.call("GET", "/api/leads?icp=smb_saas&sort=-icp_score&limit=20")
            except (OSError, http.client.HTTPException, ValueError):
                status = 0
                client = Client(port)
            done[k] += 1
            errors[k] += status != 200

    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {f"{clients} clients: requests/s": sum(done) / seconds, f"{clients} clients: errors": float(sum(errors))}


def table(found: dict[str, float], n: int, seconds: float) -> str:
    load = os.getloadavg()
    lines = [f"unstuck serve, {n:,} accounts (~{3 * n:,} leads), loopback; load average "
             f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores",
             f"command: python benchmarks/serve.py --accounts {n} --seconds {seconds:g}", "",
             f"{'measure':<34} {'measured':>12} {'target':>10}  verdict"]
    for name, value in found.items():
        target = TARGETS.get(name)
        if name.endswith("errors"):
            lines.append(f"{name:<34} {value:>12.0f} {0:>10}  {'met' if value == 0 else 'MISSED'}")
        elif target is None:
            lines.append(f"{name:<34} {value:>12.1f} {'':>10}")
        else:
            unit = "ms"
            lines.append(f"{name:<34} {value:>9.1f} {unit} {target:>7.0f} {unit}  "
                         f"{'met' if value <= target else 'MISSED'}")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the 8 clients run")
    parser.add_argument("--requests", type=int, default=500, help="requests per single-record measure")
    parser.add_argument("--out", default=str(HERE / "results" / "serve.txt"))
    args = parser.parse_args()
    os.environ.setdefault("UNSTUCK_CACHE_DIR", str(ROOT / ".unstuck-cache"))
    built = workspace(args.accounts)
    accounts_file, leads_file = data_files(args.accounts)
    with tempfile.TemporaryDirectory(prefix="unstuck-serve-bench-") as folder:
        db = Path(folder) / "workspace.duckdb"
        shutil.copy(built, db)
        port = free_port()
        process, _ = start_server(db, port)  # fills the kernel cache
        stop_server(process)
        process, started = start_server(db, port)
        try:
            found = {"server start, warm cache": started * 1000}
            found.update(measure(port, accounts_file, leads_file, args.seconds, args.requests))
            found["server memory at its peak, MiB"] = peak_memory_mib(process.pid)
        finally:
            stop_server(process)
    text = table(found, args.accounts, args.seconds)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
