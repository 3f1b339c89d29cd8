"""Running the `unstuck` command line in-process, as the CLI tests do."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from unstuck_dsl.cli import cli

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
AS_OF = "2026-11-26"


def run(*args, env=None):
    """`unstuck ARGS`: never a traceback, and any exception is the CLI's own exit."""
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env)
    assert "Traceback" not in result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result
