"""Diagnostics: what went wrong, where, and what to do, rendered for a terminal.

Every problem the front end finds becomes a `Diagnostic` with a stable code, a severity, a span
and a hint; a run collects all of them and shows them at once, errors before warnings.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

import attrs

from .ast import Span
from .frozen import Frozen, frozen
from .source import Source
from .terminal import visible
from .text import look_alike_letters, look_alike_skeleton

# A run reports at most this many errors, as javac does: the rest are mostly knock-on errors, and
# each error's hint searches every declared name, so without a limit the time would grow with
# the product of errors and names (an hour for a 1 MB file of misspelt references).
MAX_ERRORS = 100
# difflib compares in Python, so a hint looks at the names closest in length only (a name much
# longer or shorter is never close): one hint costs the same in a workspace of any size.
MAX_HINT_CANDIDATES = 500


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Code(enum.StrEnum):
    """Every diagnostic code, its severity and what it means: the registry. docs/language.md's
    table lists the same codes with the same meanings, and every code is raised somewhere and has
    a golden case (tests/test_golden.py checks all three). A code compares equal to its text."""

    severity: Severity  # from the first letter: E for an error, W for a warning
    meaning: str

    def __new__(cls, value: str, meaning: str):
        code = str.__new__(cls, value)
        code._value_ = value
        code.severity = Severity.ERROR if value.startswith("E") else Severity.WARNING
        code.meaning = meaning
        return code

    E001 = "E001", "Unexpected word or symbol (syntax)"
    E002 = "E002", 'Unexpected character, or text whose closing `"` is missing'
    E003 = "E003", "Conditions nested more than 100 deep"
    E004 = "E004", "A value that cannot be one: not a calendar date, not a whole count"
    E010 = "E010", "Field declared twice (names are unique across accounts and leads)"
    E011 = "E011", "Unknown type"
    E012 = "E012", "Unknown field (or a region used as a condition)"
    E013 = "E013", "A Persona reads an account field"
    E014 = "E014", "An ICP reads a lead field"
    E015 = "E015", ("A key column (`account_id` / `lead_id`), a score column (`icp_score`, `persona_code`, ...) "
                    "or, with an engagement block, an engagement column (`engagement_score`, `stage`) declared")
    E016 = "E016", "`open` on a type other than set"
    E017 = "E017", "An ordinal without levels, or levels on another type"
    E018 = "E018", "An ordinal level listed twice"
    E020 = "E020", "ICP code declared twice"
    E021 = "E021", "Persona code declared twice in one ICP"
    E022 = "E022", "Two parameters of one ICP / Persona / template with the same name"
    E023 = "E023", "Unknown persona template"
    E024 = "E024", "`drop` names no parameter of the template"
    E025 = "E025", "Persona template declared twice"
    E026 = "E026", "Region declared twice, or named like a country code (`us`)"
    E027 = "E027", "A Persona called `no_persona_fit`"
    E030 = "E030", "Operator does not apply to this field's type (also a region with a field that is not category, text or set)"
    E031 = "E031", "Value of the wrong type, or a bare name where a value is expected"
    E032 = "E032", "Not a declared level of the ordinal"
    E033 = "E033", "`has` on a field that is not a set"
    E034 = "E034", "Empty range: `between` with the higher bound first"
    E035 = "E035", "Unknown region, or a region used without `in`"
    E036 = "E036", "Not an ISO 3166-1 alpha-2 country code (in a region, or compared with a country field)"
    E037 = "E037", "`resembles ... at T` outside 0 < T ≤ 1"
    E038 = "E038", "A role condition (`title function ...`, `title seniority ...`) names a function or seniority the title vocabulary does not know, or orders Founder / Owner"
    E040 = "E040", "Score weight not above zero, over 1,000,000 or with more than 4 decimals"
    E041 = "E041", "`unknown passes` / `unknown excludes` on the wrong mode"
    E042 = "E042", "A weight on a filter or exclude"
    E043 = "E043", "A score parameter without a weight"
    E050 = "E050", "An audience declared twice"
    E051 = "E051", "An audience names an ICP or Persona code that does not exist"
    E060 = "E060", "A second `engagement` block"
    E061 = "E061", "A signal type declared twice"
    E062 = "E062", "A signal weight, half-life or window not above zero, or spans not in days or weeks"
    E063 = "E063", "No stages, or thresholds not increasing, or the last stage not open"
    E064 = "E064", "A stage named twice"
    E070 = "E070", "The ICPs, or the Personas, read more than 100 distinct fields (see Limits below)"
    E071 = "E071", "More than 20,000 conditions in all ICPs and Personas together (see Limits below)"
    E080 = "E080", "A test's record gives a field of the other record kind, or one field twice, or a set field without `{...}`"
    E081 = "E081", ("A test names an ICP, Persona, audience, signal type, parameter or score column that does not "
                    "exist, or a parameter label more than one ICP or Persona has")
    E082 = "E082", ("A test without `as_of`, with two `as_of`, `account` or `lead` blocks, or expecting what it gives "
                    "nothing for (a Persona without a lead, engagement without an engagement block)")
    E090 = "E090", "A `titles` entry names a function or sub-function the title vocabulary does not know"
    E091 = "E091", "A `titles` entry names a seniority the title vocabulary does not know"
    E092 = "E092", ("A `titles` entry that cannot be read: a phrase without words, `means` or `changes` on more than "
                    "one word, a `changes` name the vocabulary does not use, or meanings that do not go together")
    E093 = "E093", "A phrase given twice in `titles` blocks"
    W001 = "W001", "An ICP or Persona without score parameters"
    W002 = "W002", "Two declared names that read the same but are spelled with other letters: a Cyrillic or Greek letter for a Latin one (`mm_ѕaas` with a Cyrillic `ѕ`), fullwidth letters (`ｍｍ_saas`); also two parameter names of one ICP or Persona, such as a template override that would otherwise be added beside the parameter it was meant to replace"
    # W003-W010: the lint pass (lint.py), run by `unstuck check` only.
    W003 = "W003", ("A condition that is never true: a negated `has` on an open set, a value the field never holds "
                    "(above an ordinal's highest level, a fraction of an int), comparisons of one field that exclude each other")
    W004 = "W004", "A condition true for every value of its field (`seniority >= \"IC\"` on the lowest level): the same as `is known`"
    W005 = "W005", "A score or exclude that the filters of its ICP or Persona already rule out: it never earns (never excludes) on a record that qualifies"
    W006 = "W006", "An ICP or Persona that can never qualify: two of its filters exclude each other"
    W007 = "W007", "A score parameter the filters already imply: every qualifying record earns it"
    W008 = "W008", "The same condition twice: in two parameters of one ICP or Persona, or in one `and` / `or`"
    W009 = "W009", "A field, region or persona template declared but never used"
    W010 = "W010", "An audience naming a draft ICP or Persona, which no record is assigned"


# The registry by code text: CODES["E012"] is Code.E012.
CODES = Code.__members__


@frozen
class Diagnostic(Frozen):
    code: Code = attrs.field(converter=Code)
    message: str
    span: Span | None
    label: str = ""  # written after the caret, under the source line
    hint: str = ""

    @property
    def severity(self) -> Severity:
        return self.code.severity

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_dict(self) -> dict:
        """For editors and CI: the place as 1-based line and column, start and end."""
        place = {} if self.span is None else {
            "file": self.span.file, "line": self.span.line, "column": self.span.column,
            "end_line": self.span.end_line, "end_column": self.span.end_column}
        return {"severity": str(self.severity), "code": str(self.code), "message": self.message, **place,
                "label": self.label, "hint": self.hint}


class RuleError(Exception):
    """The rules have errors; carries every diagnostic of the run (warnings included)."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, Source] | None = None):
        self.diagnostics = diagnostics
        self.sources = sources or {}
        super().__init__(render_all(diagnostics, self.sources, color=False))


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A hint naming the closest candidate, or "" when nothing is close."""
    candidates = list(candidates)
    # A name that reads the same is spelled with other letters: say which, or the hint would
    # seem to repeat the name.
    skeleton = look_alike_skeleton(word)
    look_alike = [c for c in candidates if look_alike_skeleton(c) == skeleton]
    if look_alike:
        return f"did you mean `{look_alike[0]}`? {look_alike_note(word, look_alike[0])}".rstrip()
    import difflib  # only for a name that does not exist: a check without errors does without it

    # A difference in case only is the likeliest slip, and difflib may rank another name as close.
    same_letters = [c for c in candidates if c.casefold() == word.casefold()]
    nearest = sorted(candidates, key=lambda c: abs(len(c) - len(word)))[:MAX_HINT_CANDIDATES]
    close = same_letters or difflib.get_close_matches(word, nearest, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""


def look_alike_note(*names: str) -> str:
    """Which letters of these names only look like others: "`mm_ѕaas` has ѕ (U+0455 ...)"."""
    return "; ".join(f"`{name}` has {', '.join(look_alike_letters(name))}" for name in names
                     if look_alike_letters(name))


def sort_key(d: Diagnostic):
    s = d.span
    return (not d.is_error, s.file if s else "", s.line if s else 0, s.column if s else 0, d.code)


def render(d: Diagnostic, sources: dict[str, Source], color: bool = False) -> str:
    def paint(text: str, style: str) -> str:
        codes = {"error": "1;31", "warning": "1;33", "blue": "1;34", "bold": "1"}
        return f"\x1b[{codes[style]}m{text}\x1b[0m" if color else text

    where = visible(f"{d.span}: ") if d.span else ""
    head = f"{where}{paint(f'{d.severity}[{d.code}]', d.severity)}: {paint(visible(d.message), 'bold')}"
    lines = [head]
    source = sources.get(d.span.file) if d.span else None
    if d.span and source is not None:
        text = visible(source.line(d.span.line).replace("\t", " "))
        gutter = " " * len(str(d.span.line))
        if d.span.end_line == d.span.line and d.span.end_column > d.span.column:
            width = d.span.end_column - d.span.column
        else:
            width = 1
        width = max(1, min(width, len(text) - d.span.column + 1))
        caret = " " * (d.span.column - 1) + "^" * width
        lines += [
            f"{gutter} {paint('|', 'blue')}",
            f"{paint(str(d.span.line), 'blue')} {paint('|', 'blue')} {text}",
            f"{gutter} {paint('|', 'blue')} {paint(caret, d.severity)}{' ' + visible(d.label) if d.label else ''}",
        ]
    if d.hint:
        gutter = " " * (len(str(d.span.line)) if d.span else 0)
        lines.append(f"{gutter} = hint: {visible(d.hint)}")
    return "\n".join(lines)


def summary(diagnostics: list[Diagnostic]) -> str:
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors

    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    stopped = f" (checking stops at {MAX_ERRORS} errors)" if errors >= MAX_ERRORS else ""
    return f"{plural(errors, 'error')}, {plural(warnings, 'warning')}{stopped}"


def render_all(diagnostics: list[Diagnostic], sources: dict[str, Source], color: bool = False) -> str:
    blocks = [render(d, sources, color) for d in sorted(diagnostics, key=sort_key)]
    return "\n\n".join(blocks + [summary(diagnostics)])


# ---- machine-readable reports: `unstuck check --format json|sarif` -----------------------------

# The version of the JSON report's shape (docs/diagnostics.schema.json); it changes only when a
# field is removed or changes meaning.
JSON_REPORT_VERSION = 1
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def json_report(diagnostics: list[Diagnostic], counts: dict | None = None, error: str | None = None) -> dict:
    """Every diagnostic, errors first, with its place as 1-based lines and columns (the end just
    after the last character), and a summary. `counts` (files, ICPs, Personas) when the rules
    checked; `error` when they could not be read at all."""
    errors = sum(d.is_error for d in diagnostics)
    report = {"version": JSON_REPORT_VERSION, "ok": error is None and counts is not None}
    if error is not None:
        report["error"] = error
    report.update(counts or {})
    report["stopped_at_error_limit"] = errors >= MAX_ERRORS
    report["summary"] = {"errors": errors, "warnings": len(diagnostics) - errors, "text": summary(diagnostics)}
    report["diagnostics"] = [d.to_dict() for d in sorted(diagnostics, key=sort_key)]
    return report


def sarif_report(diagnostics: list[Diagnostic], tool_version: str, error: str | None = None) -> dict:
    """SARIF 2.1.0, as code-scanning services read it to annotate a pull request: one run, a
    rule per code used, a result per diagnostic located by file URI and region. Columns count
    Unicode code points, as every place here does. `error` (the rules could not be read) is a
    failed tool execution with that message."""
    ordered = sorted(diagnostics, key=sort_key)
    codes = sorted({d.code for d in ordered})
    rules = [{"id": str(code), "name": str(code), "shortDescription": {"text": code.meaning},
              "defaultConfiguration": {"level": str(code.severity)}} for code in codes]
    invocation = {"executionSuccessful": error is None}
    if error is not None:
        invocation["toolExecutionNotifications"] = [{"level": "error", "message": {"text": error}}]
    run = {
        "tool": {"driver": {"name": "unstuck", "version": tool_version, "rules": rules}},
        "invocations": [invocation],
        "columnKind": "unicodeCodePoints",
        "results": [_sarif_result(d, codes.index(d.code)) for d in ordered],
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _sarif_result(d: Diagnostic, rule_index: int) -> dict:
    text = d.message + (f"\nhint: {d.hint}" if d.hint else "")
    result = {"ruleId": str(d.code), "ruleIndex": rule_index, "level": str(d.severity), "message": {"text": text}}
    if d.span is not None:
        region = {"startLine": d.span.line, "startColumn": d.span.column,
                  "endLine": d.span.end_line, "endColumn": d.span.end_column}
        result["locations"] = [{"physicalLocation": {"artifactLocation": {"uri": file_uri(d.span.file)},
                                                     "region": region}}]
    result["properties"] = {"label": d.label, "hint": d.hint}
    return result


def file_uri(path: str) -> str:
    """A rule file's path as a URI reference: relative paths stay relative (a code-scanning
    service resolves them against the repository), with `/` separators and percent-escapes."""
    from pathlib import PurePath
    from urllib.parse import quote

    pure = PurePath(path)
    if pure.is_absolute():
        return "file://" + quote(pure.as_posix())
    return quote(pure.as_posix())
