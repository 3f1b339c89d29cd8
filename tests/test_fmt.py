"""`unstuck fmt`: the canonical layout with every comment where it belongs, idempotent, never a
change of meaning (over programs generated from the grammar, comments added at random), and the
command's --check, --diff, in-place rewrite and syntax errors."""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from pathlib import Path

import lark
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from test_grammar_fuzz import PRELUDE, _token_strategies

from unstuck_dsl.diagnostics import RuleError
from unstuck_dsl.fmt import comments, format_text
from unstuck_dsl.parser import grammar_text, parse_source, parse_text
from unstuck_dsl.printer import param_name
from unstuck_dsl.source import Source

from cli_support import run

ROOT = Path(__file__).resolve().parent.parent


def fmt(text: str) -> str:
    return format_text(text, "t.ust")


# ---- where comments go ---------------------------------------------------------------------------

MESSY = '''# Header comment, then a blank line.

account fields {   # what accounts carry
  # before a field
  employees:   int  # end of a field line
  tech_stack: open set


  # after the last field, before the brace
}  # after the brace
icp a "A" live{score 5 "S":x>1 and  # inside the condition
    (y or z)   # end of the parameter's last line
  persona p from t{drop "S"   # after a drop
  }
  # before the closing brace of the ICP
}
# about the audiences
audience one { x }
audience two { y }   # end of an audience

audience three { z }
# the end of the file
'''

MESSY_FORMATTED = '''# Header comment, then a blank line.

account fields {  # what accounts carry
  # before a field
  employees: int  # end of a field line
  tech_stack: open set

  # after the last field, before the brace
}  # after the brace

icp a "A" live {
  # inside the condition
  score 5 "S": x > 1 and (y or z)  # end of the parameter's last line
  persona p from t {
    drop "S"  # after a drop
  }
  # before the closing brace of the ICP
}

# about the audiences
audience one { x }
audience two { y }  # end of an audience

audience three { z }
# the end of the file
'''


def test_every_comment_stays_where_it_belongs():
    assert fmt(MESSY) == MESSY_FORMATTED


def test_the_formatted_example_is_stable_and_means_the_same():
    assert fmt(MESSY_FORMATTED) == MESSY_FORMATTED
    assert parse_text(MESSY_FORMATTED) == parse_text(MESSY)


def test_comments_move_with_what_the_printer_reorders():
    """An ICP prints its parameters before its Personas; a comment goes with its line."""
    text = ('icp a {\n  # the persona\n  persona p from t  # p\n  # the score\n  score 1: x  # s\n}\n'
            'engagement {\n  stage cold below 1,  # first\n   hot\n  signal s weight 1 window 2 days  # signal\n}\n')
    assert fmt(text) == ('icp a {\n  # the score\n  score 1: x  # s\n  # the persona\n  persona p from t  # p\n}\n\n'
                         'engagement {\n  signal s weight 1 window 2 days  # signal\n'
                         '  # first\n  stage cold below 1, hot\n}\n')


def test_a_comment_in_a_one_line_declaration_goes_before_it():
    text = 'region europe "Europe" {\n  GB,  # the UK\n  "DE"\n}  # done\n'
    assert fmt(text) == '# the UK\nregion europe "Europe" { GB, DE }  # done\n'


@pytest.mark.parametrize(("text", "formatted"), [
    ("icp x {\n\n  # to do\n\n}\n", "icp x {\n  # to do\n}\n"),  # inside an empty block
    ("icp a  # why\n  \"A\"\n  live {\n}\n", "# why\nicp a \"A\" live {\n}\n"),  # a head over lines
    ("audience h {\n  x  # one\n  and y  # two\n}\n", "# one\n# two\naudience h { x and y }\n"),
    ("icp a { score 1: x } # after\n", "icp a {\n  score 1: x\n}  # after\n"),
    ("icp a { score 1: x # on the member\n}\n", "icp a {\n  score 1: x  # on the member\n}\n"),
    ("icp a {\n  persona p { # head\n    score 1: x }  # end\n}\n",
     "icp a {\n  persona p {  # head\n    score 1: x\n  }  # end\n}\n"),
    ("#no space   \n#\n", "#no space\n#\n"),  # the text is kept as written, trailing spaces aside
], ids=["empty block", "head over lines", "condition over lines", "after a brace", "member and brace on one line",
        "nested block", "bare comments"])
