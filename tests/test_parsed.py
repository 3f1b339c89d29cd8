"""Syntax trees kept between processes: reused only for the same file, text and front end, and
equal, spans and all, to what the parser makes; files with errors are never kept."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from unstuck_dsl import parsed, parser
from unstuck_dsl.grammar.lalr import Lark_StandAlone
from unstuck_dsl.source import TEXT_NAME, Source

RULES = Path(__file__).resolve().parent.parent / "rules"


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("UNSTUCK_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """The names of the files the parser itself parsed."""
    names = []

    def counted(source):
        names.append(source.name)
        return real(source)

    real = parser.parse_source
    monkeypatch.setattr(parser, "parse_source", counted)
    return names


def whole(tree) -> tuple:
    """A tree with everything in it, the spans that equality leaves out included."""
    return attrs.astuple(tree)


@pytest.mark.parametrize("name", sorted(p.name for p in RULES.glob("*.ust")))
def test_a_kept_tree_is_the_parsed_tree_spans_and_all(cache, parses, name):
    source = Source(str(RULES / name), (RULES / name).read_text(encoding="utf-8"))
    first, none = parsed.parse(source, keep=True)
    again, still_none = parsed.parse(source, keep=True)
    assert none == still_none == []
    assert parses == [source.name]  # the second came from the kept tree
    assert whole(again) == whole(first) == whole(parser.parse_source(source)[0])


def test_without_keep_nothing_is_kept_or_reused(cache, parses):
    source = Source("a.ust", "icp a { filter: x }\n")
    parsed.parse(source, keep=True)
    parsed.parse(source)
    assert parses == ["a.ust", "a.ust"]
    parsed.parse(Source("b.ust", "icp b { filter: x }\n"))
    assert len(list((cache / "parsed").iterdir())) == 1


def test_a_changed_text_is_parsed_again(cache, parses):
    parsed.parse(Source("a.ust", "icp a { filter: x }\n"), keep=True)
    changed, _ = parsed.parse(Source("a.ust", "icp a { filter: y }\n"), keep=True)
    assert parses == ["a.ust", "a.ust"]
    assert changed.declarations[0].params[0].condition.field.name == "y"
    assert len(list((cache / "parsed").iterdir())) == 1  # the entry of a.ust, replaced


def test_the_same_text_under_another_name_is_parsed_again(cache, parses):
    """Spans name their file: a tree is kept for one file."""
    text = "icp a { filter: x }\n"
    parsed.parse(Source("a.ust", text), keep=True)
    other, _ = parsed.parse(Source("b.ust", text), keep=True)
    assert parses == ["a.ust", "b.ust"]
    assert other.declarations[0].span.file == "b.ust"


def test_a_changed_front_end_is_parsed_again(cache, parses, tmp_path, monkeypatch):
    grammar = tmp_path / "unstuck.lark"
    grammar.write_text(parser.grammar_text(), encoding="utf-8")
    monkeypatch.setattr(parsed, "_FRONT_END", (grammar,))
    source = Source("a.ust", "icp a { filter: x }\n")
    parsed.parse(source, keep=True)
    parsed.parse(source, keep=True)
    grammar.write_text(parser.grammar_text() + "\n// changed\n", encoding="utf-8")
    parsed.parse(source, keep=True)
    assert parses == ["a.ust", "a.ust"]


def test_the_parser_is_built_once_and_kept_until_the_front_end_changes(cache, tmp_path, monkeypatch):
    grammar = tmp_path / "unstuck.lark"
    grammar.write_text(parser.grammar_text(), encoding="utf-8")
    monkeypatch.setattr(parsed, "_FRONT_END", (grammar,))
    builds = []

    def build():
        builds.append(Lark_StandAlone())
        return builds[-1]

    first, again = parsed.kept_parser(build), parsed.kept_parser(build)
    assert builds == [first] and again is not first  # read back, not built
    assert again.parse("icp a { filter: x }\n") == first.parse("icp a { filter: x }\n")
    grammar.write_text(parser.grammar_text() + "\n// changed\n", encoding="utf-8")
    assert parsed.kept_parser(build) is builds[1]


def test_a_damaged_parser_entry_is_built_again_and_replaced(cache):
    parsed.kept_parser(Lark_StandAlone)
    (entry,) = cache.glob("parser-*.pickle")
    entry.write_bytes(entry.read_bytes()[:-100])
    builds = []

    def build():
        builds.append(Lark_StandAlone())
        return builds[-1]

    assert parsed.kept_parser(build) is builds[0]
    assert parsed.kept_parser(build).parse("icp a { filter: x }\n") == builds[0].parse("icp a { filter: x }\n")
    assert len(builds) == 1


@pytest.mark.parametrize("below", [False, True])
def test_a_cache_folder_that_cannot_be_made_still_gives_the_parser_and_is_left_alone(tmp_path, monkeypatch, below):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("UNSTUCK_CACHE_DIR", str(blocked / "below" if below else blocked))
    assert parsed.kept_parser(Lark_StandAlone).parse("icp a { filter: x }\n").data == "start"
    assert blocked.read_text(encoding="utf-8") == "not a folder"


def test_a_file_with_errors_is_never_kept(cache, parses):
    broken = Source("broken.ust", 'icp "x" {\n  filter employees >\n}\n')
    first = parsed.parse(broken, keep=True)
    again = parsed.parse(broken, keep=True)
    assert first == again and first[0] is None and first[1][0].code == "E001"
    assert parses == ["broken.ust", "broken.ust"]
    assert not any((cache / "parsed").iterdir())


def test_a_damaged_entry_is_parsed_again_and_replaced(cache, parses):
    source = Source("a.ust", "icp a { filter: x }\n")
    tree, _ = parsed.parse(source, keep=True)
    (entry,) = (cache / "parsed").iterdir()
    entry.write_bytes(entry.read_bytes()[:-20])
    assert parsed.parse(source, keep=True)[0] == tree
    assert parsed.parse(source, keep=True)[0] == tree
    assert parses == ["a.ust", "a.ust"]


def test_a_cache_folder_that_cannot_be_made_still_parses(tmp_path, monkeypatch, parses):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("UNSTUCK_CACHE_DIR", str(blocked))
    tree, diagnostics = parsed.parse(Source("a.ust", "icp a { filter: x }\n"), keep=True)
    assert tree is not None and diagnostics == []


def test_texts_read_from_no_file_keep_a_tree_each(cache, parses):
    """Every workspace's published versions are named alike (`source.TEXT_NAME`): each text keeps
    a tree of its own, so taking turns between two versions parses each once."""
    first, second = Source(TEXT_NAME, "icp a { filter: x }\n"), Source(TEXT_NAME, "icp a { filter: y }\n")
    for source in (first, second, first, second):
        parsed.parse(source, keep=True)
    assert parses == [TEXT_NAME, TEXT_NAME]


def test_the_lexers_a_process_built_are_kept_with_its_parser_compiled(cache, monkeypatch):
    """As the process ends, a parser that has built lexers is kept again with them, each regular
    expression with the code it was compiled to: the next process parses the same text into the
    same tree without compiling any."""
    ends = []
    monkeypatch.setattr(parsed.atexit, "register", lambda then, *args: ends.append((then, args)))
    text = (RULES / "icps.ust").read_text(encoding="utf-8")
    first = parsed.kept_parser(parser.built_parser, parser.lexers_built)
    tree = first.parse(text)
    assert parser.lexers_built(first) > 0
    for then, args in ends:
        then(*args)

    compiled, compile = [], re._compiler.compile
    re.purge()  # (what this process compiled is not found in re's cache)
    monkeypatch.setattr(re._compiler, "compile", lambda *args: compiled.append(args) or compile(*args))
    read_back = parsed.kept_parser(lambda: pytest.fail("kept, yet built again"), parser.lexers_built)
    again = read_back.parse(text)
    monkeypatch.undo()
    assert parser.lexers_built(read_back) == parser.lexers_built(first)
    assert again == tree
    assert compiled == []
    lexers = {*read_back.parser.lexer.lexers.values()}
    expressions = [mre for lexer in lexers if lexer._scanner for mre in lexer._scanner._mres]
    assert expressions and all(re.compile(mre.pattern, mre.flags) == mre for mre in expressions)  # (the same code)
