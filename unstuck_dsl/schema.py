"""Field types: what the rules declare about the columns they read, and how a literal written
in a rule becomes a typed constant for a field of that type (shared by every engine)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import attrs

from . import ast
from .frozen import Frozen, frozen

TYPE_NAMES = ("category", "text", "number", "int", "bool", "date", "ordinal", "set")
RECORD_KINDS = ("account", "lead")

# Key columns: always read, never declared.
ACCOUNT_KEY = "account_id"
LEAD_KEY = "lead_id"
KEY_COLUMNS = (ACCOUNT_KEY, LEAD_KEY)

# Rule 6, the score bands: each band's name and highest score (0–25 weak, 26–50 partial, 51–75
# solid, 76–100 strong). The reference's `band` and the output tables both read this one table.
BANDS = (("weak", 25), ("partial", 50), ("solid", 75), ("strong", 100))
BAND_LEVELS = tuple(name for name, _ in BANDS)


@frozen
class FieldType(Frozen):
    name: str  # one of TYPE_NAMES
    open: bool = False  # sets only: a value missing from the set is unknown, not "no"
    levels: tuple[str, ...] = ()  # ordinals only, lowest first

    @property
    def is_string(self) -> bool:
        return self.name in ("category", "text")

    @property
    def is_ordered(self) -> bool:
        return self.name in ("number", "int", "date", "ordinal")

    def describe(self) -> str:
        if self.name == "ordinal":
            return "ordinal(" + ", ".join(f'"{level}"' for level in self.levels) + ")"
        return ("open " if self.open else "") + self.name


class Encoding(enum.StrEnum):
    """How a column is held for the kernel: dictionary codes, float64, int64 or day numbers with a
    valid flag, or a set; an encoded set column is laid out as bits or as a member list (CSR)."""

    CODED = "coded"
    F64 = "f64"
    I64 = "i64"
    DAYS = "days"
    SET = "set"
    BITSET = "bitset"
    CSR = "csr"


@frozen
class Representation(Frozen):
    """How the values of one field type are held at each stage: the kernel's column encoding
    (`ir.ColumnSlot.encoding`), the numpy dtype of an encoded column's values (codes for coded
    columns; sets depend on the layout), the Arrow type of input and output tables, and the
    DuckDB column type."""

    encoding: Encoding
    dtype: str | None
    arrow: str  # as `pyarrow.type_for_alias` spells it, or "list<string>"
    sql: str


REPRESENTATIONS = {
    "category": Representation(Encoding.CODED, "int32", "string", "VARCHAR"),
    "text": Representation(Encoding.CODED, "int32", "string", "VARCHAR"),
    "ordinal": Representation(Encoding.CODED, "int32", "string", "VARCHAR"),
    "bool": Representation(Encoding.CODED, "int32", "bool", "BOOLEAN"),
    "number": Representation(Encoding.F64, "float64", "float64", "DOUBLE"),
    "int": Representation(Encoding.I64, "int64", "int64", "BIGINT"),
    "date": Representation(Encoding.DAYS, "int32", "date32", "DATE"),
    "set": Representation(Encoding.SET, None, "list<string>", "VARCHAR[]"),
}
# The numpy dtype of each encoding's values (sets excepted: their layout decides).
ENCODING_DTYPES = {r.encoding: r.dtype for r in REPRESENTATIONS.values() if r.dtype is not None}


def arrow_type(field_type: FieldType):
    """The Arrow type of a field's column (pyarrow is imported only by the commands that read
    or write tables)."""
    import pyarrow as pa

    name = REPRESENTATIONS[field_type.name].arrow
    return pa.list_(pa.string()) if name == "list<string>" else pa.type_for_alias(name)


@frozen
class Field(Frozen):
    name: str
    kind: str  # "account" | "lead"
    type: FieldType
    span: ast.Span | None = attrs.field(default=None, eq=False, repr=False)


@frozen
class Schema(Frozen):
    fields: tuple[Field, ...]
    # Each field by name (the first of a name): `get` is asked for every condition of every
    # scoring run, and a search through the fields each time was a tenth of scoring one record.
    _by_name: dict[str, Field] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        by_name: dict[str, Field] = {}
        for f in self.fields:
            by_name.setdefault(f.name, f)
        object.__setattr__(self, "_by_name", by_name)

    def get(self, name: str) -> Field | None:
        return self._by_name.get(name)

    def of_kind(self, kind: str) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.kind == kind)


def constant(field_type: FieldType, value: ast.Value):
    """The typed constant a checked literal stands for, comparable with record values:
    a level rank for ordinals, Decimal for numbers, date for dates, str, bool."""
    if field_type.name == "ordinal":
        return field_type.levels.index(value.value)
    if isinstance(value, (ast.StringValue, ast.BoolValue, ast.DateValue)):
        return value.value
    if isinstance(value, ast.NumberValue):
        return value.value
    raise TypeError(f"no constant for {value!r}")


def record_value(field_type: FieldType, raw):
    """A record's raw Python value, as the reference evaluator compares it (None = unknown).
    Ordinals become level ranks; sets become frozensets; numbers stay exact."""
    if raw is None:
        return None
    if field_type.name == "ordinal":
        return field_type.levels.index(raw)
    if field_type.name == "set":
        return frozenset(raw)
    if field_type.name == "date" and isinstance(raw, dt.datetime):
        return raw.date()
    if field_type.name in ("number", "int") and isinstance(raw, float) and raw != raw:
        return None  # NaN is missing data
    return raw


def is_number(value) -> bool:
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


# What scoring adds to a record: audiences read these beside the declared fields.
SCORE_FIELDS = (
    Field("icp_code", "score", FieldType("category")),
    Field("icp_score", "score", FieldType("int")),
    Field("icp_band", "score", FieldType("ordinal", levels=BAND_LEVELS)),
    Field("persona_code", "score", FieldType("category")),
    Field("persona_score", "score", FieldType("int")),
    Field("persona_band", "score", FieldType("ordinal", levels=BAND_LEVELS)),
)
RESERVED_FIELDS = KEY_COLUMNS + tuple(f.name for f in SCORE_FIELDS)


ENGAGEMENT_FIELDS = ("engagement_score", "stage")  # reserved only when the rules declare engagement


def audience_schema(schema: Schema, engagement=None) -> Schema:
    """The fields an audience condition may read: every declared field, the scores, and, when
    the rules declare engagement, `engagement_score` and `stage` (an ordinal of the stages)."""
    extra = ()
    if engagement is not None:
        extra = (Field("engagement_score", "score", FieldType("number")),
                 Field("stage", "score", FieldType("ordinal", levels=tuple(engagement.stages))))
    return Schema(schema.fields + SCORE_FIELDS + extra)


# What can happen to a lead, in the order of the funnel (outcomes files, insights): `contacted`
# is what a reply rate divides by (`unstuck insights --denominator contacted`).
OUTCOMES = ("contacted", "replied", "meeting", "signup")
