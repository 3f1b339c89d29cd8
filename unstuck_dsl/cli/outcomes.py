"""The outcome commands: insights and suggest."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pyarrow.compute as pc

from .. import insights as analysis
from .. import pipeline
from ..diagnostics import RuleError
from ..output import REPORT_FORMATS, check_destinations, write_text
from ..render import print_diff, print_insights
from ..service.client import open_store
from ..unused import allow
from .common import WORKSPACE, UserError, user_errors
from .records import open_workspace


@click.command()
@WORKSPACE
@click.option("--by", type=click.Choice(["persona", "icp", "band", "decile"]), default="persona", show_default=True,
              help="persona: each ICP / Persona on the persona score; icp: each ICP on the ICP score; "
                   "band: all leads, rates by fit band; decile: all leads, by band and score bin.")
@click.option("--denominator", type=click.Choice(list(analysis.DENOMINATORS)), default="scored", show_default=True,
              help="What rates divide by: every scored lead, or the leads contacted (a `contacted` outcome, "
                   "or any later one).")
@click.option("--min-count", type=click.IntRange(1, None), default=analysis.MIN_COUNT, show_default=True,
              help="Fewest records on each side of a comparison: thinner score bins are merged with their neighbours.")
@click.option("--bin-width", type=click.IntRange(1, 50), default=analysis.WIDTH, show_default=True,
              help="The width of the score bins.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--html", "html_path", type=click.Path(), help="Also write a self-contained HTML page with the charts.")
@user_errors
def insights(db, by, denominator, min_count, bin_width, as_json, html_path) -> None:
    """Outcome rates by score, and where replies jump.

    A headline (leads, outcomes, dates, ruleset), then reply, meeting and signup rates by fit
    band and score bin with 95 % intervals, and the score where the reply rate jumps between
    neighbouring bins, when the jump is significant, as a suggested audience threshold."""
    check_destinations({"--html": html_path}, [db], REPORT_FORMATS)
    with open_store(db) as workspace:  # through `unstuck serve` while one holds it
        leads, outcomes = workspace.scores("lead"), workspace.outcomes()
        versions = workspace.versions()
        rules_text = versions[-1][2] if versions else None
    if not outcomes.num_rows:
        raise UserError(f"{db}: no outcomes yet; add them with `unstuck ingest RULES --outcomes FILE`")
    if denominator == "contacted" and not pc.any(pc.equal(outcomes.column("outcome"), "contacted")).as_py():
        raise UserError(f"{db}: no `contacted` outcomes stored, so no contacted leads to divide by; add them "
                        "with `unstuck ingest RULES --outcomes FILE` or use --denominator scored")
    ruleset = None
    if rules_text is not None:
        try:
            ruleset = pipeline.load_ruleset(rules_text)  # display names; codes when the rules no longer check
        except RuleError:
            ruleset = None
    report = analysis.analyse(leads, outcomes, by, denominator=denominator, width=bin_width, min_count=min_count,
                              ruleset=ruleset)
    if html_path:  # first: a reader that stops reading the terminal report (`| head`) must not lose the file
        write_text(analysis.html_report(report), html_path)
        click.echo(f"report written to {html_path}", err=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print_insights(report, by)


@click.command()
@WORKSPACE
@click.option("--out", "out_dir", type=click.Path(), help="Write the suggested rules into this new folder "
              "(formatted, each change with its evidence as a comment).")
@click.option("--min-count", type=click.IntRange(1, None), default=analysis.MIN_COUNT, show_default=True,
              help="Fewest records a parameter must be true in, and not true in, to be assessed.")
@click.option("--json", "as_json", is_flag=True, help="Print the evidence, the proposals and the diff as JSON.")
@user_errors
def suggest(db, out_dir, min_count, as_json) -> None:
    """Refine the published rules from outcomes; applies nothing.

    Per parameter: the reply rate when true, false and unknown, and its effect beside the others
    (a regularised logistic regression). Then proposals, each with its evidence: raise or lower a
    weight, drop a parameter with no measurable effect, review a filter that excludes records
    that reply well, the audience threshold; and what publishing them would move."""
    from .. import suggest as suggestions

    allow("scipy")  # scikit-learn's regression needs it
    if not Path(db).exists():
        raise UserError(f"{db}: no such workspace")
    with open_workspace(db) as workspace:
        if workspace.published is None:
            raise UserError(f"{db}: nothing published yet; publish rules first: `unstuck publish RULES --db {db}`")
        if not workspace.store.outcomes().num_rows:
            raise UserError(f"{db}: no outcomes yet; add them with `unstuck ingest --outcomes FILE --db {db}`")
        compiled, found = suggestions.analyse(workspace, min_count)
        files = suggestions.suggested_files(workspace.published.text, compiled.model, found.proposals)
        moved = workspace.publish("\n".join(text for _, text in files), dry_run=True).diff
    if out_dir:
        suggestions.write_rules(out_dir, files)
        click.echo(f"suggested rules written to {out_dir}", err=True)
    if as_json:
        out = found.to_dict()
        out["diff"] = None if moved is None else {"records": moved.records, "changed": moved.changed,
                                                  "icp_transitions": _pairs(moved.icp_transitions),
                                                  "persona_transitions": _pairs(moved.persona_transitions)}
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    suggestions.print_suggestions(found)
    if moved is not None:
        click.echo("\nWhat publishing them would move:")
        print_diff(moved)


def _pairs(transitions: dict) -> list[dict]:
    return [{"old": old, "new": new, "records": n} for (old, new), n in sorted(transitions.items())]
