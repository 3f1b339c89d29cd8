"""The TextMate grammar `editors/ust.tmLanguage.json`, applied as an editor applies it, to every
file of the example workspace: each token the rule parser reads gets the scope an editor colours
it by (text, numbers, dates, keywords, names), each comment is a comment, and nothing that is not
white space is left without a scope.

The tokenizer below does what a TextMate engine does with the features the grammar uses: at each
place the pattern matching earliest wins (the first listed on a tie), `match` patterns with
`captures`, `begin` / `end` patterns with inner `patterns`, and `include` of the repository. The
grammar's regular expressions use only syntax Oniguruma and Python's `re` read alike."""

from __future__ import annotations

import json
import re
from pathlib import Path

import lark
import pytest

from unstuck_dsl.fmt import comments
from unstuck_dsl.parser import grammar_text

ROOT = Path(__file__).resolve().parent.parent
GRAMMAR = json.loads((ROOT / "editors" / "ust.tmLanguage.json").read_text())
RULE_FILES = sorted((ROOT / "rules").glob("*.ust"))


def _flatten(patterns: list[dict]) -> list[dict]:
    out = []
    for pattern in patterns:
        if "include" in pattern:
            out += _flatten([GRAMMAR["repository"][pattern["include"].removeprefix("#")]])
        elif "patterns" in pattern and "begin" not in pattern:
            out += _flatten(pattern["patterns"])
        else:
            out.append(pattern)
    return out


TOP = _flatten(GRAMMAR["patterns"])


def tokenize_line(line: str, patterns: list[dict] = TOP, start: int = 0, until: re.Pattern | None = None):
    """The scopes of one line: a list with the innermost scope of each character (None where no
    pattern put one), and where scanning stopped (the end of a `begin` / `end` region's `end`)."""
    scopes: list[str | None] = [None] * len(line)
    position = start
    while position <= len(line):
        found = None
        for pattern in patterns:
            match = re.compile(pattern.get("match") or pattern["begin"]).search(line, position)
            if match and (found is None or match.start() < found[0].start()):
                found = (match, pattern)
        if until is not None:
            end = until.search(line, position)
            if end and (found is None or end.start() <= found[0].start()):
                return scopes, end.start(), end.end()
        if found is None:
            break
        match, pattern = found
        if "begin" in pattern:
            inner, stop, after = tokenize_line(line, _flatten(pattern.get("patterns", [])), match.end(),
                                               re.compile(pattern["end"]))
            for k in range(match.start(), after):
                scopes[k] = inner[k] if match.end() <= k < stop and inner[k] else pattern["name"]
            position = max(after, match.start() + 1)
            continue
        for k in range(match.start(), match.end()):
            scopes[k] = pattern.get("name")
        for group, capture in pattern.get("captures", {}).items():
            if match.group(int(group)) is not None:
                for k in range(match.start(int(group)), match.end(int(group))):
                    scopes[k] = capture["name"]
        position = max(match.end(), match.start() + 1)
    return scopes, len(line), len(line)


def scopes_of(text: str) -> list[list[str | None]]:
    return [tokenize_line(line)[0] for line in text.split("\n")]


# The grammar's keywords: every word the rule grammar spells out, anonymous or in a named terminal.
_PARSER = lark.Lark(grammar_text(), parser="lalr", lexer="contextual", keep_all_tokens=True,
                    propagate_positions=True, maybe_placeholders=True)
KEYWORD_WORDS = {t.pattern.value for t in _PARSER.terminals if t.pattern.type == "str" and t.pattern.value.isidentifier()}
for terminal in _PARSER.terminals:
    if terminal.pattern.type == "re" and re.fullmatch(r"\(\?:[\w|]+\)", terminal.pattern.value):
        KEYWORD_WORDS |= set(terminal.pattern.value[3:-1].split("|"))

KEYWORD_SCOPES = ("keyword.", "storage.", "constant.language.", "support.type.")
EXPECTED = {
    "STRING": ("string.quoted.double.ust", "constant.character.escape.ust"),
    "NUMBER": ("constant.numeric.ust",),
    "DATE": ("constant.numeric.date.ust",),
    "COMP_OP": ("keyword.operator.comparison.ust",),
    "NAME": ("variable.", "entity.name.", "support.type."),
}


def tokens(text: str):
    """Every token the rule parser reads in `text` (ignored ones, comments and space, aside)."""
    return [t for t in _PARSER.parse(text).scan_values(lambda v: isinstance(v, lark.Token))]