def test_comment_placement(text, formatted):
    assert fmt(text) == formatted
    assert fmt(formatted) == formatted


def test_blocks_stand_apart_and_one_line_declarations_keep_their_grouping():
    text = 'region a { US }\nregion b { GB }\n\n\n\nregion c { DE }\nicp x { score 1: y }\naudience h { y }\n'
    assert fmt(text) == ('region a { US }\nregion b { GB }\n\nregion c { DE }\n\nicp x {\n  score 1: y\n}\n\n'
                         'audience h { y }\n')


def test_no_blank_lines_at_the_start_or_end_of_a_block_or_file():
    assert fmt('\n\n# c\n\nicp x {\n\n  score 1: y\n\n}\n\n\n') == '# c\n\nicp x {\n  score 1: y\n}\n'


def test_comments_only_and_empty_files():
    assert fmt("  # just a note   \n\n\n# and another\n") == "# just a note\n\n# and another\n"
    assert fmt("") == "" and fmt("\n \n") == ""


def test_a_hash_inside_text_is_not_a_comment():
    text = 'icp x { filter "Tag #1": tag == "#2"  # real\n}\n'
    assert fmt(text) == 'icp x {\n  filter "Tag #1": tag == "#2"  # real\n}\n'
    assert [c.text for c in comments(text)] == ["# real"]


def test_crlf_and_tabs_become_the_canonical_layout():
    assert fmt('icp x {\r\n\tscore 1: y\t# c\r\n}\r\n') == 'icp x {\n  score 1: y  # c\n}\n'


def test_the_example_workspace_is_formatted():
    for path in sorted((ROOT / "rules").glob("*.ust")):
        text = path.read_text(encoding="utf-8")
        assert fmt(text) == text, path.name


def test_a_syntax_error_raises_the_checkers_diagnostic():
    with pytest.raises(RuleError) as caught:
        fmt("icp x { score 5 \"S\" x > 1 }\n")
    assert [d.code for d in caught.value.diagnostics] == ["E001"]


# ---- properties over generated programs -----------------------------------------------------------


def _token_ends(text: str) -> list[int]:
    """Where each token of `text` ends, as the parser's own lexer reads it."""
    _RECORDED.clear()
    _recording_parser().parse(text)
    return [token.end_pos for token in _RECORDED if token.type != "COMMENT"]


_RECORDED: list[lark.Token] = []
_PARSER: list[lark.Lark] = []


def _recording_parser() -> lark.Lark:
    if not _PARSER:
        names = [t.name for t in lark.Lark(grammar_text(), parser="lalr").terminals]
        _PARSER.append(lark.Lark(grammar_text(), parser="lalr", lexer="contextual", maybe_placeholders=True,
                                 lexer_callbacks={name: _record for name in names}))
    return _PARSER[0]


def _record(token: lark.Token) -> lark.Token:
    _RECORDED.append(token)
    return token


def _lexer_comments(text: str) -> list[str]:
    _RECORDED.clear()
    _recording_parser().parse(text)
    return [str(t).rstrip() for t in _RECORDED if t.type == "COMMENT"]


def _parsed(text: str):
    rule_file, _ = parse_source(Source("fuzz.ust", text))
    return rule_file


# The grammar fuzzer's programs, from a parser built here: hypothesis reads the grammar's rules,
# which a parser loaded from Lark's cache file does not keep.
programs = from_lark(lark.Lark(grammar_text(), parser="lalr", lexer="contextual", maybe_placeholders=True),
                     explicit=_token_strategies())


