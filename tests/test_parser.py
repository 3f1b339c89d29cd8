"""The parser: rule text → AST shapes, spans, string escapes, syntax errors as diagnostics."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from unstuck_dsl import ast, parsed, parser
from unstuck_dsl.ast import (
    And,
    Between,
    BoolTest,
    BoolValue,
    Compare,
    DateBound,
    DateValue,
    FieldRef,
    Has,
    In,
    IsKnown,
    Like,
    NameValue,
    Not,
    NumberValue,
    Or,
    RelativeDate,
    Resembles,
    StringValue,
    Within,
)
from unstuck_dsl.diagnostics import RuleError
from unstuck_dsl.grammar import fingerprint, grammar_parser, lalr
from unstuck_dsl.parser import grammar_text, lark_parser, parse_source, parse_text
from unstuck_dsl.source import Source

REPO = Path(__file__).resolve().parent.parent


def declarations(text: str) -> tuple:
    return parse_text(text, "t.ust").declarations


def condition(text: str):
    """The AST of one condition, written as an ICP filter."""
    (icp,) = declarations(f"icp x {{ filter: {text} }}")
    return icp.params[0].condition


def syntax_error(text: str):
    rule_file, diagnostics = parse_source(Source("t.ust", text))
    assert rule_file is None
    (diagnostic,) = diagnostics
    return diagnostic


def F(name: str) -> FieldRef:
    return FieldRef(name)


def S(text: str) -> StringValue:
    return StringValue(text)


def N(text: str) -> NumberValue:
    return NumberValue(Decimal(text))


# ---- declarations ------------------------------------------------------------------------------


def test_fields_block_every_type():
    (accounts, leads) = declarations("""
        account fields {
          industry: category
          employees: int
          arr_usd: number
          is_competitor: bool
          hired_ciso_on: date
          tech_stack: open set
          offices: set
          funding_stage: ordinal("Seed", "Series A",)
        }
        lead fields { title: text }
    """)
    assert accounts == ast.FieldsBlock("account", (
        ast.FieldDecl("industry", ast.TypeRef("category")),
        ast.FieldDecl("employees", ast.TypeRef("int")),
        ast.FieldDecl("arr_usd", ast.TypeRef("number")),
        ast.FieldDecl("is_competitor", ast.TypeRef("bool")),
        ast.FieldDecl("hired_ciso_on", ast.TypeRef("date")),
        ast.FieldDecl("tech_stack", ast.TypeRef("set", open=True)),
        ast.FieldDecl("offices", ast.TypeRef("set", open=False)),
        ast.FieldDecl("funding_stage", ast.TypeRef("ordinal", levels=(S("Seed"), S("Series A")))),
    ))
    assert leads == ast.FieldsBlock("lead", (ast.FieldDecl("title", ast.TypeRef("text")),))


def test_an_empty_file_and_an_empty_block_are_fine():
    assert declarations("") == ()
    assert declarations("# only a comment") == ()
    assert declarations("lead fields {}") == (ast.FieldsBlock("lead", ()),)


def test_region_with_bare_and_quoted_codes():
    (region,) = declarations('region europe "Europe" { GB, "DE", fr, }')
    assert region == ast.RegionDecl("europe", "Europe", (ast.Country("GB"), ast.Country("DE"), ast.Country("fr")))
    (plain,) = declarations("region na { US }")
    assert plain.display_name is None


def test_icp_header_code_name_status():
    live, draft, bare = declarations('icp a "A" live {}  icp b "B" draft {}  icp c {}')
    assert (live.code, live.display_name, live.status) == ("a", "A", "live")
    assert (draft.code, draft.display_name, draft.status) == ("b", "B", "draft")
    # Defaults are applied by the checker, not invented by the parser.
    assert (bare.code, bare.display_name, bare.status) == ("c", None, None)
    assert bare.params == () and bare.personas == ()


def test_status_without_display_name():
    (icp,) = declarations("icp a draft { persona p live {} }")
    assert (icp.display_name, icp.status) == (None, "draft")
    assert (icp.personas[0].display_name, icp.personas[0].status) == (None, "live")


def test_params_and_personas_are_separated_in_order():
    (icp,) = declarations("""
        icp a {
          score 1 "One": x
          persona p "P" draft { filter: y }
          filter "Two": z
          persona q from t
        }
    """)
    assert [p.display_name for p in icp.params] == ["One", "Two"]
    assert icp.personas == (
        ast.Persona("p", "P", "draft", (ast.Param("filter", None, None, None, BoolTest(F("y"))),)),
        ast.PersonaInstance("q", None, None, "t", None),
    )


def test_param_parts():
    (icp,) = declarations("""
        icp a {
          score 5 "Uses Snowflake": x
          score 1_000.25: x
          filter "Industry" unknown passes: x
          exclude unknown excludes: x
          score "No weight": x
        }
    """)
    x = BoolTest(F("x"))
    assert icp.params == (
        ast.Param("score", Decimal("5"), "Uses Snowflake", None, x),
        ast.Param("score", Decimal("1000.25"), None, None, x),
        ast.Param("filter", None, "Industry", "passes", x),
        ast.Param("exclude", None, None, "excludes", x),
        ast.Param("score", None, "No weight", None, x),  # E043 is the checker's business
    )


def test_template_and_instances_with_overrides_and_drop():
    template, icp = declarations("""
        persona template founder "Founder" draft {
          score 5 "C-suite": seniority == "C-suite"
        }
        icp a {
          persona f from founder
          persona g "G" live from founder {
            score 4 "C-suite": seniority == "VP"
            drop "Experience"
          }
          persona h from founder {}
        }
    """)
    assert template == ast.PersonaTemplate("founder", "Founder", "draft", (
        ast.Param("score", Decimal(5), "C-suite", None, Compare(F("seniority"), "==", S("C-suite"))),
    ))
    f, g, h = icp.personas
    assert f == ast.PersonaInstance("f", None, None, "founder", None)
    assert g == ast.PersonaInstance("g", "G", "live", "founder", (
        ast.Param("score", Decimal(4), "C-suite", None, Compare(F("seniority"), "==", S("VP"))),
        ast.Drop("Experience"),
    ))
    # An empty override body is kept apart from no body, so the printer can give it back.
    assert h.overrides == ()


# ---- predicates --------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_compare_every_operator(op):
    assert condition(f"employees {op} 50") == Compare(F("employees"), op, N("50"))


@pytest.mark.parametrize(("text", "value"), [
    ('"software"', S("software")),
    ("2000", N("2000")),
    ("-3", N("-3")),
    ("0.5", N("0.5")),
    ("1_000_000", N("1000000")),
    ("2025-01-31", DateValue(dt.date(2025, 1, 31))),
    ("true", BoolValue(True)),
    ("false", BoolValue(False)),
    ("software", NameValue("software")),
])
def test_value_kinds(text, value):
    assert condition(f"f == {text}") == Compare(F("f"), "==", value)


def test_bool_test():
    assert condition("is_competitor") == BoolTest(F("is_competitor"))


def test_in_and_not_in():
    assert condition('industry in {"software", "saas",}') == In(F("industry"), (S("software"), S("saas")), False)
    assert condition('industry not in {"gambling"}') == In(F("industry"), (S("gambling"),), True)


def test_in_a_region_by_name():
    assert condition("country in europe") == In(F("country"), (NameValue("europe"),))
    assert condition('country in {europe, "CA"}') == In(F("country"), (NameValue("europe"), S("CA")))


def test_between():
    assert condition("employees between 51 and 2000") == Between(F("employees"), N("51"), N("2000"))
    assert condition('stage between "Seed" and "Series A"') == Between(F("stage"), S("Seed"), S("Series A"))


def test_has_one_any_all():
    assert condition('tech_stack has "Okta"') == Has(F("tech_stack"), "one", (S("Okta"),))
    assert condition('tech_stack has any {"a", "b"}') == Has(F("tech_stack"), "any", (S("a"), S("b")))
    assert condition('tech_stack has all {"a"}') == Has(F("tech_stack"), "all", (S("a"),))
    assert condition("offices has any europe") == Has(F("offices"), "any", (NameValue("europe"),))


def test_like():
    assert condition('title like "*founder*"') == Like(F("title"), S("*founder*"))


def test_resembles_one_phrase_several_and_threshold():
    assert condition('title resembles "VP Sales"') == Resembles(F("title"), (S("VP Sales"),), None)
    assert condition('title resembles {"VP Sales", "Head of Sales"} at 0.8') == Resembles(
        F("title"), (S("VP Sales"), S("Head of Sales")), Decimal("0.8"))


@pytest.mark.parametrize(("text", "amount", "unit", "future"), [
    ("within 12 months", 12, "month", False),
    ("within 1 month", 1, "month", False),
    ("within 30 days", 30, "day", False),
    ("within 2 weeks", 2, "week", False),
    ("within 1 year", 1, "year", False),
    ("within next 90 days", 90, "day", True),
    ("within 0 days", 0, "day", False),
])
def test_within(text, amount, unit, future):
    assert condition(f"d {text}") == Within(F("d"), amount, unit, future)


def test_before_and_after_a_date_or_a_relative_date():
    assert condition("d before 2025-01-31") == DateBound(F("d"), "before", DateValue(dt.date(2025, 1, 31)))
    assert condition("d after 2 years ago") == DateBound(F("d"), "after", RelativeDate(2, "year"))
    assert condition("d after 1 day ago") == DateBound(F("d"), "after", RelativeDate(1, "day"))


def test_is_known_and_unknown():
    assert condition("arr_usd is known") == IsKnown(F("arr_usd"), True)
    assert condition("arr_usd is unknown") == IsKnown(F("arr_usd"), False)


# ---- and / or / not ----------------------------------------------------------------------------

A, B, C = BoolTest(F("a")), BoolTest(F("b")), BoolTest(F("c"))


@pytest.mark.parametrize(("text", "tree"), [
    ("a and b or c", Or((And((A, B)), C))),
    ("a or b and c", Or((A, And((B, C))))),
    ("not a and b", And((Not(A), B))),
    ("not a or b", Or((Not(A), B))),
    ("not (a and b)", Not(And((A, B)))),
    ("(a or b) and c", And((Or((A, B)), C))),
    ("a and (b or c)", And((A, Or((B, C))))),
    ("a and b and c", And((A, B, C))),
    ("a or b or c", Or((A, B, C))),
    ("a and (b and c)", And((A, And((B, C))))),
    ("not not a", Not(Not(A))),
    ("((a))", A),
    ("not (a)", Not(A)),
])
def test_precedence_not_over_and_over_or(text, tree):
    assert condition(text) == tree


# ---- comments, layout, keywords as names --------------------------------------------------------


def test_comments_anywhere():
    text = """# header