def test_the_grammar_is_a_textmate_grammar_for_ust_files():
    assert GRAMMAR["scopeName"] == "source.ust" and GRAMMAR["fileTypes"] == ["ust"]
    for pattern in _flatten(GRAMMAR["patterns"]):
        for key in ("match", "begin", "end"):
            if key in pattern:
                re.compile(pattern[key])
    package = json.loads((ROOT / "editors" / "vscode" / "package.json").read_text())
    assert package["contributes"]["grammars"][0]["scopeName"] == "source.ust"
    assert package["contributes"]["languages"][0]["extensions"] == [".ust"]


def _parses(path: Path) -> bool:
    try:
        _PARSER.parse(path.read_text())
    except lark.exceptions.LarkError:
        return False
    return True


# The example workspace, and the golden cases that parse (every construct of the language).
PARSED_FILES = RULE_FILES + [p for p in sorted((ROOT / "tests" / "golden").glob("*.ust")) if _parses(p)]


@pytest.mark.parametrize("path", PARSED_FILES, ids=lambda p: p.name)
def test_every_token_is_scoped_as_the_parser_reads_it(path):
    text = path.read_text()
    lines = scopes_of(text)
    checked = 0
    for token in tokens(text):
        scopes = {lines[token.line - 1][k] for k in range(token.column - 1, token.end_column - 1)}
        assert None not in scopes, (token, scopes)
        if token.type in EXPECTED:
            wanted = EXPECTED[token.type]
            if token.type == "NAME" and str(token) in KEYWORD_WORDS:
                wanted += KEYWORD_SCOPES  # a field called like a keyword (`function`): the grammar cannot tell
        elif str(token).isidentifier():
            wanted = KEYWORD_SCOPES
        else:
            wanted = ("punctuation.",)
        assert all(scope.startswith(wanted) for scope in scopes), (path.name, token.line, token.type, str(token), scopes)
        checked += 1
    assert checked == len(tokens(text)) > 0


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_every_comment_is_a_comment_and_nothing_else_is_unscoped(path):
    text = path.read_text()
    lines = scopes_of(text)
    in_comment = set()
    for comment in comments(text):
        for k in range(comment.column - 1, comment.column - 1 + len(comment.text)):
            assert lines[comment.line - 1][k] == "comment.line.number-sign.ust"
            in_comment.add((comment.line, k))
    for number, (line, scopes) in enumerate(zip(text.split("\n"), lines), 1):
        for k, char in enumerate(line):
            if not char.isspace():
                assert scopes[k] is not None, (path.name, number, k + 1, line)
            if (number, k) not in in_comment:
                assert scopes[k] != "comment.line.number-sign.ust", (path.name, number, line)


def test_declared_names_keywords_and_strings_get_their_scopes():
    text = ('icp mm_saas "Mid # not a comment \\"quoted\\"" live {  # a comment\n'
            '  score 5: employees between 51 and 2_000\n'
            '  persona vp_sales from vp_sales\n'
            '}\n'
            'test "t" {\n  as_of 2026-11-26\n  expect mm_saas "Uses Okta" unknown\n}\n')
    lines = scopes_of(text)
    first = text.split("\n")[0]

    def scope(line: int, word: str, nth: int = 0) -> str:
        row = text.split("\n")[line]
        at = [m.start() for m in re.finditer(re.escape(word), row)][nth]
        return lines[line][at]

    assert scope(0, "icp") == "keyword.declaration.ust"
    assert scope(0, "mm_saas") == "entity.name.type.ust"
    assert {lines[0][k] for k in range(first.index('"'), first.rindex('"') + 1)} <= {
        "string.quoted.double.ust", "constant.character.escape.ust"}
    assert scope(0, "live") == "storage.modifier.status.ust"
    assert scope(0, "# a comment") == "comment.line.number-sign.ust"
    assert scope(1, "score") == "storage.type.mode.ust"
    assert scope(1, "employees") == "variable.other.ust"
    assert scope(1, "between") == "keyword.operator.word.ust"
    assert scope(1, "2_000") == "constant.numeric.ust"
    assert scope(2, "vp_sales", 1) == "entity.name.type.template.ust"
    assert scope(5, "2026-11-26") == "constant.numeric.date.ust"
    assert scope(6, "expect") == "keyword.declaration.ust"
    assert scope(6, "unknown") == "keyword.operator.word.ust"