@st.composite
def commented_programs(draw):
    """A program from the grammar that parses, with comments put after random tokens."""
    program = draw(programs)
    text = PRELUDE + program if draw(st.booleans()) else program
    if _parsed(text) is None:
        return text
    ends = sorted(set(_token_ends(text)))
    chosen = sorted(draw(st.sets(st.sampled_from(ends), max_size=8)) if ends else [], reverse=True)
    for number, at in enumerate(chosen):
        text = text[:at] + draw(st.sampled_from([f"  # c{number}\n", f"\n# c{number}\n", f"#c{number}\n\n"])) + text[at:]
    if draw(st.booleans()):
        text = "# file head\n" + text + "\n# file end"
    return text


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
          deadline=None)
@given(commented_programs())
def test_fmt_keeps_meaning_and_comments_and_is_idempotent(text):
    before = _parsed(text)
    if before is None:
        return
    once = format_text(text, "fuzz.ust")
    assert _parsed(once) == before
    assert format_text(once, "fuzz.ust") == once
    assert Counter(c.text for c in comments(once)) == Counter(c.text for c in comments(text))


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], deadline=None)
@given(commented_programs())
def test_the_comment_scan_agrees_with_the_lexer(text):
    if _parsed(text) is not None:
        assert [c.text for c in comments(text)] == _lexer_comments(text)


# ---- the command ------------------------------------------------------------------------------------

UGLY = 'icp x {score 1:y   # keep me\n}\n'
PRETTY = 'icp x {\n  score 1: y  # keep me\n}\n'


@pytest.fixture
def workspace(tmp_path):
    folder = tmp_path / "rules"
    (folder / "sub").mkdir(parents=True)
    (folder / "ugly.ust").write_text(UGLY, encoding="utf-8")
    (folder / "sub" / "pretty.ust").write_text(PRETTY, encoding="utf-8")
    (folder / "notes.txt").write_text("not rules {", encoding="utf-8")
    return folder


def test_fmt_check_lists_the_files_that_would_change_and_writes_nothing(workspace):
    result = run("fmt", workspace, "--check")
    assert result.exit_code == 1
    assert f"would reformat {workspace / 'ugly.ust'}" in result.stderr
    assert "pretty.ust" not in result.output
    assert "1 file would be reformatted, 1 unchanged" in result.stderr
    assert (workspace / "ugly.ust").read_text(encoding="utf-8") == UGLY


def test_fmt_check_passes_on_formatted_rules(workspace):
    assert run("fmt", workspace / "sub", "--check").exit_code == 0
    assert run("fmt", "--check", ROOT / "rules").exit_code == 0


