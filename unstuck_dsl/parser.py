"""Parsing: rule text → Lark parse tree → AST, with Lark's errors turned into diagnostics.

The grammar is package data (`unstuck_dsl.grammar/unstuck.lark`), loaded once. One
`Transformer` builds the AST, one method per grammar rule, each node stamped with its span.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal, InvalidOperation
from importlib import resources

import lark
from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ast
from .diagnostics import Code, Diagnostic, did_you_mean
from .source import Source

# Parentheses and `not` nest; the tree → AST pass recurses, so deep nesting is refused up front.
MAX_NESTING = 100


@functools.cache
def grammar_text() -> str:
    return resources.files("unstuck_dsl.grammar").joinpath("unstuck.lark").read_text("utf-8")


@functools.cache
def lark_parser() -> lark.Lark:
    return lark.Lark(grammar_text(), parser="lalr", lexer="contextual", propagate_positions=True)


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
    except VisitError as exc:
        if isinstance(exc.orig_exc, _Invalid):
            return None, [exc.orig_exc.diagnostic]
        raise
    return ast.RuleFile(source.name, tuple(declarations), span=_file_span(source)), []


def parse_text(text: str, name: str = "<rules>") -> ast.RuleFile:
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


def _nesting_diagnostic(tree: lark.Tree, source: Source) -> Diagnostic | None:
    stack = [(tree, 0)]
    while stack:
        subtree, depth = stack.pop()
        if depth > MAX_NESTING:
            meta = subtree.meta
            span = ast.Span(source.name, meta.line, meta.column, meta.line, meta.column + 1)
            return Diagnostic(Code.E003, f"conditions nested more than {MAX_NESTING} deep", span,
                              "nesting goes too deep here", "split the condition into several parameters")
        stack.extend((child, depth + 1) for child in subtree.children if isinstance(child, lark.Tree))
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


@v_args(meta=True)
class _ToAst(Transformer):
    def __init__(self, file_name: str):
        super().__init__()
        self.file_name = file_name

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
    def start(self, meta, children):
        return children

    def fields_block(self, meta, children):
        kind, *fields = children
        return ast.FieldsBlock(str(kind), tuple(fields), span=self._span(meta))

    def field_decl(self, meta, children):
        name, type_ref = children
        return ast.FieldDecl(str(name), type_ref, span=self._span(meta))

    def type_ref(self, meta, children):
        is_open = bool(children and isinstance(children[0], Token) and children[0].type == "OPEN")
        rest = children[1:] if is_open else children
        name, *levels = rest
        return ast.TypeRef(str(name), is_open, tuple(levels[0]) if levels else None, span=self._span(meta))

    def levels(self, meta, children):
        return [ast.StringValue(unquote(t), span=self._token_span(t)) for t in children]

    def region_decl(self, meta, children):
        code, *rest = children
        display = rest.pop(0) if rest and isinstance(rest[0], _DisplayName) else None
        return ast.RegionDecl(str(code), display.text if display else None, tuple(rest), span=self._span(meta))

    def country(self, meta, children):
        (token,) = children
        code = unquote(token) if token.type == "STRING" else str(token)
        return ast.Country(code, span=self._token_span(token))

    def display_name(self, meta, children):
        return _DisplayName(unquote(children[0]))

    def status(self, meta, children):
        return _Status(str(children[0]))

    def _header(self, children):
        """Split `CODE ["Name"] [status]` off the front of a declaration's children."""
        code, rest = str(children[0]), list(children[1:])
        display = rest.pop(0).text if rest and isinstance(rest[0], _DisplayName) else None
        status = rest.pop(0).value if rest and isinstance(rest[0], _Status) else None
        return code, display, status, rest

    def icp_decl(self, meta, children):
        code, display, status, members = self._header(children)
        params = tuple(m for m in members if isinstance(m, ast.Param))
        personas = tuple(m for m in members if not isinstance(m, ast.Param))
        return ast.Icp(code, display, status, params, personas, span=self._span(meta))

    def persona_inline(self, meta, children):
        code, display, status, params = self._header(children)
        return ast.Persona(code, display, status, tuple(params), span=self._span(meta))

    def persona_from(self, meta, children):
        code, display, status, rest = self._header(children)
        template, *body = rest
        overrides = tuple(body[0]) if body else None
        return ast.PersonaInstance(code, display, status, str(template), overrides, span=self._span(meta))

    def override_body(self, meta, children):
        return children

    def drop(self, meta, children):
        return ast.Drop(unquote(children[0]), span=self._span(meta))

    def template_decl(self, meta, children):
        code, display, status, params = self._header(children)
        return ast.PersonaTemplate(code, display, status, tuple(params), span=self._span(meta))

    def audience_decl(self, meta, children):
        code, rest = str(children[0]), list(children[1:])
        display = rest.pop(0).text if rest and isinstance(rest[0], _DisplayName) else None
        (condition,) = rest
        return ast.Audience(code, display, condition, span=self._span(meta))

    def engagement_decl(self, meta, children):
        signals = tuple(c for c in children if isinstance(c, ast.SignalDecl))
        stages = tuple(level for c in children if isinstance(c, list) for level in c)
        return ast.Engagement(signals, stages, span=self._span(meta))

    def signal_decl(self, meta, children):
        code, weight, decay, amount, unit = children
        return ast.SignalDecl(str(code), self._number(weight), str(decay), self._number(amount), _singular(str(unit)),
                              span=self._span(meta))

    def stage_decl(self, meta, children):
        return list(children)

    def stage_level(self, meta, children):
        name, *below = children
        return ast.StageLevel(str(name), self._number(below[0]) if below else None, span=self._span(meta))

    def param(self, meta, children):
        mode, rest = str(children[0]), list(children[1:])
        weight = rest.pop(0).value if rest and isinstance(rest[0], _Weight) else None
        display = rest.pop(0).text if rest and isinstance(rest[0], _DisplayName) else None
        unknown = rest.pop(0).effect if rest and isinstance(rest[0], _UnknownRule) else None
        (condition,) = rest
        return ast.Param(mode, weight, display, unknown, condition, span=self._span(meta))

    def weight(self, meta, children):
        return _Weight(self._number(children[0]))

    def unknown_rule(self, meta, children):
        return _UnknownRule(str(children[-1]))

    # -- conditions
    def or_(self, meta, children):
        return ast.Or(tuple(children), span=self._span(meta))

    def and_(self, meta, children):
        return ast.And(tuple(children), span=self._span(meta))

    def not_(self, meta, children):
        return ast.Not(children[-1], span=self._span(meta))

    def field(self, meta, children):
        return ast.FieldRef(str(children[0]), span=self._span(meta))

    def bool_test(self, meta, children):
        return ast.BoolTest(children[0], span=self._span(meta))

    def compare(self, meta, children):
        field, op, value = children
        return ast.Compare(field, str(op), value, span=self._span(meta))

    def in_(self, meta, children):
        negated = any(isinstance(c, Token) and c.type == "NOT" for c in children)
        field, items = children[0], children[-1]
        return ast.In(field, tuple(items), negated, span=self._span(meta))

    def between(self, meta, children):
        field, low, high = children
        return ast.Between(field, low, high, span=self._span(meta))

    def has_one(self, meta, children):
        field, value = children
        return ast.Has(field, "one", (value,), span=self._span(meta))

    def has_any(self, meta, children):
        return ast.Has(children[0], "any", tuple(children[1]), span=self._span(meta))

    def has_all(self, meta, children):
        return ast.Has(children[0], "all", tuple(children[1]), span=self._span(meta))

    def like(self, meta, children):
        field, pattern = children
        return ast.Like(field, ast.StringValue(unquote(pattern), span=self._token_span(pattern)), span=self._span(meta))

    def resembles(self, meta, children):
        field, phrases, *threshold = children
        return ast.Resembles(field, tuple(phrases), threshold[0] if threshold else None, span=self._span(meta))

    def phrases(self, meta, children):
        return [ast.StringValue(unquote(t), span=self._token_span(t)) for t in children]

    def threshold(self, meta, children):
        return self._number(children[0])

    def within(self, meta, children):
        future = any(isinstance(c, Token) and c.type == "NEXT" for c in children)
        field, amount, unit = children[0], children[-2], children[-1]
        return ast.Within(field, self._count(amount), _singular(str(unit)), future, span=self._span(meta))

    def date_bound(self, meta, children):
        # Two grammar rules meet here: the predicate `field before|after BOUND` (an alias) and
        # the rule for BOUND itself when it is a plain date, which arrives as one DATE token.
        if len(children) == 1:
            return self._date(children[0])
        field, side, bound = children
        return ast.DateBound(field, str(side), bound, span=self._span(meta))

    def relative_date(self, meta, children):
        amount, unit = children
        return ast.RelativeDate(self._count(amount), _singular(str(unit)), span=self._span(meta))

    def is_known(self, meta, children):
        field, word = children
        return ast.IsKnown(field, str(word) == "known", span=self._span(meta))

    def value_set(self, meta, children):
        return children

    def region_set(self, meta, children):
        (token,) = children
        return [ast.NameValue(str(token), span=self._token_span(token))]

    # -- values
    def string_value(self, meta, children):
        return ast.StringValue(unquote(children[0]), span=self._span(meta))

    def number_value(self, meta, children):
        return ast.NumberValue(self._number(children[0]), span=self._span(meta))

    def _date(self, token: Token) -> ast.DateValue:
        try:
            return ast.DateValue(dt.date.fromisoformat(str(token)), span=self._token_span(token))
        except ValueError:
            raise self._invalid(token, f"`{token}` is not a calendar date", "write dates as YYYY-MM-DD, e.g. 2025-01-31") from None

    def date_value(self, meta, children):
        return self._date(children[0])

    def bool_value(self, meta, children):
        return ast.BoolValue(str(children[0]) == "true", span=self._span(meta))

    def bare_value(self, meta, children):
        return ast.NameValue(str(children[0]), span=self._span(meta))


class _DisplayName:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


class _Status:
    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value


class _Weight:
    __slots__ = ("value",)

    def __init__(self, value: Decimal):
        self.value = value


class _UnknownRule:
    __slots__ = ("effect",)

    def __init__(self, effect: str):
        self.effect = effect
