"""Parsing: rule text → Lark parse tree → AST, with Lark's errors turned into diagnostics.

The grammar is package data (`unstuck_dsl.grammar/unstuck.lark`), parsed by the LALR parser
generated from it (`unstuck_dsl.grammar/lalr.py`: Lark's parsing code and the grammar's tables, so
no process analyses the grammar or loads Lark itself). One pass builds the AST, one method per
grammar rule, each node stamped with its span.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal, InvalidOperation

import attrs

from . import ast
from .diagnostics import Code, Diagnostic, did_you_mean
from .grammar import fingerprint, grammar_text, lexer_re
from .grammar.lalr import (
    GRAMMAR_FINGERPRINT,
    Lark,
    Lark_StandAlone,
    Token,
    Tree,
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)
from .parsed import kept_parser
from .source import TEXT_NAME, Source

# Parentheses and `not` nest; the tree → AST pass recurses, so deep nesting is refused up front.
MAX_NESTING = 100


@functools.cache
def lark_parser() -> Lark:
    """The grammar's parser, from its generated tables (kept ready between processes, `parsed`);
    refused when the grammar has changed since they were generated (`make parser` writes them
    anew)."""
    if GRAMMAR_FINGERPRINT != fingerprint(grammar_text()):
        raise RuntimeError("unstuck_dsl/grammar/unstuck.lark changed after its parser was generated: "
                           "run `make parser` (python -m unstuck_dsl.grammar)")
    return kept_parser(built_parser, lexers_built)


def built_parser() -> Lark:
    """The grammar's parser, from its generated tables, its lexers compiling their regular
    expressions with `lexer_re` (which keeps their code, for the kept parser)."""
    parser = Lark_StandAlone()
    parser.lexer_conf.re_module = lexer_re
    for state_lexer in _state_lexers(parser):
        state_lexer.re = lexer_re
    return parser


def lexers_built(parser: Lark) -> int:
    """How many of the parser's lexers are built: Lark's contextual lexer builds the lexer of a
    parser state (its regular expressions, compiled) the first time a text reaches the state."""
    return sum(state_lexer._scanner is not None for state_lexer in _state_lexers(parser))


def _state_lexers(parser: Lark) -> tuple:
    """The contextual lexer's lexers: its root one and one per parser state."""
    lexer = parser.parser.lexer
    return (lexer.root_lexer, *lexer.lexers.values())


class _Invalid(Exception):
    """Raised inside the transformer for a literal that parses but cannot be a value."""

    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic


def parse_source(source: Source) -> tuple[ast.RuleFile | None, list[Diagnostic]]:
    """Parse one rule file. Returns the AST, or None with the diagnostics that stopped it."""
    try:
        tree = lark_parser().parse(source.text)
    except UnexpectedInput as exc:
        return None, [syntax_diagnostic(exc, source)]
    too_deep = _nesting_diagnostic(tree, source)
    if too_deep:
        return None, [too_deep]
    try:
        declarations = _ToAst(source.name).transform(tree)
    except _Invalid as exc:
        return None, [exc.diagnostic]
    return ast.RuleFile(source.name, tuple(declarations), span=_file_span(source)), []


def parse_text(text: str, name: str = TEXT_NAME) -> ast.RuleFile:
    """Parse rule text, raising RuleError on a syntax error (a convenience for tests and the API)."""
    from .diagnostics import RuleError

    source = Source(name, text)
    rule_file, diagnostics = parse_source(source)
    if rule_file is None:
        raise RuleError(diagnostics, {name: source})
    return rule_file


def _file_span(source: Source) -> ast.Span:
    return ast.Span(source.name, 1, 1, 1, 1)


# ---- syntax errors in words an author understands ---------------------------------------------