def test_fmt_diff_prints_a_unified_diff_and_writes_nothing(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    result = run("fmt", "ugly.ust", "--diff")
    assert result.exit_code == 0
    assert result.stdout == ("--- ugly.ust\t(original)\n+++ ugly.ust\t(formatted)\n@@ -1,2 +1,3 @@\n"
                             "-icp x {score 1:y   # keep me\n+icp x {\n+  score 1: y  # keep me\n }\n")
    assert (workspace / "ugly.ust").read_text(encoding="utf-8") == UGLY
    assert run("fmt", "ugly.ust", "--diff", "--check").exit_code == 1
    patch = subprocess.run(["patch", "-p0"], input=result.stdout, text=True, capture_output=True)
    assert patch.returncode == 0, patch.stdout + patch.stderr  # the diff applies as a patch
    assert (workspace / "ugly.ust").read_text(encoding="utf-8") == PRETTY


def test_fmt_rewrites_only_the_files_that_change_in_place(workspace):
    pretty = workspace / "sub" / "pretty.ust"
    os.chmod(workspace / "ugly.ust", 0o600)
    os.utime(pretty, (1_000_000, 1_000_000))
    result = run("fmt", workspace)
    assert result.exit_code == 0
    assert (workspace / "ugly.ust").read_text(encoding="utf-8") == PRETTY
    assert os.stat(workspace / "ugly.ust").st_mode & 0o777 == 0o600
    assert os.stat(pretty).st_mtime == 1_000_000  # untouched
    assert "reformatted" in result.stderr and "1 file reformatted, 1 unchanged" in result.stderr
    assert not [p for p in workspace.rglob("*") if p.name.endswith(".tmp")]
    assert run("fmt", workspace, "--check").exit_code == 0


def test_fmt_writes_through_a_symlink(tmp_path):
    real = tmp_path / "real.ust"
    real.write_text(UGLY, encoding="utf-8")
    link = tmp_path / "link.ust"
    link.symlink_to(real)
    assert run("fmt", link).exit_code == 0
    assert link.is_symlink() and real.read_text(encoding="utf-8") == PRETTY


def test_a_syntax_error_is_reported_as_check_reports_it_and_nothing_is_written(workspace):
    broken = workspace / "broken.ust"
    broken.write_text('icp y {\n  score 5 "S" x > 1\n}\n', encoding="utf-8")
    result = run("fmt", workspace)
    assert result.exit_code == 1
    checked = run("check", broken)
    rendered = checked.stdout.strip()
    assert rendered.startswith(f"{broken}:2:15: error[E001]") and rendered in result.stderr
    assert (workspace / "ugly.ust").read_text(encoding="utf-8") == UGLY  # the good file is untouched too
    assert broken.read_text(encoding="utf-8") == 'icp y {\n  score 5 "S" x > 1\n}\n'


def test_fmt_on_a_missing_path_is_one_line(tmp_path):
    result = run("fmt", tmp_path / "nope")
    assert result.exit_code == 1
    assert re.fullmatch(r"error: .*nope: no such file or directory\n", result.output)


def test_fmt_takes_several_paths_as_a_pre_commit_hook_passes_them(workspace):
    ugly = workspace / "ugly.ust"
    result = run("fmt", "--check", ugly, workspace / "sub" / "pretty.ust", ugly)
    assert result.exit_code == 1 and "1 file would be reformatted, 1 unchanged" in result.stderr


def test_what_parses_the_same_either_way_is_written_the_readable_way():
    """A lone region without braces, long numbers grouped, two-letter country codes bare; a
    parameter's name (its printed condition) keeps the standard form."""
    text = ('region dach { "DE", AT, "ch" }\nicp x {\n  score 1_0000: country in {dach} and arr >= 1000000.5\n'
            '  filter: employees > 2000 and country in {dach, "US"} and tech has any {dach}\n}\n')
    formatted = fmt(text)
    assert formatted == ('region dach { DE, AT, "ch" }\n\nicp x {\n'
                         '  score 10_000: country in dach and arr >= 1_000_000.5\n'
                         '  filter: employees > 2000 and country in {dach, "US"} and tech has any dach\n}\n')
    (_, icp) = parse_text(formatted).declarations
    assert param_name(icp.params[0]) == "country in {dach} and arr >= 1000000.5"


def test_fmt_diff_of_a_file_without_a_final_line_break(tmp_path):
    path = tmp_path / "short.ust"
    path.write_text("icp x {}", encoding="utf-8")
    result = run("fmt", path, "--diff")
    assert result.stdout.endswith("-icp x {}\n\\ No newline at end of file\n+icp x {\n+}\n")


def test_fmt_diff_counts_lines_as_the_parser_does(tmp_path, monkeypatch):
    """A form feed or a line separator inside a comment does not end a line of the patch."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "odd.ust").write_text("icp x {score 1: y} # a\u2028b\x0cc\n", encoding="utf-8")
    result = run("fmt", "odd.ust", "--diff")
    assert result.stdout.count("\n") == 7
    assert subprocess.run(["patch", "-p0"], input=result.stdout, text=True, capture_output=True).returncode == 0
    assert (tmp_path / "odd.ust").read_text(encoding="utf-8") == "icp x {\n  score 1: y\n}  # a\u2028b\x0cc\n"


def test_a_file_that_cannot_be_replaced_is_one_line_and_stays_as_it_was(workspace, monkeypatch):
    def refuse(source, target):
        raise PermissionError(13, "Permission denied", source)

    monkeypatch.setattr(os, "replace", refuse)
    result = run("fmt", workspace / "ugly.ust")
    assert result.exit_code == 1
    assert result.output == f"error: {workspace / 'ugly.ust'}: could not be written (Permission denied); the file is unchanged\n"
    assert (workspace / "ugly.ust").read_text(encoding="utf-8") == UGLY
    assert not [p for p in workspace.rglob("*") if p.name.endswith(".tmp")]
