"""What every command shares: one clear error line, dates, and the options several commands take."""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys

import click

from ..diagnostics import RuleError, render_all
from ..frozen import Frozen, frozen


class UserError(click.ClickException):
    """A problem the user can fix: one message, exit code 1."""
    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


# The errors that are the user's to fix, by the module that defines them.
FIXABLE_ERRORS = (("unstuck_dsl.source", "SourceError"), ("unstuck_dsl.data_error", "DataError"),
                  ("unstuck_dsl.api", "ScoringError"), ("unstuck_dsl.workspace_file", "WorkspaceBusy"),
                  ("unstuck_dsl.files", "OutputError"))


def _fixable_errors() -> tuple[type[Exception], ...]:
    """The fixable error types among the modules this process imported: a module never imported
    raised none of its errors, and importing it here would load numba (api), duckdb (store) or
    pyarrow (data, output) into commands that need none of them."""
    return tuple(getattr(sys.modules[module], name) for module, name in FIXABLE_ERRORS if module in sys.modules)


def user_errors(fn):
    """Turn every expected failure (rules, data, ids, dates) into one clear line."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RuleError as exc:
            click.echo(render_all(exc.diagnostics, exc.sources, color=sys.stderr.isatty()), err=True)
            sys.exit(1)
        except BrokenPipeError:
            # The reader of our output stopped (`unstuck score ... --out - | head`): stop quietly
            # with the status of a process ended by SIGPIPE, as Unix tools do. Standard output
            # goes to /dev/null so that Python's flush at exit does not fail a second time.
            # (signal is imported here, the only place it is used: its enums' making was 1 % of `unstuck check`.)
            import signal

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(128 + signal.SIGPIPE)
        except Exception as exc:
            if isinstance(exc, _fixable_errors()):
                raise UserError(str(exc)) from None
            if isinstance(exc, OSError):
                raise UserError(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from None
            raise

    return wrapper


def as_of_date(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--as-of {value!r} is not a date; write YYYY-MM-DD") from None


def count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# Options that several commands share, each defined once.
DEFAULT_WORKSPACE = "unstuck.duckdb"
ACCOUNTS = click.option("--accounts", "accounts_path", type=click.Path(),
                        help="Accounts file (.csv, .parquet or .jsonl), one row per account_id.")
LEADS = click.option("--leads", "leads_path", type=click.Path(),
                     help="Leads file (.csv, .parquet or .jsonl); alone, a flat table that also carries the account columns.")
AS_OF = click.option("--as-of", "as_of", help="The date `within` and `ago` count from (YYYY-MM-DD); default today.")
SIGNALS = click.option("--signals", "signals_path", type=click.Path(),
                       help="Signals (lead_id or account_id, signal, timestamp) for engagement and stage; "
                            "with --db, the stored signals are used unless this is given.")
WORKSPACE = click.option("--db", type=click.Path(), default=DEFAULT_WORKSPACE, show_default=True,
                         help="The workspace store (the same default for every command: in the current folder).")
NULL_VALUES = click.option("--null-values", "null_values", default="", callback=lambda _c, _p, v: tuple(
    word for word in v.split(",") if word), help="Comma-separated CSV cells that mean unknown, e.g. NA,null "
    "(by default only an empty cell does: `NA` is Namibia's country code).")
MISSING_COLUMNS = click.option("--missing-columns", type=click.Choice(["error", "unknown"]), default="error",
                               show_default=True, help="A declared column the input lacks: refuse the file, or read "
                               "it as unknown in every record (with a warning naming it).")
SKIP_UNKNOWN_SIGNALS = click.option("--skip-unknown-signals", is_flag=True, help="Leave out signals of types the "
                                    "rules do not declare (counted in a warning) instead of refusing the file.")


@frozen
class Reading(Frozen):
    """How a command reads its inputs: the options every scoring command shares, as one value."""
    null_values: tuple[str, ...] = ()
    missing_columns: str = "error"
    skip_unknown_signals: bool = False


DEFAULT_READING = Reading()


def reading_options(command):
    """Add --null-values, --missing-columns and --skip-unknown-signals; the command receives
    them as one `reading` argument."""
    @functools.wraps(command)
    def with_reading(*args, null_values, missing_columns, skip_unknown_signals, **kwargs):
        return command(*args, reading=Reading(null_values, missing_columns, skip_unknown_signals), **kwargs)

    for option in (SKIP_UNKNOWN_SIGNALS, MISSING_COLUMNS, NULL_VALUES):
        with_reading = option(with_reading)
    return with_reading


READ_DB = click.option("--db", type=click.Path(), help="Read the records from a workspace store instead of files.")
RAW_CSV = click.option("--raw-csv", is_flag=True, help="Write CSV cells exactly as they are (by default a text cell "
                       "starting with =, +, -, @, tab or CR gets a leading ' so spreadsheets show it as text).")