_TOKEN_WORDS = {
    "NAME": "a name",
    "STRING": "text in double quotes",
    "NUMBER": "a number",
    "DATE": "a date (YYYY-MM-DD)",
    "COMP_OP": "a comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`)",
    "MODE": "a parameter (`score`, `filter` or `exclude`)",
    "RECORD_KIND": "`account` or `lead`",
    "UNIT": "a unit (`days`, `weeks`, `months`, `years`)",
    "LIVE": "`live`",
    "DRAFT": "`draft`",
    "KNOWN": "`known` or `unknown`",
    "DATE_SIDE": "`before` or `after`",
    "UNKNOWN_EFFECT": "`passes` or `excludes`",
    "$END": "the end of the file",
}

# The expected-token sets that have a more helpful phrasing than a list.
_EXPECTATION_HINTS = [
    ({"COMP_OP", "IN", "BETWEEN", "HAS"}, "a condition goes on with an operator such as `==`, `in`, `between` or `has`"),
    ({"NUMBER", "COLON"}, "a score parameter is written `score WEIGHT \"Name\": condition`, e.g. `score 5 \"Uses Snowflake\": tech_stack has \"Snowflake\"`"),
    ({"STRING", "NUMBER", "DATE"}, 'a comparison needs a value after it, e.g. `industry == "software"` or `employees > 50`'),
    ({"COLON"}, "a parameter is written `filter \"Name\": condition`; the `:` separates the name from the condition"),
]


def _describe_terminal(name: str) -> str:
    if name in _TOKEN_WORDS:
        return _TOKEN_WORDS[name]
    try:
        pattern = lark_parser().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    return f"`{pattern.value}`"


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "end of the file"
    if token.type == "STRING":
        return f"text {token}"
    return f"`{token}`"