account fields { # after a brace
  industry: category  # after a field
  # on its own line
}
icp a # between header and body
{
  filter "x":  # before the condition
    industry == "software" # after it
}
# at the end, without a newline"""
    fields, icp = declarations(text)
    assert fields.fields == (ast.FieldDecl("industry", ast.TypeRef("category")),)
    assert icp.params[0].condition == Compare(F("industry"), "==", S("software"))


def test_hash_inside_text_is_not_a_comment():
    assert condition('title == "Engineer #1"') == Compare(F("title"), "==", S("Engineer #1"))


KEYWORDS = ["account", "lead", "fields", "open", "region", "icp", "persona", "from", "drop", "template",
            "live", "draft", "score", "filter", "exclude", "unknown", "passes", "excludes", "or", "and",
            "in", "between", "has", "any", "all", "like", "resembles", "within", "next", "is", "known",
            "before", "after", "true", "false", "at", "ago", "days", "month"]


@pytest.mark.parametrize("word", KEYWORDS)
def test_keywords_are_usable_as_names_where_no_keyword_fits(word):
    text = f"""
        account fields {{ {word}: int }}
        region {word} {{ US }}
        icp {word} {{
          filter: {word} > 1 and {word} < 3
          filter: {word}
          persona {word} {{}}
        }}
    """
    fields, region, icp = declarations(text)
    assert fields.fields[0].name == word
    assert region.code == word
    assert icp.code == word and icp.personas[0].code == word
    assert icp.params[0].condition == And((Compare(F(word), ">", N("1")), Compare(F(word), "<", N("3"))))
    assert icp.params[1].condition == BoolTest(F(word))


