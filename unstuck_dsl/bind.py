"""Binding: one run's constants for a lowered program: lookup tables filled from the data's
dictionaries (`lookup`), dates resolved against the as-of date, set items
as dictionary codes, and the scoring tables (weights, possible points)."""

from __future__ import annotations

import datetime as dt

import attrs
import numpy as np

from . import codegen, dates, ir
from .data import Column, Dataset
from .lookup import lookup_table
from .reference import Context
from .schema import Schema
from .titles import SHIPPED, TitleReader


@attrs.frozen
class Constants:
    """The run-time arrays a kernel's conditions read."""

    luts: np.ndarray  # int32 truth values, all tables end to end
    lut_offsets: np.ndarray  # int64 start of each table
    floats: np.ndarray  # float64
    ints: np.ndarray  # int64
    # Per int constant, read as a set item's code: the word of a record's bitset holding the item,
    # and the item's bit in it (none for code -1, an item no record has). A bitset test reads them
    # instead of working them out from the code for every record.
    bit_words: np.ndarray  # uint64
    bit_masks: np.ndarray  # uint64


@attrs.frozen
class Bound:
    """Constants plus the program's scoring tables (`ScoringTables`)."""

    constants: Constants
    scoring: ScoringTables


def bind_constants(program, schema: Schema, columns: dict[str, Column], as_of: dt.date,
                   titles: TitleReader = SHIPPED) -> Constants:
    """Fill a program's lookup tables from the data's dictionaries and resolve its constants
    (dates against the as-of date, set items to dictionary codes); titles are read by `titles`,
    the ruleset's reader."""
    ctx = Context(schema, as_of, titles)
    tables, offsets, start = [], [], 0
    for spec in program.luts:
        column = columns.get(spec.field)
        table = lookup_table(spec, column.dictionary if column is not None else [], ctx)
        tables.append(table)
        offsets.append(start)
        start += len(table)
    luts = np.concatenate(tables) if tables else np.zeros(1, np.int32)
    floats = np.array([float(c.value) for c in program.floats] or [0.0], dtype=np.float64)
    ints = np.array([_int_value(c, columns, as_of) for c in program.ints] or [0], dtype=np.int64)
    words = np.maximum(ints, 0).astype(np.uint64) >> np.uint64(6)
    masks = (ints >= 0).astype(np.uint64) << (ints & 63).astype(np.uint64)
    # int32 entries: a vectorized kernel reads a table four bytes at a time (one gather per
    # several records); single bytes it would read one record at a time.
    return Constants(luts.astype(np.int32), np.array(offsets or [0], np.int64), floats, ints, words, masks)


@attrs.frozen
class ScoringTables:
    """A program's points per parameter slot and possible points per rule, each counted in its
    rule's unit (ir.RuleIR.unit), and each rule's score table: its score for every total it can
    earn, 0 .. possible (rule r's table starts at `score_at[r]`). They depend on the program
    alone, so a compiled ruleset makes them once, not every run (scoring one inbound record spent
    a twentieth of its time summing the same possible points again)."""

    weights: np.ndarray  # int64 per account parameter slot
    lead_weights: np.ndarray  # int64 per lead parameter slot
    possible: np.ndarray  # int64 per rule (ICPs, then every Persona)
    score_table: np.ndarray  # int32
    score_at: np.ndarray  # int64 per rule


def scoring_tables(program: ir.Program) -> ScoringTables:
    lead_rules = [r for b in program.personas for r in b.rules]
    rules = [*program.icps.rules, *lead_rules]
    weights = np.zeros(max(1, sum(len(r.params) for r in program.icps.rules)), np.int64)
    lead_weights = np.zeros(max(1, sum(len(r.params) for r in lead_rules)), np.int64)
    for table, block in ((weights, program.icps.rules), (lead_weights, lead_rules)):
        for rule in block:
            for p in rule.params:
                table[p.slot] = p.weight // rule.unit
    possible = np.array([r.points for r in rules] or [0], np.int64)
    if codegen.interpreted(program):  # the interpreter divides instead (codegen.SCORE_TABLE_LIMIT)
        table, score_at = np.zeros(1, np.int32), np.zeros(len(possible), np.int64)
    else:
        tables = [score_table(points) for points in possible]
        table = np.concatenate(tables).astype(np.int32)
        score_at = np.cumsum([0, *map(len, tables[:-1])], dtype=np.int64)
    return ScoringTables(weights, lead_weights, possible, table, score_at)


def score_table(possible: int) -> np.ndarray:
    """The score for each total earned 0 .. possible: round-half-up(100 × earned / possible) in
    integers, floor((200e + p) / 2p) (reference.normalized_score); 100 when nothing is possible."""
    if possible == 0:
        return np.full(1, 100, np.int64)
    earned = np.arange(possible + 1, dtype=np.int64)
    return (200 * earned + possible) // (2 * possible)


def bind_program(program: ir.Program, tables: ScoringTables, schema: Schema, dataset: Dataset, as_of: dt.date,
                 titles: TitleReader = SHIPPED) -> Bound:
    """One run's constants for `program` over `dataset`, with the program's scoring `tables`."""
    columns = dict(dataset.accounts.columns)
    if dataset.leads is not None:
        columns.update(dataset.leads.columns)
    return Bound(bind_constants(program, schema, columns, as_of, titles), tables)


def _int_value(const, columns: dict[str, Column], as_of: dt.date) -> int:
    if isinstance(const, ir.IntConst):
        return const.value
    if isinstance(const, ir.DateConst):
        return dates.to_days(const.value)
    if isinstance(const, ir.AsOfShift):
        return dates.to_days(dates.shift(as_of, const.amount, const.unit))
    if isinstance(const, ir.SetItem):
        column = columns.get(const.field)
        if column is None:
            return -1
        try:
            return column.dictionary.index(const.value)
        except ValueError:
            return -1
    raise TypeError(f"not an int constant: {const!r}")