def syntax_diagnostic(exc: UnexpectedInput, source: Source) -> Diagnostic:
    line, column = exc.line if exc.line > 0 else 1, exc.column if exc.column > 0 else 1
    if isinstance(exc, UnexpectedCharacters):
        char = source.text[exc.pos_in_stream] if exc.pos_in_stream < len(source.text) else ""
        span = ast.Span(source.name, line, column, line, column + 1)
        if char == '"':
            return Diagnostic(Code.E002, "unterminated text: a `\"` without its closing quote on the same line",
                              span, "this quote is never closed", 'close the text with `"` before the end of the line')
        shown = repr(char)[1:-1]
        return Diagnostic(Code.E002, f"unexpected character `{shown}`", span, "not part of the rule language",
                          "names use letters, digits and `_`; text goes in double quotes; comments start with `#`")
    expected = set(getattr(exc, "accepts", None) or getattr(exc, "expected", None) or ())
    # The LALR parser reports the end of the file as an UnexpectedToken `$END` that borrows the
    # position of the last token's start; show the end of the file instead.
    if isinstance(exc, UnexpectedEOF) or exc.token.type == "$END":
        # Lines as Lark counts them (only "\n" ends one), ignoring the final line break.
        lines = source.text.removesuffix("\n").split("\n")
        line, column = len(lines), len(lines[-1].removesuffix("\r")) + 1
        found = "end of the file"
        span = ast.Span(source.name, line, max(column - 1, 1), line, column)
    else:
        token = exc.token
        found = _describe_token(token)
        end = token.end_column if token.end_column else column + 1
        span = ast.Span(source.name, line, column, line, end)
    words = sorted({_describe_terminal(t) for t in expected if not t.startswith("__")})
    if len(words) > 6:
        label = "this does not fit here"
    else:
        label = "expected " + (" or ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else words[0] if words else "something else")
    hint = next((text for need, text in _EXPECTATION_HINTS if need <= expected), "")
    if not hint and isinstance(exc, UnexpectedToken) and str(exc.token).isidentifier() and "NAME" in expected:
        hint = f"`{exc.token}` is a keyword here; put it in double quotes if it is text"
    if not hint and isinstance(exc, UnexpectedToken) and exc.token.type == "NAME":
        suggestion = did_you_mean(str(exc.token), [w.strip("`") for w in words if w.startswith("`")])
        hint = suggestion
    return Diagnostic(Code.E001, f"unexpected {found}", span, label, hint)


def _nesting_diagnostic(tree: Tree, source: Source) -> Diagnostic | None:
    stack = [(tree, 0)]
    while stack:
        subtree, depth = stack.pop()
        if depth > MAX_NESTING:
            meta = subtree.meta
            span = ast.Span(source.name, meta.line, meta.column, meta.line, meta.column + 1)
            return Diagnostic(Code.E003, f"conditions nested more than {MAX_NESTING} deep", span,
                              "nesting goes too deep here", "split the condition into several parameters")
        stack.extend((child, depth + 1) for child in subtree.children if isinstance(child, Tree))
    return None


# ---- tree → AST -------------------------------------------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def unquote(token: Token) -> str:
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\" and i + 1 < len(body):
            out.append(_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _singular(unit: str) -> str:
    return unit[:-1] if unit.endswith("s") else unit


class _ToAst:
    """One method per grammar rule (or alias): the rule's span, then its children in order, an
    optional `[x]` of the grammar arriving as None when it is absent."""

    def __init__(self, file_name: str):
        self.file_name = file_name

    def transform(self, tree: Tree):
        """The AST of a parse tree, built bottom up: each rule's method gets the rule's meta and its
        children, already built. (A walk of our own, as lark's Transformer would make it: with
        `v_args` it wraps the method anew at each node, a third of the time of this pass.) Parse
        trees nest no deeper than MAX_NESTING (checked before), so the recursion is bounded."""
        children = [self.transform(child) if isinstance(child, Tree) else child for child in tree.children]
        method = getattr(self, tree.data, None)
        return Tree(tree.data, children, tree.meta) if method is None else method(tree.meta, *children)

    def _span(self, meta) -> ast.Span:
        if getattr(meta, "empty", True):
            return ast.Span(self.file_name, 1, 1, 1, 1)
        return ast.Span(self.file_name, meta.line, meta.column, meta.end_line, meta.end_column)

    def _token_span(self, token: Token) -> ast.Span:
        return ast.Span(self.file_name, token.line, token.column, token.end_line, token.end_column)

    def _invalid(self, token: Token, message: str, hint: str) -> _Invalid:
        return _Invalid(Diagnostic(Code.E004, message, self._token_span(token), "", hint))

    def _number(self, token: Token) -> Decimal:
        try:
            return Decimal(str(token).replace("_", ""))
        except InvalidOperation:
            raise self._invalid(token, f"`{token}` is not a number", "write numbers like 2000 or 1_000_000 or 0.5") from None

    def _count(self, token: Token) -> int:
        value = self._number(token)
        if value != value.to_integral_value() or value < 0 or value > 100_000:
            raise self._invalid(token, f"`{token}` is not a whole count", "use a whole number from 0 to 100000 here")
        return int(value)

    # -- declarations
    def start(self, meta, *declarations):
        return list(declarations)

    def fields_block(self, meta, kind, *fields):
        return ast.FieldsBlock(str(kind), fields, span=self._span(meta))

    def field_decl(self, meta, name, type_ref):
        return ast.FieldDecl(str(name), type_ref, span=self._span(meta))

    def type_ref(self, meta, is_open, name, levels):
        return ast.TypeRef(str(name), is_open is not None, levels, span=self._span(meta))

    def levels(self, meta, *levels):
        return tuple(ast.StringValue(unquote(t), span=self._token_span(t)) for t in levels)

    def region_decl(self, meta, code, display_name, *countries):
        return ast.RegionDecl(str(code), display_name, countries, span=self._span(meta))

    def country(self, meta, token):
        code = unquote(token) if token.type == "STRING" else str(token)
        return ast.Country(code, span=self._token_span(token))

    def display_name(self, meta, text):
        return unquote(text)

    def status(self, meta, word):
        return str(word)

    def icp_decl(self, meta, code, display_name, status, *members):
        params = tuple(m for m in members if isinstance(m, ast.Param))
        personas = tuple(m for m in members if not isinstance(m, ast.Param))
        return ast.Icp(str(code), display_name, status, params, personas, span=self._span(meta))

    def persona_inline(self, meta, code, display_name, status, *params):
        return ast.Persona(str(code), display_name, status, params, span=self._span(meta))

    def persona_from(self, meta, code, display_name, status, template, overrides):
        return ast.PersonaInstance(str(code), display_name, status, str(template), overrides, span=self._span(meta))

    def override_body(self, meta, *members):
        return members

    def drop(self, meta, name):
        return ast.Drop(unquote(name), span=self._span(meta))

    def template_decl(self, meta, code, display_name, status, *params):
        return ast.PersonaTemplate(str(code), display_name, status, params, span=self._span(meta))

    def audience_decl(self, meta, code, display_name, condition):
        return ast.Audience(str(code), display_name, condition, span=self._span(meta))

    def engagement_decl(self, meta, *members):
        signals = tuple(m for m in members if isinstance(m, ast.SignalDecl))
        stages = tuple(level for m in members if isinstance(m, tuple) for level in m)
        return ast.Engagement(signals, stages, span=self._span(meta))

    def titles_decl(self, meta, *entries):
        return ast.TitlesBlock(entries, span=self._span(meta))

    def title_entry(self, meta, phrase, *meanings):
        return ast.TitleEntry(ast.StringValue(unquote(phrase), span=self._token_span(phrase)), meanings,
                              span=self._span(meta))

    def title_role(self, meta, part, value):
        return ast.TitleMeaning(str(part), ast.StringValue(unquote(value), span=self._token_span(value)),
                                span=self._span(meta))

    def title_means(self, meta, value):
        return ast.TitleMeaning("means", ast.StringValue(unquote(value), span=self._token_span(value)),
                                span=self._span(meta))

    def title_scope(self, meta):
        return ast.TitleMeaning("scope", None, span=self._span(meta))

    def title_changes(self, meta, value):
        return ast.TitleMeaning("changes", ast.StringValue(unquote(value), span=self._token_span(value)),
                                span=self._span(meta))

    def signal_decl(self, meta, code, weight, decay, amount, unit):
        return ast.SignalDecl(str(code), self._number(weight), str(decay), self._number(amount), _singular(str(unit)),
                              span=self._span(meta))

    def stage_decl(self, meta, *levels):
        return levels

    def stage_level(self, meta, name, below):
        return ast.StageLevel(str(name), None if below is None else self._number(below), span=self._span(meta))

    def param(self, meta, mode, weight, display_name, unknown_rule, condition):
        return ast.Param(str(mode), weight, display_name, unknown_rule, condition, span=self._span(meta))

    def weight(self, meta, number):
        return self._number(number)

    def unknown_rule(self, meta, effect):
        return str(effect)

    # -- rule tests
    def test_decl(self, meta, name, *members):
        def of(kind):
            return tuple(m for m in members if isinstance(m, kind))

        as_of = of(ast.AsOf)
        if len(as_of) > 1:
            raise _Invalid(Diagnostic(Code.E082, "a test has one `as_of` date", as_of[1].span, "second date",
                                      f"the first is at {as_of[0].span}; write each date's records in a test of their own"))
        expectations = tuple(m for m in members if not isinstance(m, (ast.AsOf, ast.GivenRecord, ast.GivenSignal)))
        return ast.RuleTest(unquote(name), as_of[0] if as_of else None, of(ast.GivenRecord), of(ast.GivenSignal),
                            expectations, span=self._span(meta))

    def test_as_of(self, meta, date):
        return ast.AsOf(self.date_value(meta, date).value, span=self._span(meta))

    def test_record(self, meta, kind, *fields):
        return ast.GivenRecord(str(kind), fields, span=self._span(meta))

    def test_field(self, meta, name, value):
        return ast.GivenField(str(name), value, span=self._span(meta))

    def test_empty_set(self, meta):
        return ()

    def test_set(self, meta, *values):
        return values

    def test_signal(self, meta, code, date):
        return ast.GivenSignal(str(code), self.date_value(meta, date).value, span=self._span(meta))

    def test_expect(self, meta, expectation):
        return attrs.evolve(expectation, span=self._span(meta))

    def expect_icp(self, meta, code):
        return ast.ExpectIcp(str(code), span=self._span(meta))

    def expect_no_icp(self, meta):
        return ast.ExpectIcp(None, span=self._span(meta))

    def expect_persona(self, meta, code):
        return ast.ExpectPersona(str(code), span=self._span(meta))

    def expect_column(self, meta, column, op, value):
        return ast.ExpectColumn(str(column), str(op), value, span=self._span(meta))

    def expect_audience(self, meta, negated, code):
        return ast.ExpectAudience(str(code), negated is None, span=self._span(meta))

    def expect_param(self, meta, owner, label, outcome):
        return ast.ExpectParam(owner or (), unquote(label), str(outcome), span=self._span(meta))

    def test_owner(self, meta, icp, persona):
        return (str(icp),) if persona is None else (str(icp), str(persona))

    # -- conditions
    def or_(self, meta, *conditions):
        return ast.Or(conditions, span=self._span(meta))

    def and_(self, meta, *conditions):
        return ast.And(conditions, span=self._span(meta))

    def not_(self, meta, condition):
        return ast.Not(condition, span=self._span(meta))

    def field(self, meta, name):
        return ast.FieldRef(str(name), span=self._span(meta))

    def bool_test(self, meta, field):
        return ast.BoolTest(field, span=self._span(meta))

    def compare(self, meta, field, op, value):
        return ast.Compare(field, str(op), value, span=self._span(meta))

    def in_(self, meta, field, negated, items):
        return ast.In(field, items, negated is not None, span=self._span(meta))

    def between(self, meta, field, low, high):
        return ast.Between(field, low, high, span=self._span(meta))

    def has_one(self, meta, field, value):
        return ast.Has(field, "one", (value,), span=self._span(meta))

    def has_any(self, meta, field, items):
        return ast.Has(field, "any", items, span=self._span(meta))

    def has_all(self, meta, field, items):
        return ast.Has(field, "all", items, span=self._span(meta))

    def like(self, meta, field, pattern):
        return ast.Like(field, ast.StringValue(unquote(pattern), span=self._token_span(pattern)), span=self._span(meta))

    def resembles(self, meta, field, phrases, threshold):
        return ast.Resembles(field, phrases, threshold, span=self._span(meta))

    def role_compare(self, meta, field, part, op, value):
        return ast.RoleTest(field, str(part), str(op), (value,), span=self._span(meta))

    def role_in(self, meta, field, part, negated, items):
        return ast.RoleTest(field, str(part), "not in" if negated is not None else "in", items, span=self._span(meta))

    def phrases(self, meta, *phrases):
        return tuple(ast.StringValue(unquote(t), span=self._token_span(t)) for t in phrases)

    def threshold(self, meta, number):
        return self._number(number)

    def within(self, meta, field, future, amount, unit):
        return ast.Within(field, self._count(amount), _singular(str(unit)), future is not None, span=self._span(meta))

    def date_bound(self, meta, field, side, bound):
        return ast.DateBound(field, str(side), bound, span=self._span(meta))

    def relative_date(self, meta, amount, unit):
        return ast.RelativeDate(self._count(amount), _singular(str(unit)), span=self._span(meta))

    def is_known(self, meta, field, word):
        return ast.IsKnown(field, str(word) == "known", span=self._span(meta))

    def value_set(self, meta, *values):
        return values

    def region_set(self, meta, name):
        return (ast.NameValue(str(name), span=self._token_span(name)),)

    # -- values
    def string_value(self, meta, text):
        return ast.StringValue(unquote(text), span=self._span(meta))

    def number_value(self, meta, number):
        return ast.NumberValue(self._number(number), span=self._span(meta))

    def date_value(self, meta, date):
        # Also a bound of `before` / `after`, where the span is the token's as well.
        try:
            return ast.DateValue(dt.date.fromisoformat(str(date)), span=self._token_span(date))
        except ValueError:
            raise self._invalid(date, f"`{date}` is not a calendar date", "write dates as YYYY-MM-DD, e.g. 2025-01-31") from None

    def bool_value(self, meta, word):
        return ast.BoolValue(str(word) == "true", span=self._span(meta))

    def bare_value(self, meta, name):
        return ast.NameValue(str(name), span=self._span(meta))
