"""The differential check catches a rule changed in one engine only.

Each mutation rewrites one semantic rule in the compiled engine (the generated kernel, or the
score tables it reads), the reference staying as it is; the same comparison the differential
tests make must then find a record where they disagree.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from unstuck_dsl import api, bind, codegen

from conformance_runner import CASES_DIR, compiled_engine, load_case, reference_engine

MUTATIONS = {
    # rule 4: a tie goes to the first declared → to the last
    "ties to the last": ("06_ties_and_drafts", r"\((s\d+) > best_score\)", r"(\1 >= best_score)"),
    # rule 2: an unknown filter fails unless it opts in → passes
    "unknown filter passes": ("03_modes_and_unknown_opt_ins", r"\((p?\d*r\d+v\d+) >= 2\)", r"(\1 >= 1)"),
    # SPEC §3: a member missing from an open set is unknown → "no" (the set tested as a closed one)
    "open set answers no": ("09_open_and_closed_sets", r"has_(bits|list)\((True|False), True,", r"has_\1(\2, False,"),
    # rule 1: not unknown is unknown → true
    "not unknown is true": ("02_three_valued_logic", r"= 2 - (\w+)$", r"= 2 if \1 == 1 else 2 - \1"),
}


def _half_down_table(possible: int) -> np.ndarray:
    """bind.score_table with rule 3's rounding turned: round half down."""
    if possible == 0:
        return np.full(1, 100, np.int64)
    earned = np.arange(possible + 1, dtype=np.int64)
    return (200 * earned + possible - 1) // (2 * possible)


# Mutations of the score tables the kernels read (bind.score_table, the twin of rule 3).
TABLE_MUTATIONS = {"round half down": ("04_round_half_up", _half_down_table)}


@pytest.mark.parametrize("name", list(TABLE_MUTATIONS))
def test_differential_check_catches_a_changed_score_table(name, monkeypatch):
    case_name, table = TABLE_MUTATIONS[name]
    case = load_case(CASES_DIR / case_name)
    expected = reference_engine(case.ruleset, case.accounts, case.leads, case.as_of)
    assert compiled_engine(case.ruleset, case.accounts, case.leads, case.as_of) == expected
    monkeypatch.setattr(bind, "score_table", table)
    got = compiled_engine(case.ruleset, case.accounts, case.leads, case.as_of, compiled=api.Ruleset(case.ruleset))
    assert got != expected, f"mutation {name!r} went unnoticed"


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_differential_check_catches_a_one_sided_change(name, monkeypatch):
    case_name, pattern, replacement = MUTATIONS[name]
    case = load_case(CASES_DIR / case_name)
    original = codegen.generate

    def mutated(program, layouts, outcomes=False):
        source, count = re.subn(pattern, replacement, original(program, layouts, outcomes), flags=re.MULTILINE)
        assert count > 0, f"mutation {name!r} found nothing to change"
        return source

    expected = reference_engine(case.ruleset, case.accounts, case.leads, case.as_of)
    assert compiled_engine(case.ruleset, case.accounts, case.leads, case.as_of) == expected
    monkeypatch.setattr(codegen, "generate", mutated)
    got = compiled_engine(case.ruleset, case.accounts, case.leads, case.as_of, compiled=api.Ruleset(case.ruleset))
    assert got != expected, f"mutation {name!r} went unnoticed"
