"""What the one-shot peer processes share: the checked ruleset, from a pickle written ahead of
time (no rules compiler, no numba in the process) or compiled from a rules folder."""

from __future__ import annotations

import pickle
from pathlib import Path


def save_ruleset(model, path: Path) -> Path:
    path.write_bytes(pickle.dumps(model))
    return path


def load_ruleset(rules: str):
    if rules.endswith(".pickle"):
        return pickle.loads(Path(rules).read_bytes())
    import unstuck_dsl

    return unstuck_dsl.compile(rules).model
