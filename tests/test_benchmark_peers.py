"""The benchmark's peers answer the same question as unstuck_dsl on every record (a small run of
the agreement checks `make bench` makes before it times anything; no timing here), and the
checks stop the benchmark when a peer disagrees."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import unstuck_dsl  # noqa: E402
from unstuck_dsl import sample  # noqa: E402

AS_OF = dt.date(2026, 11, 26)


def _heavy_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("heavy")
    shutil.copy(ROOT / "rules" / "fields.ust", folder / "fields.ust")
    shutil.copy(ROOT / "benchmarks" / "heavy.ust", folder / "heavy.ust")
    return folder


@pytest.fixture(scope="module", params=["heavy", "example"])
def rules(request, tmp_path_factory):
    folder = _heavy_folder(tmp_path_factory) if request.param == "heavy" else ROOT / "rules"
    return unstuck_dsl.compile(folder)


@pytest.fixture(scope="module")
def data():
    return sample.generate(3000, seed=11)


@pytest.fixture(scope="module")
def scored(rules, data):
    return rules.score(*data, as_of=AS_OF)


@pytest.mark.parametrize("peer_name", ["polars", "duckdb", "python"])
def test_peer_agrees_with_unstuck_on_every_record(rules, data, scored, peer_name):
    pytest.importorskip(peer_name if peer_name != "python" else "json")
    from peers import PEERS
    from run import agree, unstuck_arrays

    peer = PEERS[peer_name](rules.model, AS_OF)
    peer.prepare(*data)
    agree(peer_name, unstuck_arrays(scored), peer.run())  # raises SystemExit on any difference
    agree(peer_name, unstuck_arrays(scored), peer.run())  # a second run (lookup tables kept) too


@pytest.mark.parametrize("peer_name", ["polars", "duckdb", "duckdb-varchar"])
def test_peer_lead_table_agrees_with_unstuck(rules, data, scored, peer_name):
    pytest.importorskip(peer_name.split("-")[0])
    from peers import PEERS
    from run import agree_tables

    peer = PEERS[peer_name.split("-")[0]](rules.model, AS_OF)
    peer.enums = not peer_name.endswith("varchar")  # DuckDB's other way: VARCHAR columns, IN lists
    agree_tables(peer_name, scored.leads, peer.run_table(*data))


def test_floor_writes_the_kernel_outputs_once(rules, scored):
    from peers import FloorPeer

    floor = FloorPeer(rules, scored.dataset)
    outputs = floor.run()
    n, m = scored.dataset.accounts.n, scored.dataset.leads.n
    assert [len(o) for o in outputs] == [n, n, m, m]
    assert all(o.dtype == np.int32 for o in outputs)
    ds, program = scored.dataset, rules.program
    read = [ds.accounts.columns[s.field] for s in program.account_columns]
    read += [ds.leads.columns[s.field] for s in program.lead_columns]
    assert floor.bytes_read == sum(c.nbytes for c in read) + ds.lead_account_rows.nbytes  # each byte once


def test_agreement_check_stops_on_a_difference(rules, scored):
    from run import agree, unstuck_arrays

    ours = unstuck_arrays(scored)
    theirs = [np.asarray(a).copy() for a in ours]
    theirs[1][7] += 1
    with pytest.raises(SystemExit, match="DISAGREEMENT"):
        agree("tampered", ours, theirs)


def _replace(table: pa.Table, name: str, column) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, column)


@pytest.mark.parametrize("tamper", ["score", "code", "null", "row"])
def test_lead_table_check_stops_on_a_difference(scored, tamper):
    from run import agree_tables

    ours = scored.leads
    theirs = ours.take(pa.array(np.arange(ours.num_rows)[::-1]))
    agree_tables("reordered", ours, theirs)  # any row order is the same table
    if tamper == "score":
        scores = theirs.column("icp_score").to_numpy(zero_copy_only=False).copy()
        row = int(np.flatnonzero(~np.isnan(scores))[0])
        scores[row] += 1
        theirs = _replace(theirs, "icp_score", pa.array(scores, mask=np.isnan(scores)).cast(pa.int32()))
    elif tamper == "code":
        codes = theirs.column("persona_code").cast(pa.string()).to_pylist()
        row = next(i for i, c in enumerate(codes) if c is not None)
        codes[row] = "no_persona_fit" if codes[row] != "no_persona_fit" else "buyer"
        theirs = _replace(theirs, "persona_code", pa.array(codes, pa.string()))
    elif tamper == "null":
        codes = theirs.column("icp_code").cast(pa.string()).to_pylist()
        codes[next(i for i, c in enumerate(codes) if c is not None)] = None
        theirs = _replace(theirs, "icp_code", pa.array(codes, pa.string()))
    else:
        theirs = theirs.slice(1)
    with pytest.raises(SystemExit, match="DISAGREEMENT"):
        agree_tables("tampered", ours, theirs)


def test_a_wrong_peer_is_caught(rules, data, scored):
    """A peer that gets one condition wrong (here: every live ICP's first parameter dropped) must
    fail the agreement check, so the benchmark can fail."""
    import attrs
    from peers import PEERS
    from run import agree, unstuck_arrays

    icps = tuple(attrs.evolve(icp, params=icp.params[1:]) if icp.status == "live" else icp for icp in rules.model.icps)
    wrong = attrs.evolve(rules.model, icps=icps)
    for name in ("polars", "duckdb"):
        peer = PEERS[name](wrong, AS_OF)
        peer.prepare(*data)
        with pytest.raises(SystemExit, match="DISAGREEMENT"):
            agree(name, unstuck_arrays(scored), peer.run())


@pytest.mark.parametrize("peer_name", ["polars", "duckdb"])
def test_peers_agree_on_a_column_of_many_distinct_values(rules, peer_name):
    """More than 64 distinct titles: DuckDB's lookup table is a list, not a 64-bit constant."""
    pytest.importorskip(peer_name)
    from peers import PEERS
    from run import agree, agree_tables, unstuck_arrays

    accounts, leads = sample.generate(1500, seed=5)
    titles = leads.column("title").to_pylist()
    titles = [None if t is None else (t if i % 3 else f"{t} {i % 90}") for i, t in enumerate(titles)]
    leads = leads.set_column(leads.schema.get_field_index("title"), "title", pa.array(titles, pa.string()))
    assert len(set(titles)) > 64
    result = rules.score(accounts, leads, as_of=AS_OF)
    peer = PEERS[peer_name](rules.model, AS_OF)
    peer.prepare(accounts, leads)
    agree(peer_name, unstuck_arrays(result), peer.run())
    agree_tables(peer_name, result.leads, PEERS[peer_name](rules.model, AS_OF).run_table(accounts, leads))


def test_floor_reads_a_csr_set_through_its_offsets(rules, data, monkeypatch):
    """Sets with many distinct members are CSR (offsets + member codes): the floor reads every
    member once, through the offsets, in the same pass."""
    from peers import FloorPeer

    from unstuck_dsl import data as data_module

    monkeypatch.setattr(data_module, "BITSET_MAX_VALUES", 0)
    dataset = rules.load(*data)
    assert dataset.accounts.columns["tech_stack"].encoding == "csr"
    floor = FloorPeer(rules, dataset)
    assert [len(o) for o in floor.run()] == [dataset.accounts.n] * 2 + [dataset.leads.n] * 2
    read = [dataset.accounts.columns[s.field] for s in rules.program.account_columns]
    read += [dataset.leads.columns[s.field] for s in rules.program.lead_columns]
    assert floor.bytes_read == sum(c.nbytes for c in read) + dataset.lead_account_rows.nbytes