def test_not_is_the_one_keyword_a_condition_cannot_start_with_as_a_field():
    assert syntax_error("icp x { filter: not > 1 }").code == "E001"
    (fields,) = declarations("account fields { not: bool }")
    assert fields.fields[0].name == "not"


def test_names_that_start_with_a_keyword_are_names():
    assert condition("index in {1} and order_ == 2 or notable") == Or((
        And((In(F("index"), (N("1"),)), Compare(F("order_"), "==", N("2")))),
        BoolTest(F("notable")),
    ))


# ---- strings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "value"), [
    (r'"say \"hi\""', 'say "hi"'),
    (r'"C:\\temp"', "C:\\temp"),
    (r'"two\nlines"', "two\nlines"),
    (r'"a\tb"', "a\tb"),
    (r'"\\\""', '\\"'),
    ('"Zürich — 東京 🚀"', "Zürich — 東京 🚀"),
    ('""', ""),
])
def test_string_escapes(written, value):
    assert condition(f"title == {written}") == Compare(F("title"), "==", S(value))


def test_text_cannot_span_lines():
    assert syntax_error('icp x { filter: title == "a\nb" }').code == "E002"


# ---- spans -------------------------------------------------------------------------------------

SPAN_TEXT = """account fields {
  industry: category
}
icp mm "MM" live {
  score 5 "A": industry == "x" and not b
  persona p from t { drop "A" }
}
"""


