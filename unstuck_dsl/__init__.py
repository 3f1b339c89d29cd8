"""unstuck_dsl: a rules language and compiler for B2B go-to-market targeting.

ICPs say which companies we sell to, Personas which people there we reach; rules compile to one
numba kernel per ruleset, and every score comes with an explanation that matches it exactly.
"""

from .api import Ruleset, ScoreResult, ScoringError, compile
from .data import DataError
from .diagnostics import RuleError

__all__ = ["compile", "Ruleset", "ScoreResult", "ScoringError", "DataError", "RuleError"]
