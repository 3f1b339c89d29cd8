"""Lookup tables built in bulk equal the reference predicate on every dictionary value."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unstuck_dsl import ast, ir, lookup
from unstuck_dsl.data import Dictionary
from unstuck_dsl.lookup import lookup_table, normalized
from unstuck_dsl.reference import Context, evaluate_predicate
from unstuck_dsl.schema import Field, FieldType, Schema
from unstuck_dsl.text import normalize_text

# Letters whose normal form is not what Arrow's ASCII lowercase gives: the slow path must catch them.
TRICKY = ["ß", "ẞ", "ς", "Σ", "İ", "ﬁ", "Ｍ", "é", "é", "\u00a0", "\t", "\n", "\x1c", "\u2003", "😀", "Ⅻ"]
# Plain ASCII (spaces often, to make runs of them) most of the time, so that both paths are tried.
ALPHABET = st.one_of(st.sampled_from(list("aAbB  zZ.-*?\\[]()^$|+{}   ")), st.sampled_from(TRICKY))
VALUE = st.lists(ALPHABET, max_size=8).map("".join)
PATTERN = st.lists(st.sampled_from(list("aAbB *?.\\[(") + ["ß", "ss", "é"]), max_size=6).map("".join)


@pytest.fixture(autouse=True, scope="module")
def every_dictionary_in_bulk():
    """These tests hold a few values per dictionary: they are decided in bulk all the same, which is
    the path under test (`lookup.BULK_MIN_VALUES` sends dictionaries this small to the reference)."""
    kept, lookup.BULK_MIN_VALUES = lookup.BULK_MIN_VALUES, 0
    yield
    lookup.BULK_MIN_VALUES = kept


SCHEMA = Schema((Field("t", "account", FieldType("text")), Field("c", "account", FieldType("category"))))
CTX = Context(SCHEMA, dt.date(2026, 11, 26))


def predicates(field: str):
    ref = ast.FieldRef(field)
    value = VALUE.map(ast.StringValue)
    return st.one_of(
        st.builds(lambda op, v: ast.Compare(ref, op, v), st.sampled_from(["==", "!="]), value),
        st.builds(lambda items, negated: ast.In(ref, tuple(items), negated), st.lists(value, min_size=1, max_size=4),
                  st.booleans()),
        st.builds(lambda p: ast.Like(ref, ast.StringValue(p)), PATTERN),
    )


def reference_table(predicate, field: str, values: list[str]) -> np.ndarray:
    truth = [evaluate_predicate(predicate, {field: v}, CTX) for v in values]
    return np.array([ir.UNKNOWN] + [ir.UNKNOWN if t is None else ir.TRUE if t else ir.FALSE for t in truth], np.int8)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["t", "c"]).flatmap(lambda f: st.tuples(st.just(f), predicates(f))),
       st.lists(VALUE, unique=True, max_size=12))
def test_bulk_tables_equal_the_reference_on_every_value(field_and_predicate, values):
    field, predicate = field_and_predicate
    dictionary = Dictionary(pa.array(values, pa.string()))
    got = lookup_table(ir.LutSpec(field, predicate), dictionary, CTX)
    assert got.tolist() == reference_table(predicate, field, values).tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(VALUE, max_size=20))
def test_normalised_text_is_normalize_text_of_each_value(values):
    assert normalized(pa.array(values, pa.string())).to_pylist() == [normalize_text(v) for v in values]


def test_a_table_is_built_once_per_dictionary_and_predicate():
    dictionary = Dictionary(pa.array(["VP Sales", "vp  sales", "CEO"], pa.string()))
    spec = ir.LutSpec("t", ast.Compare(ast.FieldRef("t"), "==", ast.StringValue("vp sales")))
    first = lookup_table(spec, dictionary, CTX)
    assert first.tolist() == [ir.UNKNOWN, ir.TRUE, ir.TRUE, ir.FALSE]
    assert lookup_table(spec, dictionary, CTX) is first
    other = Dictionary(pa.array(["CEO"], pa.string()))
    assert lookup_table(spec, other, CTX).tolist() == [ir.UNKNOWN, ir.FALSE]


def test_wildcards_on_a_long_near_miss_stay_linear():
    value = "a" * 20_000 + "b"
    dictionary = Dictionary(pa.array([value, "ab"], pa.string()))
    spec = ir.LutSpec("t", ast.Like(ast.FieldRef("t"), ast.StringValue("*a*a*a*a*a*c")))
    assert lookup_table(spec, dictionary, CTX).tolist() == [ir.UNKNOWN, ir.FALSE, ir.FALSE]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["t", "c"]), PATTERN, st.data())
def test_wildcards_equal_the_reference_on_values_made_to_match(field, pattern, data):
    """Values built from the pattern (each `*` some text, each `?` one letter, maybe recased),
    so that matches are common, and a few random ones."""
    def instance() -> str:
        pieces = [data.draw(VALUE) if char == "*" else data.draw(ALPHABET) if char == "?" else char for char in pattern]
        text = "".join(pieces)
        return text.upper() if data.draw(st.booleans()) else text

    values = list(dict.fromkeys([instance() for _ in range(4)] + data.draw(st.lists(VALUE, max_size=3))))
    predicate = ast.Like(ast.FieldRef(field), ast.StringValue(pattern))
    got = lookup_table(ir.LutSpec(field, predicate), Dictionary(pa.array(values, pa.string())), CTX)
    want = reference_table(predicate, field, values)
    assert got.tolist() == want.tolist()