def test_spans_carry_file_line_and_column():
    fields, icp = parse_text(SPAN_TEXT, "rules/x.ust").declarations
    assert str(fields.span) == "rules/x.ust:1:1"
    assert fields.fields[0].span == ast.Span("rules/x.ust", 2, 3, 2, 21)
    assert fields.fields[0].type.span == ast.Span("rules/x.ust", 2, 13, 2, 21)
    assert (icp.span.line, icp.span.column, icp.span.end_line) == (4, 1, 7)
    param = icp.params[0]
    assert (param.span.line, param.span.column) == (5, 3)
    compare, negation = param.condition.operands
    assert compare.span == ast.Span("rules/x.ust", 5, 16, 5, 31)
    assert compare.field.span == ast.Span("rules/x.ust", 5, 16, 5, 24)
    assert compare.value.span == ast.Span("rules/x.ust", 5, 28, 5, 31)
    assert (negation.span.line, negation.span.column) == (5, 36)
    persona = icp.personas[0]
    assert (persona.span.line, persona.span.column) == (6, 3)
    assert persona.overrides[0].span == ast.Span("rules/x.ust", 6, 22, 6, 30)


def test_spans_of_tokens_inside_lists():
    (region,) = parse_text('region europe {\n  GB,\n    "DE" }', "r.ust").declarations
    assert [(c.span.line, c.span.column) for c in region.countries] == [(2, 3), (3, 5)]
    (fields,) = parse_text('lead fields { s: ordinal("IC",\n "VP") }', "f.ust").declarations
    assert [(lv.span.line, lv.span.column) for lv in fields.fields[0].type.levels] == [(1, 26), (2, 2)]


def test_spans_are_excluded_from_equality_and_hashing():
    compact = parse_text(SPAN_TEXT, "x.ust")
    relaid = parse_text("""# the same rules, laid out differently
account fields { industry : category }


icp mm "MM" live { score 5 "A" :
    industry=="x"   # a comment
    and not b
  persona p from t {
    drop "A" } }""", "x.ust")
    assert compact == relaid
    assert hash(compact) == hash(relaid)
    assert compact.declarations[1].span != relaid.declarations[1].span
    assert compact.declarations[1].params[0].span != relaid.declarations[1].params[0].span


def test_different_programs_are_not_equal():
    assert condition("a and b") != condition("b and a")
    assert condition("employees > 5") != condition("employees >= 5")
    assert condition('x == "a"') != condition("x == a")


# ---- the grammar ships with the package ---------------------------------------------------------


def test_grammar_is_package_data():
    packaged = resources.files("unstuck_dsl.grammar").joinpath("unstuck.lark").read_text("utf-8")
    assert grammar_text() == packaged
    assert lark_parser().options.propagate_positions


def test_the_shipped_parser_is_generated_from_the_shipped_grammar():
    assert lalr.GRAMMAR_FINGERPRINT == fingerprint(grammar_text())


def test_a_grammar_edited_after_its_parser_was_generated_is_refused(monkeypatch):
    monkeypatch.setattr(parser, "grammar_text", lambda: grammar_text() + "\n// edited\n")
    with pytest.raises(RuntimeError, match="run `make parser`"):
        parser.lark_parser.__wrapped__()


def _parsed_by(lark_parser, text: str):
    """What a parser makes of `text`, comparable across the generated parser and Lark's own: the
    tree with every token and position, or the syntax error with its place and expectations."""
    def shape(node):
        if isinstance(node, str):  # a token
            return node.type, str(node), node.line, node.column, node.end_line, node.end_column, node.end_pos
        if node is None:  # an absent optional part
            return None
        meta = node.meta
        where = () if meta.empty else (meta.line, meta.column, meta.end_line, meta.end_column)
        return node.data, where, [shape(child) for child in node.children]

    try:
        return shape(lark_parser.parse(text))
    except Exception as exc:  # each parser's own UnexpectedInput
        token = getattr(exc, "token", None)
        return (type(exc).__name__, exc.line, exc.column, sorted(getattr(exc, "expected", None) or ()),
                sorted(getattr(exc, "allowed", None) or ()), token and (token.type, str(token)))


