"""Lookup tables: a predicate on a coded column decided once per distinct value of the column's
dictionary, in bulk, so that its cost grows with the distinct values and not with the records.

Equality, membership and wildcards on text and categories run as Arrow kernels over the whole
dictionary; text is first normalised as `text.normalize_text` says (printable ASCII by Arrow,
where NFKC and casefolding only lower the case, anything else once per value in Python). Every
other predicate (ordinals, bools, `resembles`) asks the reference evaluator once per value,
which is its definition. Either way a table equals the reference predicate on every value
(tests/test_lookup.py). Tables and normalised values are kept per dictionary for as long as it
lives, so scoring the same data again (another as-of date, a preview) builds nothing twice.
"""

from __future__ import annotations

import re
import weakref

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import ast, ir
from .data import FEW_VALUES
from .reference import Context, evaluate_predicate
from .schema import FieldType, constant
from .text import normalize_text

# Per dictionary (weakly: a dictionary's tables go when its data does): normalised values and tables.
_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Per predicate (with its field's type and the vocabulary), the truth of each value decided one at a
# time: an inbound record's values come again request after request, each time in a dictionary of
# their own. Kept up to TRUTHS_KEPT values in all, then forgotten at once.
_truths: dict[tuple, dict] = {}
_truths_kept = 0
TRUTHS_KEPT = 200_000
_PRINTABLE_ASCII = r"^[\x20-\x7e]*$"
# Below this many distinct values (an inbound record, a rule test) the reference predicate per value
# is quicker than an Arrow kernel call.
BULK_MIN_VALUES = FEW_VALUES


def lookup_table(spec: ir.LutSpec, dictionary, ctx: Context) -> np.ndarray:
    """The predicate's truth value (ir.FALSE / UNKNOWN / TRUE) for every value of `dictionary`,
    after a first entry for the code -1 (a missing value: unknown)."""
    values = getattr(dictionary, "values", None)  # an Arrow-backed data.Dictionary, else a list
    entry = _cache.setdefault(dictionary, {}) if isinstance(values, pa.Array) else {}
    # Coded columns hold no dates, so nothing here depends on the as-of date; titles are read
    # with the ruleset's vocabulary, so a table is kept per vocabulary.
    key = (spec.predicate, ctx.titles.key)
    table = entry.get(key)
    if table is None:
        table = np.empty(len(dictionary) + 1, dtype=np.int8)
        table[0] = ir.UNKNOWN
        field_type = ctx.field_type(spec.field)
        bulk = isinstance(values, pa.Array) and len(values) >= BULK_MIN_VALUES
        truth = _in_bulk(spec.predicate, field_type, values, entry) if bulk else None
        if truth is not None:
            table[1:] = np.where(truth, ir.TRUE, ir.FALSE)
        else:
            for code, value in enumerate(dictionary):
                table[code + 1] = _truth(spec, field_type, value, ctx)
        entry[key] = table
    return table


def _truth(spec: ir.LutSpec, field_type: FieldType, value, ctx: Context) -> int:
    """The reference predicate's truth value for one value (ir.FALSE / UNKNOWN / TRUE), kept."""
    global _truths_kept
    truths = _truths.setdefault((spec.predicate, field_type, ctx.titles.key), {})
    truth = truths.get(value)
    if truth is None:
        outcome = evaluate_predicate(spec.predicate, {spec.field: value}, ctx)
        truth = ir.UNKNOWN if outcome is None else (ir.TRUE if outcome else ir.FALSE)
        if _truths_kept >= TRUTHS_KEPT:
            _truths.clear()
            _truths_kept = 0
        truths[value] = truth
        _truths_kept += 1
    return truth


def _in_bulk(c, field_type: FieldType, values: pa.Array, entry: dict) -> np.ndarray | None:
    """The predicate over every value at once, or None when it has no bulk form here."""
    if field_type.name not in ("text", "category") or not len(values):
        return None
    text = field_type.name == "text"

    def subject() -> pa.Array:
        if not text:
            return values
        if "normalized" not in entry:
            entry["normalized"] = normalized(values)
        return entry["normalized"]

    def spelled(value) -> str:
        raw = constant(field_type, value)
        return normalize_text(raw) if text else raw

    if isinstance(c, ast.Compare) and c.op in ("==", "!="):
        found = pc.is_in(subject(), value_set=pa.array([spelled(c.value)], pa.string()))
        return _numpy(found) != (c.op == "!=")
    if isinstance(c, ast.In):
        found = pc.is_in(subject(), value_set=pa.array([spelled(item) for item in c.items], pa.string()))
        return _numpy(found) != c.negated
    if isinstance(c, ast.Like):
        return _numpy(pc.match_substring_regex(subject(), wildcard_regex(spelled(c.pattern))))
    return None


def _numpy(mask: pa.Array) -> np.ndarray:
    return mask.fill_null(False).to_numpy(zero_copy_only=False)


def normalized(values: pa.Array) -> pa.Array:
    """`text.normalize_text` of every value."""
    values = values.cast(pa.string())
    simple = pc.match_substring_regex(values, _PRINTABLE_ASCII)
    fast = pc.utf8_trim(pc.replace_substring_regex(pc.ascii_lower(values), " +", " "), " ")
    if pc.all(simple).as_py():
        return fast
    other = pc.invert(simple)
    slow = [normalize_text(value) for value in values.filter(other).to_pylist()]
    return pc.replace_with_mask(fast, other, pa.array(slow, pa.string()))


def wildcard_regex(pattern: str) -> str:
    """`text.wildcard_match` as one anchored RE2 pattern: `*` any run, `?` one character. RE2
    runs in time linear in the value, so the pattern cannot blow up as a backtracking one would."""
    pieces = [".*" if char == "*" else "." if char == "?" else _re2_literal(char) for char in pattern]
    return "(?s)^" + "".join(pieces) + "$"


def _re2_literal(char: str) -> str:
    return "\\" + char if re.match(r"[\\^$.|?*+()\[\]{}\-]", char) else char
