"""The front end's order of passes, written once: read → parse → expand templates → check.

The back end continues in `api.Ruleset`: lower (lower.py) → generate (codegen.py) → load or
compile the kernel (kernel.py) → encode the data (data.py) → run → explain (explain.py).
"""

from __future__ import annotations

import contextlib
import gc
from pathlib import Path

from . import ast
from .check import check_workspace
from .diagnostics import MAX_ERRORS, Diagnostic, RuleError
from .expand import expand_templates
from .model import Ruleset
from .parser import parse_source
from .source import Source, read_sources


def looks_like_path(path_or_text: str | Path) -> bool:
    if isinstance(path_or_text, Path):
        return True
    return "\n" not in path_or_text and "{" not in path_or_text


def sources_of(path_or_text: str | Path) -> list[Source]:
    if looks_like_path(path_or_text):
        return read_sources(path_or_text)
    return [Source("<rules>", str(path_or_text))]


def check_sources(sources: list[Source]) -> tuple[Ruleset | None, list[Diagnostic]]:
    """Parse every file, expand the templates, then check the workspace. Syntax errors of all
    files are reported together; the later passes wait until every file parses, so a broken file
    cannot cause knock-on "unknown name" errors elsewhere. Each pass reports at most MAX_ERRORS
    errors, and the run stops at the pass that reaches them."""
    files, diagnostics = [], []
    with _cycle_collection_paused():
        for source in sources:
            rule_file, problems = parse_source(source)
            diagnostics.extend(problems)
            if rule_file is not None:
                files.append(rule_file)
        if diagnostics:
            return None, diagnostics[:MAX_ERRORS]
        expanded, diagnostics = expand_templates(ast.Workspace(tuple(files)))
        if len(diagnostics) >= MAX_ERRORS:
            return None, diagnostics
        ruleset, problems = check_workspace(expanded)
        diagnostics += _up_to_max_errors(problems, MAX_ERRORS - len(diagnostics))
        return (None if any(d.is_error for d in diagnostics) else ruleset), diagnostics


def _up_to_max_errors(diagnostics: list[Diagnostic], errors: int) -> list[Diagnostic]:
    """The diagnostics up to the given number of errors, as if checking had stopped there."""
    for k, d in enumerate(diagnostics):
        errors -= d.is_error
        if errors == 0:
            return diagnostics[:k + 1]
    return diagnostics


@contextlib.contextmanager
def _cycle_collection_paused():
    """The front end allocates millions of small objects and keeps them (parse trees, AST
    nodes, spans), none of them in a reference cycle. Python's cycle collector would rescan all
    that are alive every time the heap grows by a quarter, which more than doubles the time of
    a large workspace and makes it grow faster than the rules; reference counting still frees
    everything, and the collector resumes afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_ruleset(path_or_text: str | Path) -> Ruleset:
    """Read and check a workspace (a file, a directory, or rule text); RuleError on any error."""
    sources = sources_of(path_or_text)
    ruleset, diagnostics = check_sources(sources)
    if ruleset is None:
        raise RuleError(diagnostics, {s.name: s for s in sources})
    return ruleset