def test_the_generated_parser_parses_as_lark_does(tmp_path, monkeypatch):
    """The same trees, positions and syntax errors as Lark's own parser of the grammar, over every
    rule file of the repository and the example ICPs broken a token at a time: the parser built
    from the generated tables, the same parser as a later process reads it back, and as a process
    after that reads it back with the lexers the first built (their expressions compiled)."""
    monkeypatch.setenv("UNSTUCK_CACHE_DIR", str(tmp_path))
    process_ends = []
    monkeypatch.setattr(parsed.atexit, "register", lambda then, *args: process_ends.append((then, args)))
    built = parsed.kept_parser(parser.built_parser, parser.lexers_built)
    read_back = parsed.kept_parser(lambda: pytest.fail("kept, yet built again"))
    reference = grammar_parser()
    texts = [path.read_text(encoding="utf-8") for path in sorted(REPO.glob("**/*.ust")) if ".venv" not in path.parts]
    texts += list(_broken_variants())
    assert len(texts) > 100
    expected = [_parsed_by(reference, text) for text in texts]
    for text, shape in zip(texts, expected):
        assert _parsed_by(built, text) == _parsed_by(read_back, text) == shape, text
    for then, args in process_ends:
        then(*args)
    with_lexers = parsed.kept_parser(lambda: pytest.fail("kept, yet built again"))
    assert parser.lexers_built(with_lexers) == parser.lexers_built(built) > 0
    for text, shape in zip(texts, expected):
        assert _parsed_by(with_lexers, text) == shape, text


def test_parser_works_from_any_working_directory(tmp_path):
    code = "from unstuck_dsl.parser import parse_text; print(parse_text('icp a { filter: x }').declarations[0].code)"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "a"


# ---- syntax errors: diagnostics in the author's words --------------------------------------------


def test_parse_text_raises_rule_error_with_the_diagnostic():
    with pytest.raises(RuleError) as caught:
        parse_text("icp x {", "broken.ust")
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code == "E001"
    assert "broken.ust:1:" in str(caught.value)


@pytest.mark.parametrize(("text", "code", "line", "column"), [
    ('icp x { filter "A" x }', "E001", 1, 20),
    ("icp x { filter: y >\n}", "E001", 2, 1),
    ("icp x {\n  filter: y", "E001", 2, 11),
    ("icp x {\n  filter: y > 1000", "E001", 2, 18),  # the last character, not the start of 1000
    ("icp x {  # note\u2028more\n", "E001", 1, 20),  # U+2028 does not end a line
    ('icp x { filter: y == "z }', "E002", 1, 22),
    ("icp x { filter: y @ 1 }", "E002", 1, 19),
    ("icp x { filter: d after 2025-13-01 }", "E004", 1, 25),
    ("icp x { filter: d within 100001 days }", "E004", 1, 26),
    ("icp x { filter: d after 2.5 years ago }", "E004", 1, 25),
    ("icp x { filter: " + "not " * 200 + "y }", "E003", 1, None),
])
def test_syntax_error_codes_and_positions(text, code, line, column):
    diagnostic = syntax_error(text)
    assert diagnostic.code == code
    assert diagnostic.span.file == "t.ust"
    assert diagnostic.span.line == line
    if column is not None:
        assert diagnostic.span.column == column
    assert diagnostic.hint or diagnostic.label


def test_deep_parentheses_alone_are_not_nesting():
    """Redundant parentheses add no depth; only not / and / or nest."""
    assert condition("(" * 500 + "a" + ")" * 500) == A


VALID = (REPO / "rules" / "icps.ust").read_text(encoding="utf-8")
TERMINAL_NAMES = {t.name for t in lark_parser().terminals} | {"$END"}


def _broken_variants():
    """The example ICPs with one token deleted at a time: many different syntax errors."""
    tokens = list(re.finditer(r'"[^"\n]*"|\w+|[^\s\w]+', VALID))
    for match in tokens[::3]:
        yield VALID[:match.start()] + VALID[match.end():]


def test_syntax_errors_never_show_lark_token_names():
    seen = 0
    for text in _broken_variants():
        rule_file, diagnostics = parse_source(Source("t.ust", text))
        for d in diagnostics:
            seen += 1
            # What the author wrote is quoted; only the words around it must be the author's.
            ours = re.sub(r"`[^`]*`|\"[^\"]*\"", "", f"{d.message} {d.label} {d.hint}")
            words = set(re.findall(r"(?<![\w$])[A-Z_$][A-Z0-9_]+\b", ours))
            assert not words & TERMINAL_NAMES, (d, text)
            assert "Token(" not in d.message and "Expected" not in d.message
    assert seen > 20
