"""The printer: any AST back to canonical rule text (`parse(print_file(f)) == f`).

A declaration is laid out as `Line`s, each knowing the syntax it prints, so that the formatter
(`fmt`) can put the source's comments back beside the lines they belong to.

It also names unnamed parameters: a parameter without a display name is called by its printed
condition, in explanations and in template overrides alike.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import singledispatch

from . import ast
from .frozen import Frozen, frozen

INDENT = "  "


def quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def number(value: Decimal, readable: bool = False) -> str:
    text = format(value, "f")
    if not readable:
        return text
    sign, whole, fraction = re.fullmatch(r"(-?)(\d+)(\.\d+)?", text).groups()
    if len(whole) > 4:  # 1_000_000 and 10_000; 2000 as it is
        whole = format(int(whole), "_")
    return sign + whole + (fraction or "")


# ---- values and conditions -----------------------------------------------------------------------


# Each implementation is registered for the class named in its decorator: singledispatch would
# otherwise read the class from the annotation, evaluating the function's every annotation (these
# are strings) at import: a hundredth of `unstuck check`.
@singledispatch
def print_value(value, readable: bool = False) -> str:
    raise TypeError(f"not a value node: {value!r}")


@print_value.register(ast.StringValue)
def _(value: ast.StringValue, readable: bool = False) -> str:
    return quote(value.value)


@print_value.register(ast.NumberValue)
def _(value: ast.NumberValue, readable: bool = False) -> str:
    return number(value.value, readable)


@print_value.register(ast.DateValue)
def _(value: ast.DateValue, readable: bool = False) -> str:
    return value.value.isoformat()


@print_value.register(ast.BoolValue)
def _(value: ast.BoolValue, readable: bool = False) -> str:
    return "true" if value.value else "false"


@print_value.register(ast.NameValue)
def _(value: ast.NameValue, readable: bool = False) -> str:
    return value.name


def _plural_amount(amount: Decimal, unit: str) -> str:
    return f"{number(amount)} {unit}{'' if amount == 1 else 's'}"


def _items(items, readable: bool = False) -> str:
    if readable and len(items) == 1 and isinstance(items[0], ast.NameValue):
        return items[0].name  # `country in europe`: a region, as it is usually written
    return "{" + ", ".join(print_value(v, readable) for v in items) + "}"


def _plural(amount: int, unit: str) -> str:
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


@singledispatch
def _predicate(condition, readable: bool) -> str:
    raise TypeError(f"not a condition node: {condition!r}")


@_predicate.register(ast.BoolTest)
def _(c: ast.BoolTest, readable: bool) -> str:
    return c.field.name


@_predicate.register(ast.Compare)
def _(c: ast.Compare, readable: bool) -> str:
    return f"{c.field.name} {c.op} {print_value(c.value, readable)}"


@_predicate.register(ast.In)
def _(c: ast.In, readable: bool) -> str:
    return f"{c.field.name} {'not in' if c.negated else 'in'} {_items(c.items, readable)}"


@_predicate.register(ast.Between)
def _(c: ast.Between, readable: bool) -> str:
    return f"{c.field.name} between {print_value(c.low, readable)} and {print_value(c.high, readable)}"


@_predicate.register(ast.Has)
def _(c: ast.Has, readable: bool) -> str:
    if c.quantifier == "one":
        return f"{c.field.name} has {print_value(c.items[0], readable)}"
    return f"{c.field.name} has {c.quantifier} {_items(c.items, readable)}"


@_predicate.register(ast.Like)
def _(c: ast.Like, readable: bool) -> str:
    return f"{c.field.name} like {quote(c.pattern.value)}"


@_predicate.register(ast.Resembles)
def _(c: ast.Resembles, readable: bool) -> str:
    phrases = "{" + ", ".join(quote(p.value) for p in c.phrases) + "}"
    at = f" at {number(c.threshold, readable)}" if c.threshold is not None else ""
    return f"{c.field.name} resembles {phrases}{at}"


@_predicate.register(ast.RoleTest)
def _(c: ast.RoleTest, readable: bool) -> str:
    if c.op in ("in", "not in"):
        return f"{c.field.name} {c.part} {c.op} {_items(c.items, readable)}"
    return f"{c.field.name} {c.part} {c.op} {print_value(c.items[0], readable)}"


@_predicate.register(ast.Within)
def _(c: ast.Within, readable: bool) -> str:
    return f"{c.field.name} within {'next ' if c.future else ''}{_plural(c.amount, c.unit)}"


@_predicate.register(ast.DateBound)
def _(c: ast.DateBound, readable: bool) -> str:
    if isinstance(c.bound, ast.RelativeDate):
        bound = f"{_plural(c.bound.amount, c.bound.unit)} ago"
    else:
        bound = c.bound.value.isoformat()
    return f"{c.field.name} {c.side} {bound}"


@_predicate.register(ast.IsKnown)
def _(c: ast.IsKnown, readable: bool) -> str:
    return f"{c.field.name} is {'known' if c.known else 'unknown'}"


# Binding strength: `not` binds tighter than `and`, which binds tighter than `or`.
_STRENGTH = {ast.Or: 1, ast.And: 2, ast.Not: 3}


def print_condition(condition, context: int = 0, readable: bool = False) -> str:
    """A condition in standard form (how an unnamed parameter is called), or `readable` as the
    formatter writes it: a lone region without braces, long numbers grouped by `_`."""
    strength = _STRENGTH.get(type(condition), 4)
    if isinstance(condition, ast.Or):
        text = " or ".join(print_condition(c, 2, readable) for c in condition.operands)
    elif isinstance(condition, ast.And):
        text = " and ".join(print_condition(c, 3, readable) for c in condition.operands)
    elif isinstance(condition, ast.Not):
        text = "not " + print_condition(condition.operand, 3, readable)
    else:
        text = _predicate(condition, readable)
    return f"({text})" if strength < context else text


# ---- declarations -------------------------------------------------------------------------------


def _header(code: str, display_name: str | None, status: str | None) -> str:
    parts = [code]
    if display_name is not None:
        parts.append(quote(display_name))
    if status is not None:
        parts.append(status)
    return " ".join(parts)


def print_param(param: ast.Param, readable: bool = False) -> str:
    parts = [param.mode]
    if param.weight is not None:
        parts.append(number(param.weight, readable))
    if param.display_name is not None:
        parts.append(quote(param.display_name))
    if param.unknown is not None:
        parts.append(f"unknown {param.unknown}")
    return " ".join(parts) + ": " + print_condition(param.condition, readable=readable)


def param_name(param: ast.Param) -> str:
    """What a parameter is called: its display name, else its condition as written."""
    return param.display_name if param.display_name is not None else print_condition(param.condition)


@frozen
class Line(Frozen):
    """One printed line: its indentation depth, its text, and the syntax it stands for (`nodes`):
    the whole of them (`part="whole"`), the head of their block up to `{` ("open") or the block's
    closing `}` ("close"). The formatter places comments by these."""

    depth: int
    text: str
    nodes: tuple
    part: str = "whole"


def _block(head: str, node, members: list[Line], depth: int) -> list[Line]:
    return [Line(depth, f"{head} {{", (node,), "open"), *members, Line(depth, "}", (node,), "close")]


def _param_lines(params, depth: int, readable: bool) -> list[Line]:
    return [Line(depth, print_param(p, readable), (p,)) for p in params]


def _persona_lines(persona, depth: int, readable: bool) -> list[Line]:
    head = "persona " + _header(persona.code, persona.display_name, persona.status)
    if isinstance(persona, ast.PersonaInstance):
        head += f" from {persona.template}"
        if persona.overrides is None:
            return [Line(depth, head, (persona,))]
        body = [Line(depth + 1, f"drop {quote(o.name)}" if isinstance(o, ast.Drop) else print_param(o, readable), (o,))
                for o in persona.overrides]
        return _block(head, persona, body, depth)
    return _block(head, persona, _param_lines(persona.params, depth + 1, readable), depth)


def _country(country: ast.Country, readable: bool) -> str:
    return country.code if readable and _COUNTRY_CODE.fullmatch(country.code) else quote(country.code)


# A country code the lexer always reads as a name: two capital letters (no keyword is in capitals).
_COUNTRY_CODE = re.compile(r"[A-Z]{2}")


def declaration_lines(declaration, readable: bool = False) -> list[Line]:
    """A declaration as printed lines. `readable` is how the formatter writes what parses the
    same either way: a region's two-letter codes without quotes (`{ US, CA }`), a lone region
    without braces (`country in europe`), numbers over four digits grouped (`1_000_000`)."""
    if isinstance(declaration, ast.FieldsBlock):
        lines = []
        for f in declaration.fields:
            type_text = ("open " if f.type.open else "") + f.type.name
            if f.type.levels is not None:
                type_text += "(" + ", ".join(quote(level.value) for level in f.type.levels) + ")"
            lines.append(Line(1, f"{f.name}: {type_text}", (f,)))
        return _block(f"{declaration.kind} fields", declaration, lines, 0)
    if isinstance(declaration, ast.RegionDecl):
        head = "region " + _header(declaration.code, declaration.display_name, None)
        countries = ", ".join(_country(c, readable) for c in declaration.countries)
        return [Line(0, f"{head} {{ {countries} }}", (declaration,))]
    if isinstance(declaration, ast.PersonaTemplate):
        head = "persona template " + _header(declaration.code, declaration.display_name, declaration.status)
        return _block(head, declaration, _param_lines(declaration.params, 1, readable), 0)
    if isinstance(declaration, ast.Icp):
        head = "icp " + _header(declaration.code, declaration.display_name, declaration.status)
        lines = _param_lines(declaration.params, 1, readable)
        for persona in declaration.personas:
            lines.extend(_persona_lines(persona, 1, readable))
        return _block(head, declaration, lines, 0)
    if isinstance(declaration, ast.Engagement):
        lines = [Line(1, f"signal {g.code} weight {number(g.weight)} {g.decay} {_plural_amount(g.amount, g.unit)}", (g,))
                 for g in declaration.signals]
        if declaration.stages:
            lines.append(Line(1, "stage " + ", ".join(
                level.name + (f" below {number(level.below)}" if level.below is not None else "")
                for level in declaration.stages), declaration.stages))
        return _block("engagement", declaration, lines, 0)
    if isinstance(declaration, ast.TitlesBlock):
        lines = [Line(1, f"{quote(e.phrase.value)}: " + " ".join(_title_meaning(m) for m in e.meanings), (e,))
                 for e in declaration.entries]
        return _block("titles", declaration, lines, 0)
    if isinstance(declaration, ast.Audience):
        head = "audience " + _header(declaration.code, declaration.display_name, None)
        return [Line(0, f"{head} {{ {print_condition(declaration.condition, readable=readable)} }}", (declaration,))]
    if isinstance(declaration, ast.RuleTest):
        return _block(f"test {quote(declaration.name)}", declaration, _test_lines(declaration, readable), 0)
    raise TypeError(f"not a declaration: {declaration!r}")


def _given_value(value, readable: bool) -> str:
    # A set is always in braces: a lone bare name in braces is not the name (a region) here.
    if isinstance(value, tuple):
        return "{" + ", ".join(print_value(v, readable) for v in value) + "}"
    return print_value(value, readable)


def print_expectation(e) -> str:
    """An expectation of a test as written after `expect`."""
    if isinstance(e, ast.ExpectIcp):
        return "no icp" if e.code is None else f"icp {e.code}"
    if isinstance(e, ast.ExpectPersona):
        return f"persona {e.code}"
    if isinstance(e, ast.ExpectColumn):
        return f"{e.column} {e.op} {print_value(e.value)}"
    if isinstance(e, ast.ExpectAudience):
        return ("" if e.member else "not ") + f"audience {e.code}"
    if isinstance(e, ast.ExpectParam):
        owner = ".".join(e.owner) + " " if e.owner else ""
        return f"{owner}{quote(e.label)} {e.outcome}"
    raise TypeError(f"not an expectation: {e!r}")


def _test_lines(test: ast.RuleTest, readable: bool) -> list[Line]:
    """A test's members in one order: the date, the records, the signals, the expectations."""
    lines = [Line(1, f"as_of {test.as_of.day.isoformat()}", (test.as_of,))] if test.as_of is not None else []
    for record in test.records:
        fields = [Line(2, f"{f.name}: {_given_value(f.value, readable)}", (f,)) for f in record.fields]
        lines.extend(_block(str(record.kind), record, fields, 1))
    lines.extend(Line(1, f"signal {s.code} {s.day.isoformat()}", (s,)) for s in test.signals)
    lines.extend(Line(1, f"expect {print_expectation(e)}", (e,)) for e in test.expectations)
    return lines


def _title_meaning(meaning: ast.TitleMeaning) -> str:
    return meaning.kind if meaning.value is None else f"{meaning.kind} {quote(meaning.value.value)}"


def print_declaration(declaration) -> str:
    return "\n".join(INDENT * line.depth + line.text for line in declaration_lines(declaration))


def print_file(rule_file: ast.RuleFile) -> str:
    return "\n\n".join(print_declaration(d) for d in rule_file.declarations) + "\n"
