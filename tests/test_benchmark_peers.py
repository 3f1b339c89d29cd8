"""The benchmark's peers answer the same question as unstuck_dsl on every record (a small run of
the agreement check `make bench` makes before it times anything; no timing here)."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import unstuck_dsl  # noqa: E402
from unstuck_dsl import sample  # noqa: E402

AS_OF = dt.date(2026, 11, 26)


@pytest.fixture(scope="module")
def heavy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("heavy")
    shutil.copy(ROOT / "rules" / "fields.ust", folder / "fields.ust")
    shutil.copy(ROOT / "benchmarks" / "heavy.ust", folder / "heavy.ust")
    return unstuck_dsl.compile(folder)


@pytest.mark.parametrize("peer_name", ["polars", "duckdb", "python"])
def test_peer_agrees_with_unstuck_on_every_record(heavy, peer_name):
    pytest.importorskip(peer_name if peer_name != "python" else "json")
    from peers import PEERS
    from run import agree, unstuck_arrays

    accounts, leads = sample.generate(3000, seed=11)
    ours = unstuck_arrays(heavy.score(accounts, leads, as_of=AS_OF))
    peer = PEERS[peer_name](heavy.model, AS_OF)
    peer.prepare(accounts, leads)
    agree(peer_name, ours, peer.run())  # raises SystemExit on any difference


def test_agreement_check_stops_on_a_difference(heavy):
    from run import agree, unstuck_arrays

    accounts, leads = sample.generate(300, seed=3)
    ours = unstuck_arrays(heavy.score(accounts, leads, as_of=AS_OF))
    theirs = [a.copy() for a in ours]
    theirs[1][7] += 1
    with pytest.raises(SystemExit, match="DISAGREEMENT"):
        agree("tampered", ours, theirs)
