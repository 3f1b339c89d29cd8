"""Hypothesis strategies for rule workspaces and data, shared by the semantic property tests
and the compiler's differential tests.

- `schemas()`: field declarations for accounts and leads, every type, safe names.
- `rulesets(schema=None)`: well-typed rule TEXT for a schema, returned with its checked ruleset.
- `field_values(field_type)`, `record(...)`, `records(...)`: Python values in the reference
  evaluator's convention (str, int, float, bool, datetime.date, frozenset/list of str for sets,
  None for unknown).
- `datasets(schema)`: (accounts, leads, as_of).

Rule literals and record values are drawn from the same small pools (numbers, dates relative to
the as-of dates, strings, titles), so comparisons often land exactly on a boundary.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import string
from collections.abc import Callable
from decimal import Decimal
from functools import cache, lru_cache

import attrs
from hypothesis import strategies as st

from unstuck_dsl import ast, dates
from unstuck_dsl.model import NO_PERSONA_FIT, Ruleset
from unstuck_dsl.parser import grammar_text
from unstuck_dsl.pipeline import load_ruleset
from unstuck_dsl.printer import param_name, print_declaration, print_file
from unstuck_dsl.schema import ACCOUNT_KEY, KEY_COLUMNS, LEAD_KEY, Field, FieldType, Schema

# ---- names ----------------------------------------------------------------------------------------


@cache
def keywords() -> frozenset[str]:
    """Every word the grammar spells out (quoted literals and keyword terminals)."""
    words = set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', grammar_text()))
    return frozenset(words)


RESERVED = keywords() | set(KEY_COLUMNS) | {NO_PERSONA_FIT}

_FIRST = string.ascii_letters
_REST = string.ascii_letters + string.digits + "_"


@lru_cache(maxsize=1024)
def names(min_size: int = 1, max_size: int = 8) -> st.SearchStrategy[str]:
    """Identifiers that are never a keyword, a key column or the reserved persona code."""
    return st.builds(
        lambda first, rest: first + rest,
        st.sampled_from(_FIRST),
        st.text(_REST, min_size=min_size - 1, max_size=max_size - 1),
    ).filter(lambda n: n not in RESERVED)


# ---- value pools shared by rules and data ---------------------------------------------------------

AS_OF_POOL = (
    dt.date(2025, 6, 15),
    dt.date(2024, 2, 29),  # leap day
    dt.date(2024, 3, 31),  # month end after a leap February
    dt.date(2023, 3, 31),  # month end after a common February
    dt.date(2025, 1, 31),
    dt.date(2023, 12, 31),
    dt.date(2000, 1, 1),
)

NUMBER_LITERALS = tuple(Decimal(s) for s in (
    "0", "1", "-1", "0.5", "2.25", "50", "51", "100", "-0.5", "0.1", "1000000", "2000", "-0",
    "1.5", "12.5", "9007199254740993", "100000000000000000000", "0.0000001",
))

UNITS = ("day", "week", "month", "year")
AMOUNTS = (0, 1, 2, 3, 6, 12, 24, 30)

DATE_LITERALS = tuple(sorted({
    *AS_OF_POOL,
    *(dates.shift(d, n, u) for d in AS_OF_POOL[:4] for n in (-12, -1, 1) for u in ("month", "day", "year")),
    dt.date(1970, 1, 1), dt.date(1999, 12, 31), dt.date(2100, 1, 1), dt.date(1, 1, 1), dt.date(9999, 12, 31),
}))

CATEGORY_POOL = (
    "software", "Software", "saas", "software ", "", "US", "GB", "DE", "CA", "us",
    "café", "cafe\u0301", "日本", "financial services", "a*b", "Series B",
)

TITLE_POOL = (
    "VP Sales", "Vice President of Sales", "head of sales", "Head  of   Sales", "VP, Sales", "Sales VP",
    "vp sales", "VP Sales ", "Sr. Director", "Senior Director", "Director of Sales", "SVP Sales",
    "CEO", "Founder", "Co-founder", "Founder & CEO", "Chief Executive Officer", "Software Engineer",
    "VP of Sales and Marketing", "", " ", "Straße", "STRASSE", "ﬁnance lead", "Ünïcødé Ärzt", "日本語 タイトル",
    "*", "?", "VP Sa?es",
)

# `titles` block entries that change how TITLE_POOL titles and PHRASE_POOL phrases read.
TITLES_EXTENSION_POOL = (
    ("Software Engineer", (("function", "Sales"), ("seniority", "VP"))),
    ("sales vp", (("function", "Marketing"), ("seniority", "Manager"))),
    ("Straße", (("function", "Finance"), ("seniority", "Head of"))),
    ("vp", (("means", "founder"),)),
    ("sales", (("scope", None),)),
    ("founder", (("seniority", "Owner"),)),
    ("日本語", (("function", "Legal"),)),
    ("director", (("seniority", "C-suite"),)),
    ("ops", (("changes", "Operations"),)),
)

SET_ITEM_POOL = ("Snowflake", "Okta", "dbt", "Segment", "snowflake", "US", "GB", "", "ü", "a;b")

LEVEL_POOL = ("Pre-seed", "Seed", "Series A", "Series B", "Series C", "Public", "IC", "Manager", "VP",
              "C-suite", "日本", 'quo"te\\', "low", "high")

COUNTRY_POOL = ("US", "CA", "GB", "DE", "FR", "JP", "BR")

PATTERN_POOL = ("*", "?", "", "*sales*", "VP*", "vp ?ales", "*Director", "S?r*", "??", "*founder*",
                "US", "*a*", "soft*", "S*", "*are", "[a]", "caf?", "*.*", "日*")

PHRASE_POOL = ("VP Sales", "Head of Sales", "Vice President of Sales", "Founder", "CEO", "Senior Director",
               "Software Engineer", "Chief Revenue Officer", "Sales")

THRESHOLDS = (None, Decimal("0.5"), Decimal("0.8"), Decimal("1"), Decimal("0.6667"), Decimal("0.01"))

# Weights chosen so that exact x.5 ties happen: 1/2 → 50, 1/8 → 12.5, 3/8 → 37.5, 5/8 → 62.5,
# 7/8 → 87.5 (1 and 7, 3 and 5), plus decimals.
WEIGHTS = tuple(Decimal(s) for s in ("1", "1", "1", "3", "5", "7", "0.5", "1.5", "2.25", "0.75", "8", "4"))
ODD_WEIGHTS = tuple(Decimal(s) for s in ("1", "3", "5", "7"))  # any two sum to 8: k / 8 → x.5
WEIGHT_SETS = (WEIGHTS, ODD_WEIGHTS, (Decimal(1),))


# ---- schemas --------------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def field_types() -> st.SearchStrategy[FieldType]:
    """Every type equally often: category, text, number, int, bool, date, ordinal, set, open set."""
    ordinal = st.lists(st.sampled_from(LEVEL_POOL), min_size=1, max_size=5, unique=True).map(
        lambda levels: FieldType("ordinal", levels=tuple(levels)))
    return st.one_of(
        *(st.just(FieldType(name)) for name in ("category", "text", "number", "int", "bool", "date")),
        ordinal, st.just(FieldType("set")), st.just(FieldType("set", open=True)))


@st.composite
def schemas(draw, min_account_fields: int = 1, max_account_fields: int = 6,
            min_lead_fields: int = 0, max_lead_fields: int = 5) -> Schema:
    """A `unstuck_dsl.schema.Schema`: account fields, then lead fields, names unique across both."""
    n_account = draw(st.integers(min_account_fields, max_account_fields))
    n_lead = draw(st.integers(min_lead_fields, max_lead_fields))
    field_names = draw(st.lists(names(), min_size=n_account + n_lead, max_size=n_account + n_lead, unique=True))
    fields = []
    for i, name in enumerate(field_names):
        kind = "account" if i < n_account else "lead"
        fields.append(Field(name, kind, draw(field_types())))
    return Schema(tuple(fields))


def fields_block(schema: Schema, kind: str) -> ast.FieldsBlock:
    decls = []
    for f in schema.of_kind(kind):
        levels = tuple(ast.StringValue(level) for level in f.type.levels) if f.type.name == "ordinal" else None
        decls.append(ast.FieldDecl(f.name, ast.TypeRef(f.type.name, f.type.open, levels)))
    return ast.FieldsBlock(kind, tuple(decls))


# ---- conditions -----------------------------------------------------------------------------------


# Names the title vocabulary knows: functions (a family and a sub-function), the seniority ladder,
# and Founder beside it (compared only for equality).
ROLE_FUNCTIONS = ("Sales", "Marketing", "Executive", "Sales Operations", "Security", "Engineering")
ROLE_LADDER = ("IC", "Manager", "Director", "Head of", "VP", "C-suite")


def _role_tests(ref: ast.FieldRef) -> st.SearchStrategy:
    names = st.lists(st.sampled_from(ROLE_FUNCTIONS), min_size=1, max_size=3, unique=True)
    return st.one_of(
        st.builds(lambda op, items: ast.RoleTest(ref, "function", op, tuple(ast.StringValue(i) for i in items)),
                  st.sampled_from(("in", "not in")), names),
        st.builds(lambda op, name: ast.RoleTest(ref, "function", op, (ast.StringValue(name),)),
                  st.sampled_from(("==", "!=")), st.sampled_from(ROLE_FUNCTIONS)),
        st.builds(lambda op, name: ast.RoleTest(ref, "seniority", op, (ast.StringValue(name),)),
                  st.sampled_from(ORDER_OPS), st.sampled_from(ROLE_LADDER)),
        st.builds(lambda op: ast.RoleTest(ref, "seniority", op, (ast.StringValue("Founder"),)),
                  st.sampled_from(("==", "!="))),
    )


@lru_cache(maxsize=1024)
def _strings(pool) -> st.SearchStrategy[ast.StringValue]:
    return st.sampled_from(pool).map(ast.StringValue)


@lru_cache(maxsize=1024)
def _numbers() -> st.SearchStrategy[ast.NumberValue]:
    return st.sampled_from(NUMBER_LITERALS).map(ast.NumberValue)


@lru_cache(maxsize=1024)
def _dates() -> st.SearchStrategy[ast.DateValue]:
    return st.sampled_from(DATE_LITERALS).map(ast.DateValue)


def _items(values: st.SearchStrategy, regions: tuple[str, ...] = ()) -> st.SearchStrategy[tuple]:
    item = values if not regions else st.one_of(values, st.sampled_from(regions).map(ast.NameValue))
    return st.lists(item, min_size=1, max_size=3).map(tuple)


def _ordered_pair(values: st.SearchStrategy, key: Callable) -> st.SearchStrategy[tuple]:
    return st.tuples(values, values).map(lambda pair: tuple(sorted(pair, key=key)))


ORDER_OPS = ("==", "!=", "<", "<=", ">", ">=")


@lru_cache(maxsize=1024)
def predicates(field: Field, regions: tuple[str, ...] = ()) -> st.SearchStrategy:
    """A well-typed predicate reading `field`."""
    ref = ast.FieldRef(field.name)
    t = field.type
    is_known = st.booleans().map(lambda known: ast.IsKnown(ref, known))
    options = []

    def compare(ops, values):
        return st.builds(lambda op, v: ast.Compare(ref, op, v), st.sampled_from(ops), values)

    def member(values, with_regions=False):
        return st.builds(lambda items, neg: ast.In(ref, items, neg),
                         _items(values, regions if with_regions else ()), st.booleans())

    def between(values, key):
        return _ordered_pair(values, key).map(lambda p: ast.Between(ref, p[0], p[1]))

    if t.name in ("category", "text"):
        pool = TITLE_POOL if t.name == "text" else CATEGORY_POOL
        strings = st.one_of(_strings(pool), _strings(TITLE_POOL + CATEGORY_POOL))
        options += [
            compare(("==", "!="), strings),
            member(strings, with_regions=True),
            st.sampled_from(PATTERN_POOL).map(lambda p: ast.Like(ref, ast.StringValue(p))),
            st.builds(lambda ps, th: ast.Resembles(ref, tuple(ast.StringValue(p) for p in ps), th),
                      st.lists(st.sampled_from(PHRASE_POOL), min_size=1, max_size=3),
                      st.sampled_from(THRESHOLDS)),
            _role_tests(ref),
        ]
    elif t.name == "set":
        strings = _strings(SET_ITEM_POOL + COUNTRY_POOL)
        one = strings if not regions else st.one_of(strings, st.sampled_from(regions).map(ast.NameValue))
        options += [
            one.map(lambda v: ast.Has(ref, "one", (v,))),
            st.builds(lambda q, items: ast.Has(ref, q, items), st.sampled_from(("any", "all")),
                      _items(strings, regions)),
        ]
    elif t.name in ("number", "int"):
        options += [compare(ORDER_OPS, _numbers()), member(_numbers()),
                    between(_numbers(), lambda v: v.value)]
    elif t.name == "date":
        relative = st.builds(ast.RelativeDate, st.sampled_from(AMOUNTS), st.sampled_from(UNITS))
        options += [
            compare(ORDER_OPS, _dates()),
            member(_dates()),
            between(_dates(), lambda v: v.value),
            st.builds(lambda n, u, fut: ast.Within(ref, n, u, fut),
                      st.one_of(st.sampled_from(AMOUNTS), st.just(5000)), st.sampled_from(UNITS), st.booleans()),
            st.builds(lambda side, bound: ast.DateBound(ref, side, bound),
                      st.sampled_from(("before", "after")), st.one_of(_dates(), relative)),
        ]
    elif t.name == "ordinal":
        levels = st.sampled_from(t.levels).map(ast.StringValue)
        options += [compare(ORDER_OPS, levels), member(levels),
                    between(levels, lambda v: t.levels.index(v.value))]
    elif t.name == "bool":
        bools = st.booleans().map(ast.BoolValue)
        options += [st.just(ast.BoolTest(ref)), st.just(ast.BoolTest(ref)),
                    compare(("==", "!="), bools), member(bools)]
    else:  # pragma: no cover
        raise AssertionError(t)
    # `is known` as often as a typical other predicate, not as often as all of them together.
    return st.one_of(*options, *options, *options, is_known)


@lru_cache(maxsize=1024)
def conditions(schema: Schema, kind: str, regions: tuple[str, ...] = (), max_leaves: int = 4):
    """A well-typed condition over the `kind` fields of the schema: predicates combined with
    `not`, `and`, `or`. Requires at least one field of that kind."""
    fields = schema.of_kind(kind)
    assert fields, f"no {kind} fields to write a condition on"
    leaf = st.one_of([predicates(f, tuple(regions)) for f in fields])

    def extend(children):
        both = st.lists(children, min_size=2, max_size=3)
        return st.one_of(
            both.map(lambda cs: ast.And(tuple(cs))),
            both.map(lambda cs: ast.Or(tuple(cs))),
            children.map(ast.Not),
        )

    # Mostly single predicates (what real rules look like, and what makes outcomes vary), some
    # nesting with not / and / or.
    return st.one_of(leaf, leaf, st.recursive(leaf, extend, max_leaves=max_leaves))


DISPLAY_NAMES = ("Uses Snowflake", "Funding stage", "Title", "Ünïcødé name", 'Say "hi"', "a\\b", "Experience",
                 "Industry", "x")


@st.composite
def params(draw, schema: Schema, kind: str, regions: tuple[str, ...] = (), mode=None,
           weights: tuple[Decimal, ...] = WEIGHTS) -> ast.Param:
    """One parameter: mode, weight (score only), maybe a display name, maybe opt-in unknown handling."""
    mode = mode or draw(st.sampled_from(("score", "score", "score", "filter", "exclude")))
    weight = draw(st.sampled_from(weights)) if mode == "score" else None
    display = draw(st.one_of(st.none(), st.sampled_from(DISPLAY_NAMES)))
    unknown = None
    if mode == "filter" and draw(st.booleans()):
        unknown = "passes"
    elif mode == "exclude" and draw(st.booleans()):
        unknown = "excludes"
    return ast.Param(mode, weight, display, unknown, draw(conditions(schema, kind, regions)))


@st.composite
def param_pool(draw, schema: Schema, kind: str, regions: tuple[str, ...], max_size: int = 8):
    """Parameters with distinct names, to be shared by several ICPs (or Personas) so that they
    overlap and tie."""
    if not schema.of_kind(kind):
        return []
    weights = draw(st.sampled_from(WEIGHT_SETS))
    pool = [draw(params(schema, kind, regions, weights=weights)) for _ in range(draw(sizes(1, max_size)))]
    out, seen = [], set()
    for i, p in enumerate(pool):
        name = param_name(p)
        if name in seen:
            p = ast.Param(p.mode, p.weight, f"P{i}", p.unknown, p.condition)
            name = param_name(p)
            if name in seen:
                continue
        seen.add(name)
        out.append(p)
    return out


@lru_cache(maxsize=1024)
def sizes(low: int, high: int) -> st.SearchStrategy[int]:
    """A size from low to high, uniformly. Hypothesis tries (and shrinks to) the first choice
    most often; that is one element rather than none, so empty tables and empty ICPs come up
    in their share but do not crowd out the rest."""
    order = list(range(max(low, 1), high + 1)) + ([0] if low == 0 else [])
    return st.sampled_from(order or [0])


def _pick(draw, pool: list, min_size: int, max_size: int) -> tuple:
    if not pool:
        return ()
    size = draw(sizes(min(min_size, len(pool)), min(max_size, len(pool))))
    indexes = draw(st.lists(st.integers(0, len(pool) - 1), min_size=size, max_size=size, unique=True))
    return tuple(pool[i] for i in indexes)


STATUSES = st.sampled_from((None, "live", "live", "live", "draft"))


def _maybe_eighths(draw, params: tuple) -> tuple:
    """Sometimes give the score parameters weights that sum to 8 (a random composition), so that
    an odd number of earned points normalizes to an exact x.5 (12.5, 37.5, 62.5, 87.5)."""
    scores = [i for i, p in enumerate(params) if p.mode == "score"]
    if not 2 <= len(scores) <= 8 or not draw(st.integers(0, 2)) == 0:
        return params
    cuts = sorted(draw(st.lists(st.integers(1, 7), min_size=len(scores) - 1, max_size=len(scores) - 1, unique=True)))
    weights = [b - a for a, b in zip([0, *cuts], [*cuts, 8])]
    out = list(params)
    for i, w in zip(scores, weights):
        out[i] = attrs.evolve(out[i], weight=Decimal(w))
    return tuple(out)


# ---- rulesets -------------------------------------------------------------------------------------


@st.composite
def rule_files(draw, schema: Schema | None = None, max_icps: int = 4, max_personas: int = 3,
               max_params: int = 6) -> ast.RuleFile:
    """A well-typed rule file as an AST (see `rulesets` for the text and the checked ruleset)."""
    if schema is None:
        schema = draw(schemas())
    region_names = draw(st.lists(names(min_size=3), max_size=2, unique=True))
    regions = tuple(f"r_{n}" for n in region_names)
    region_decls = [
        ast.RegionDecl(code, draw(st.one_of(st.none(), st.just("Région"))),
                       tuple(ast.Country(c) for c in draw(st.lists(st.sampled_from(COUNTRY_POOL), min_size=1, max_size=4))))
        for code in regions
    ]
    account_pool = draw(param_pool(schema, "account", regions))
    lead_pool = draw(param_pool(schema, "lead", regions))

    # Persona templates.
    templates = []
    for code in draw(st.lists(names(), max_size=2 if lead_pool else 0, unique=True)):
        templates.append(ast.PersonaTemplate(code, draw(st.one_of(st.none(), st.just("Template"))), draw(STATUSES),
                                             _pick(draw, lead_pool, 0, max_params)))

    def persona(code: str):
        if templates and draw(st.booleans()):
            template = draw(st.sampled_from(templates))
            names_in_template = [param_name(p) for p in template.params]
            overrides = None
            if draw(st.booleans()):
                members = list(_pick(draw, lead_pool, 0, 3))
                drops = draw(st.lists(st.sampled_from(names_in_template), unique=True,
                                      max_size=len(names_in_template))) if names_in_template else []
                members += [ast.Drop(name) for name in drops]
                overrides = tuple(draw(st.permutations(members)))
            return ast.PersonaInstance(code, draw(st.one_of(st.none(), st.just("Persona"))), draw(STATUSES),
                                       template.code, overrides)
        return ast.Persona(code, draw(st.one_of(st.none(), st.just("Persona ✓"))), draw(STATUSES),
                           _maybe_eighths(draw, _pick(draw, lead_pool, 0, max_params)))

    icps = []
    n_icps = draw(st.integers(1, max_icps))
    icp_codes = draw(st.lists(names(), min_size=n_icps, max_size=n_icps, unique=True))
    for code in icp_codes:
        if icps and draw(st.integers(0, 4)) == 0:
            # A copy of an earlier ICP under another code: every account ties between the two.
            source = draw(st.sampled_from(icps))
            icps.append(ast.Icp(code, source.display_name, draw(STATUSES), source.params, source.personas))
            continue
        persona_codes = draw(st.lists(names(), max_size=max_personas if schema.of_kind("lead") else 0, unique=True))
        icps.append(ast.Icp(code, draw(st.one_of(st.none(), st.just("Mid-market SaaS"), st.just("ICP «2»"))),
                            draw(STATUSES), _maybe_eighths(draw, _pick(draw, account_pool, 0, max_params)),
                            tuple(persona(c) for c in persona_codes)))

    declarations: list = [fields_block(schema, "account")]
    if schema.of_kind("lead") or draw(st.booleans()):
        declarations.append(fields_block(schema, "lead"))
    declarations += region_decls
    if draw(st.integers(0, 3)) == 0:  # a workspace's own title words: the same reader in both engines
        entries = draw(st.lists(st.sampled_from(TITLES_EXTENSION_POOL), min_size=1, max_size=3,
                                unique_by=lambda entry: entry[0]))
        declarations.append(ast.TitlesBlock(tuple(
            ast.TitleEntry(ast.StringValue(phrase), tuple(ast.TitleMeaning(kind, None if value is None else ast.StringValue(value))
                                                          for kind, value in meanings))
            for phrase, meanings in entries)))
    if draw(st.booleans()):
        declarations += templates + icps
    else:
        declarations += icps + templates
    return ast.RuleFile("<rules>", tuple(declarations))


@st.composite
def rulesets(draw, schema: Schema | None = None, **sizes) -> tuple[str, Ruleset]:
    """(rule text, checked ruleset). The text passes `load_ruleset`; its schema is `schema`
    (drawn when not given)."""
    rule_file = draw(rule_files(schema, **sizes))
    text = print_file(rule_file)
    return text, load_ruleset(text)


def ruleset_with_schema(schema: Schema | None = None, **sizes):
    """(rule text, ruleset), usable where the schema is needed afterwards: `ruleset.schema`."""
    return rulesets(schema, **sizes)


# ---- record values --------------------------------------------------------------------------------


def _near(x: float) -> list[float]:
    return [x, math.nextafter(x, math.inf), math.nextafter(x, -math.inf)]


NUMBER_DATA = tuple(dict.fromkeys(
    [v for lit in NUMBER_LITERALS for v in _near(float(lit))]
    + [-0.0, 1e308, -1e308, 5e-324, -5e-324, 2.0 ** 53, 2.0 ** 53 + 2, 0.1 + 0.2, 12.5, 1e-300, -123456.789,
       math.inf, -math.inf, math.nan]
))

INT_DATA = tuple(dict.fromkeys(
    [int(lit) + d for lit in NUMBER_LITERALS if lit == lit.to_integral_value() and abs(lit) < 2 ** 62
     for d in (-1, 0, 1)]
    + [2 ** 31 - 1, -(2 ** 31), 2 ** 53, 2 ** 53 + 1, 2 ** 63 - 1, -(2 ** 63) + 1, 240, 0]
))


@lru_cache(maxsize=1024)
def _date_data(as_of: dt.date | None) -> st.SearchStrategy[dt.date]:
    options = [st.sampled_from(DATE_LITERALS),
               st.sampled_from(DATE_LITERALS).flatmap(lambda d: st.sampled_from([dates.shift(d, k, "day") for k in (-1, 1)])),
               st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))]
    if as_of is not None:
        # Exactly on, and one day either side of, every window edge the rules can write.
        edges = sorted({dates.shift(as_of, sign * n, u) for n in AMOUNTS + (5000,) for u in UNITS for sign in (-1, 1)})
        options.append(st.sampled_from(edges).flatmap(
            lambda d: st.sampled_from([dates.shift(d, k, "day") for k in (-1, 0, 1)])))
        options.append(st.sampled_from([as_of, dates.shift(as_of, -1, "day"), dates.shift(as_of, 1, "day")]))
    return st.one_of(options)


@lru_cache(maxsize=1024)
def field_values(field_type: FieldType, as_of: dt.date | None = None, null: bool = True) -> st.SearchStrategy:
    """One value of a field of this type, None (unknown) included when `null`."""
    t = field_type.name
    if t == "category":
        base = st.one_of(st.sampled_from(CATEGORY_POOL + COUNTRY_POOL), st.text(max_size=6))
    elif t == "text":
        base = st.one_of(st.sampled_from(TITLE_POOL), st.sampled_from(TITLE_POOL).map(str.upper), st.text(max_size=12))
    elif t == "number":
        base = st.one_of(st.sampled_from(NUMBER_DATA),
                         st.floats(allow_nan=False, allow_infinity=False),
                         st.sampled_from(INT_DATA).filter(lambda i: abs(i) < 2 ** 53))
    elif t == "int":
        base = st.one_of(st.sampled_from(INT_DATA), st.integers(-(2 ** 63) + 1, 2 ** 63 - 1))
    elif t == "bool":
        base = st.booleans()
    elif t == "date":
        base = _date_data(as_of)
    elif t == "ordinal":
        base = st.sampled_from(field_type.levels)
    elif t == "set":
        items = st.one_of(st.sampled_from(SET_ITEM_POOL + COUNTRY_POOL), st.text(max_size=4))
        base = st.one_of(st.frozensets(items, max_size=4),
                         st.lists(items, max_size=4))  # lists may repeat an item
    else:  # pragma: no cover
        raise AssertionError(t)
    return st.one_of(st.none(), base, base, base) if null else base


@st.composite
def record(draw, schema: Schema, kind: str, values: dict | None = None, as_of: dt.date | None = None) -> dict:
    """The field values of one record of `kind` (no key columns). `values` maps a field name to a
    strategy that replaces the default one."""
    values = values or {}
    out = {}
    for f in schema.of_kind(kind):
        out[f.name] = draw(values[f.name] if f.name in values else field_values(f.type, as_of))
    return out


ID_ALPHABET = "ab1-é "


@st.composite
def records(draw, schema: Schema, kind: str, values: dict | None = None, as_of: dt.date | None = None,
            account_ids: list[str] | None = None, min_size: int = 0, max_size: int = 6) -> list[dict]:
    """Records of one kind with their key columns: accounts carry a unique "account_id"; leads a
    unique "lead_id" and an "account_id" that mostly names one of `account_ids` and sometimes
    one that does not exist."""
    key = ACCOUNT_KEY if kind == "account" else LEAD_KEY
    prefix = "a" if kind == "account" else "l"
    size = draw(sizes(min_size, max_size))
    ids = draw(st.lists(st.text(ID_ALPHABET, max_size=3).map(lambda s: prefix + s),
                        min_size=size, max_size=size, unique=True))
    out = []
    for record_id in ids:
        row = {key: record_id}
        if kind == "lead":
            row[ACCOUNT_KEY] = draw(st.sampled_from([*(account_ids or ()), "missing-account"]))
        row.update(draw(record(schema, kind, values, as_of)))
        out.append(row)
    return out


@st.composite
def datasets(draw, schema: Schema, max_accounts: int = 6, max_leads: int = 8, as_of: dt.date | None = None,
             account_values: dict | None = None, lead_values: dict | None = None,
             ) -> tuple[list[dict], list[dict], dt.date]:
    """(accounts, leads, as_of): empty and one-row tables included. `account_values` and
    `lead_values` override the strategy of some fields (see `record`)."""
    if as_of is None:
        as_of = draw(st.one_of(st.sampled_from(AS_OF_POOL), st.dates(dt.date(1900, 1, 1), dt.date(2200, 12, 31))))
    accounts = draw(records(schema, "account", account_values, as_of=as_of, max_size=max_accounts))
    account_ids = [a[ACCOUNT_KEY] for a in accounts]
    leads = draw(records(schema, "lead", lead_values, as_of=as_of, account_ids=account_ids, max_size=max_leads))
    return accounts, leads, as_of


@st.composite
def workloads(draw, **sizes) -> tuple[str, Ruleset, list[dict], list[dict], dt.date]:
    """A ruleset and data for it: (text, ruleset, accounts, leads, as_of)."""
    text, ruleset = draw(rulesets(**sizes))
    accounts, leads, as_of = draw(datasets(ruleset.schema))
    return text, ruleset, accounts, leads, as_of


# ---- audiences -----------------------------------------------------------------------------------

SCORE_LITERALS = (0, 25, 26, 50, 51, 60, 75, 76, 100)


def _score_predicates(ruleset: Ruleset) -> st.SearchStrategy:
    from unstuck_dsl.schema import BAND_LEVELS

    scores = st.sampled_from(SCORE_LITERALS).map(lambda n: ast.NumberValue(Decimal(n)))
    bands = st.sampled_from(BAND_LEVELS).map(ast.StringValue)
    options = []
    for name in ("icp_score", "persona_score"):
        ref = ast.FieldRef(name)
        options.append(st.builds(lambda op, v, ref=ref: ast.Compare(ref, op, v), st.sampled_from(ORDER_OPS), scores))
        options.append(st.builds(lambda ref=ref: ast.IsKnown(ref, True)))
    for name in ("icp_band", "persona_band"):
        ref = ast.FieldRef(name)
        options.append(st.builds(lambda op, v, ref=ref: ast.Compare(ref, op, v), st.sampled_from(ORDER_OPS), bands))
    codes = {"icp_code": [i.code for i in ruleset.icps],
             "persona_code": sorted({p.code for i in ruleset.icps for p in i.personas}) + [NO_PERSONA_FIT]}
    for name, known in codes.items():
        if known:
            ref = ast.FieldRef(name)
            values = st.sampled_from(known).map(ast.StringValue)
            options.append(st.builds(lambda items, neg, ref=ref: ast.In(ref, tuple(items), neg),
                                     st.lists(values, min_size=1, max_size=2), st.booleans()))
    return st.one_of(options)


@st.composite
def audiences(draw, text: str, ruleset: Ruleset) -> tuple[str, Ruleset]:
    """The ruleset with one audience `aud` added: scores, codes and bands mixed with fields."""
    leaves = [_score_predicates(ruleset)]
    if ruleset.schema.fields:
        leaves.append(st.sampled_from(ruleset.schema.fields).flatmap(predicates))
    leaf = st.one_of(leaves)
    condition = draw(st.recursive(leaf, lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda cs: ast.And(tuple(cs))),
        st.lists(children, min_size=2, max_size=3).map(lambda cs: ast.Or(tuple(cs))),
        children.map(ast.Not)), max_leaves=4))
    full = text + "\n" + print_declaration(ast.Audience("aud", None, condition)) + "\n"
    return full, load_ruleset(full)
