"""The syntax tree of a rule workspace: small frozen nodes that mirror the source text.

Every node carries its source `span`, excluded from equality and hashing, so two programs that
differ only in layout or comments compare equal (`parse(print(ast)) == ast`).
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Union

import attrs

from .frozen import Frozen, frozen


@frozen
class Span(Frozen):
    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def _span() -> attrs.Attribute:
    return attrs.field(default=None, eq=False, repr=False, kw_only=True)


class Node(Frozen):
    """What every AST node is: a frozen value (`frozen`) with its source span, which equality,
    hashing and repr leave out."""

    __slots__ = ()


def node(cls):
    """Declare an AST node (a subclass of Node): a frozen value with a keyword `span` kept out of
    equality."""
    cls.__annotations__["span"] = "Span | None"
    cls.span = _span()
    return frozen(cls)


# ---- the language's vocabularies: each compares equal to the word written in the rules -----------


class RecordKind(enum.StrEnum):
    ACCOUNT = "account"
    LEAD = "lead"


class Mode(enum.StrEnum):
    """What a parameter does: only a score parameter carries a weight."""

    FILTER = "filter"
    SCORE = "score"
    EXCLUDE = "exclude"


class Status(enum.StrEnum):
    """Only live ICPs and Personas assign; drafts are scored to be looked at."""

    LIVE = "live"
    DRAFT = "draft"


class Quantifier(enum.StrEnum):
    """`has VALUE` (one), `has any {...}`, `has all {...}`."""

    ONE = "one"
    ANY = "any"
    ALL = "all"


def _vocabulary(kind: type[enum.StrEnum], optional: bool = False) -> attrs.Attribute:
    """A field holding a word of `kind`: a string is taken as the member it names."""
    return attrs.field(converter=attrs.converters.optional(kind) if optional else kind)


# ---- values ------------------------------------------------------------------------------------


@node
class StringValue(Node):
    value: str


@node
class NumberValue(Node):
    value: Decimal


@node
class DateValue(Node):
    value: dt.date


@node
class BoolValue(Node):
    value: bool


@node
class NameValue(Node):
    """A bare name where a value is expected: a region inside `in {...}`, an error elsewhere."""

    name: str


Value = Union[StringValue, NumberValue, DateValue, BoolValue, NameValue]


# ---- declarations ------------------------------------------------------------------------------


@node
class TypeRef(Node):
    name: str
    open: bool = False
    levels: tuple[StringValue, ...] | None = None


@node
class FieldDecl(Node):
    name: str
    type: TypeRef


@node
class FieldsBlock(Node):
    kind: RecordKind = _vocabulary(RecordKind)
    fields: tuple[FieldDecl, ...]


@node
class Country(Node):
    code: str


@node
class RegionDecl(Node):
    code: str
    display_name: str | None
    countries: tuple[Country, ...]


# ---- conditions --------------------------------------------------------------------------------


@node
class FieldRef(Node):
    name: str


@node
class BoolTest(Node):
    """A bare bool field used as a condition: `is_competitor`."""

    field: FieldRef


@node
class Compare(Node):
    field: FieldRef
    op: str  # == != < <= > >=
    value: Value


@node
class In(Node):
    field: FieldRef
    items: tuple[Value, ...]
    negated: bool = False


@node
class Between(Node):
    field: FieldRef
    low: Value
    high: Value


@node
class Has(Node):
    field: FieldRef
    quantifier: Quantifier = _vocabulary(Quantifier)
    items: tuple[Value, ...]


@node
class Like(Node):
    field: FieldRef
    pattern: StringValue


@node
class Resembles(Node):
    field: FieldRef
    phrases: tuple[StringValue, ...]
    threshold: Decimal | None = None


@node
class RoleTest(Node):
    """A condition on the role read from a title (unstuck_dsl.titles): `title function in
    {"Sales"}`, `title seniority >= "VP"`. `op` is a comparison, `in` or `not in`; `items` holds
    one name for a comparison."""

    field: FieldRef
    part: str  # "function" | "seniority"
    op: str
    items: tuple[StringValue, ...]


@node
class Within(Node):
    """`date within [next] N unit`: the last (or next) N units, counted from the as-of date."""

    field: FieldRef
    amount: int
    unit: str  # "day" | "week" | "month" | "year"
    future: bool = False


@node
class RelativeDate(Node):
    """`N unit ago`, resolved against the as-of date of the run."""

    amount: int
    unit: str


@node
class DateBound(Node):
    field: FieldRef
    side: str  # "before" | "after"
    bound: DateValue | RelativeDate


@node
class IsKnown(Node):
    field: FieldRef
    known: bool


@node
class Not(Node):
    operand: Condition


@node
class And(Node):
    operands: tuple[Condition, ...]


@node
class Or(Node):
    operands: tuple[Condition, ...]


Predicate = Union[BoolTest, Compare, In, Between, Has, Like, Resembles, RoleTest, Within, DateBound, IsKnown]
Condition = Union[Predicate, Not, And, Or]


# ---- ICPs and Personas ---------------------------------------------------------------------------


@node
class Param(Node):
    mode: Mode = _vocabulary(Mode)
    weight: Decimal | None
    display_name: str | None
    unknown: str | None  # None | "passes" | "excludes"
    condition: Condition


@node
class Drop(Node):
    """Inside a persona instance: remove the template parameter with this name."""

    name: str


@node
class Persona(Node):
    code: str
    display_name: str | None
    status: Status | None = _vocabulary(Status, optional=True)
    params: tuple[Param | Inherited, ...]  # Inherited only in a Persona made by expand_templates


@node
class Inherited(Node):
    """In a Persona that `expand.expand_templates` made from a template: the template's parameter
    as the template declares it. It is checked there, once, not again in every Persona made."""

    template: str
    param: Param


@node
class PersonaInstance(Node):
    """`persona CODE from TEMPLATE { overrides }`: an independent copy of a template."""

    code: str
    display_name: str | None
    status: Status | None = _vocabulary(Status, optional=True)
    template: str
    overrides: tuple[Param | Drop, ...] | None


@node
class PersonaTemplate(Node):
    code: str
    display_name: str | None
    status: Status | None = _vocabulary(Status, optional=True)
    params: tuple[Param, ...]


@node
class Icp(Node):
    code: str
    display_name: str | None
    status: Status | None = _vocabulary(Status, optional=True)
    params: tuple[Param, ...]
    personas: tuple[Persona | PersonaInstance, ...]


@node
class Audience(Node):
    """A saved condition over scores, codes, bands and fields: who to hand to outbound."""

    code: str
    display_name: str | None
    condition: Condition


@node
class SignalDecl(Node):
    """A signal type: its source weight and how it fades (`half_life` or `window`, N units)."""

    code: str
    weight: Decimal
    decay: str  # "half_life" | "window"
    amount: Decimal
    unit: str


@node
class StageLevel(Node):
    name: str
    below: Decimal | None  # None for the last, open-ended stage


@node
class Engagement(Node):
    signals: tuple[SignalDecl, ...]
    stages: tuple[StageLevel, ...]


# ---- rule tests: `test "name" { ... }`, in `*.test.ust` files; checked, never scored --------------


class Outcome(enum.StrEnum):
    """A parameter's three-valued outcome on a record, as a test expects it."""

    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"


