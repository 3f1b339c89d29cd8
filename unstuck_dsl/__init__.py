"""unstuck_dsl: a rules language and compiler for B2B go-to-market targeting.

ICPs say which companies we sell to, Personas which people there we reach; rules compile to one
numba kernel per ruleset, and every score comes with an explanation that matches it exactly.

The names below load on first use (PEP 562), so a command that only checks rules never pays for
importing numba.
"""

import importlib

_EXPORTS = {"compile": "api", "CompiledRules": "api", "Ruleset": "api", "ScoreResult": "api", "ScoringError": "api",
            "DataError": "data", "RuleError": "diagnostics", "Workspace": "workspace"}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'unstuck_dsl' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])