@node
class AsOf(Node):
    day: dt.date


@node
class GivenField(Node):
    """One field value of a test's record; a set field is given as a tuple of values."""

    name: str
    value: Value | tuple[Value, ...]


@node
class GivenRecord(Node):
    """`account { ... }` or `lead { ... }` in a test: a field not given is unknown."""

    kind: RecordKind = _vocabulary(RecordKind)
    fields: tuple[GivenField, ...]


@node
class GivenSignal(Node):
    """`signal TYPE DATE`: an engagement signal of the test's lead (or account, without a lead)."""

    code: str
    day: dt.date


@node
class ExpectIcp(Node):
    """`expect icp CODE`, or `expect no icp` (code None)."""

    code: str | None


@node
class ExpectPersona(Node):
    """`expect persona CODE` (`no_persona_fit` included)."""

    code: str


@node
class ExpectColumn(Node):
    """`expect icp_score >= 80`: a score column compared as an audience condition compares it."""

    column: str
    op: str
    value: Value


@node
class ExpectAudience(Node):
    """`expect audience CODE` / `expect not audience CODE`."""

    code: str
    member: bool = True


@node
class ExpectParam(Node):
    """`expect [ICP[.PERSONA]] "Label" true|false|unknown`: one parameter's outcome. `owner` is
    what was written (empty when nothing was); the checker resolves it to (ICP,) or (ICP, Persona)."""

    owner: tuple[str, ...]
    label: str
    outcome: Outcome = _vocabulary(Outcome)


Expectation = Union[ExpectIcp, ExpectPersona, ExpectColumn, ExpectAudience, ExpectParam]


@node
class RuleTest(Node):
    name: str
    as_of: AsOf | None
    records: tuple[GivenRecord, ...]
    signals: tuple[GivenSignal, ...]
    expectations: tuple[Expectation, ...]

    def record(self, kind: str) -> GivenRecord | None:
        return next((r for r in self.records if r.kind == kind), None)


@node
class TitleMeaning(Node):
    """One meaning of a `titles` entry: `function "RevOps"`, `seniority "VP"`, `means "..."`
    (an abbreviation), `scope`, `changes "Operations"` (a function-changing word)."""

    kind: str  # "function" | "seniority" | "means" | "scope" | "changes"
    value: StringValue | None  # None for `scope`


@node
class TitleEntry(Node):
    phrase: StringValue
    meanings: tuple[TitleMeaning, ...]


@node
class TitlesBlock(Node):
    """`titles { "revenue architect": function "RevOps" seniority "IC" ... }`: words the
    workspace adds to the title vocabulary (unstuck_dsl.titles, docs/titles.md)."""

    entries: tuple[TitleEntry, ...]


Declaration = Union[FieldsBlock, RegionDecl, Icp, PersonaTemplate, Audience, Engagement, TitlesBlock, RuleTest]


@node
class RuleFile(Node):
    path: str
    declarations: tuple[Declaration, ...]


@node
class Workspace(Node):
    files: tuple[RuleFile, ...]
    # When `files` are expand_templates' output: the files as parsed, which a ruleset's content
    # hash covers.
    as_written: tuple[RuleFile, ...] | None = attrs.field(default=None, eq=False, repr=False)

    def declarations(self):
        for rule_file in self.files:
            yield from rule_file.declarations


def fields_read(condition: Condition) -> list[FieldRef]:
    """The field references of a condition, in source order."""
    if isinstance(condition, Not):
        return fields_read(condition.operand)
    if isinstance(condition, (And, Or)):
        return [ref for operand in condition.operands for ref in fields_read(operand)]
    return [condition.field]


def predicates(condition: Condition) -> list[Predicate]:
    """The predicates of a condition, in source order."""
    if isinstance(condition, Not):
        return predicates(condition.operand)
    if isinstance(condition, (And, Or)):
        return [p for operand in condition.operands for p in predicates(operand)]
    return [condition]
