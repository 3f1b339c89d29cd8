"""Terminal rendering with rich: the drawer and the demo's report (colour only on a terminal).

Record values and rule text are printed as text: the console reads no markup (a title such as
"[red]x" stays as written) and shows control characters as escapes (see terminal.py); emphasis
comes from `style=` arguments, never from markup mixed into data."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from .explain import (
    DRAWER_COLUMNS,
    Breakdown,
    Explanation,
    assignment_words,
    breakdown_title,
    drawer_rows,
    engagement_title,
    preview_words,
)
from .terminal import visible

BOLD, BAR = "bold", "green"
UNLIMITED_WIDTH = 1_000_000


class PlainConsole(Console):
    """A console that prints every string as text, with control characters made visible."""

    def __init__(self, **options):
        super().__init__(highlight=False, soft_wrap=True, markup=False, **options)
        if not self.is_terminal:  # piped or redirected: rows as long as they are, never cut
            self.width = UNLIMITED_WIDTH

    def render_str(self, text: str, **options):
        return super().render_str(visible(text), **options)


def _console() -> Console:
    return PlainConsole()


def breakdown_table(b: Breakdown) -> Table:
    table = Table(title=breakdown_title(b), title_justify="left", caption=b.normalization, caption_justify="left")
    for column in DRAWER_COLUMNS:
        table.add_column(column, justify="right" if column == "Weight" else "left")
    for row in drawer_rows(b):
        table.add_row(*row, style=BOLD if row[0] == "Subtotal" else None)
    return table


def print_explanation(e: Explanation, console: Console | None = None) -> None:
    """The drawer as tables (explain.render_text prints the same parts as plain text)."""
    console = console or _console()
    head = [f"{e.record_kind} {e.record_id}", f"as of {e.as_of.isoformat()}"]
    head += [preview_words(e)] if e.preview else []
    console.print(" · ".join(head + assignment_words(e)), style=BOLD)
    if e.record_kind == "lead" and not e.icps:
        console.print("the lead's account is not in the data: no ICP, no Persona")
    for b in e.icps + e.personas:
        console.print()
        console.print(breakdown_table(b))
    if e.engagement is not None:
        table = Table(title=engagement_title(e.engagement), title_justify="left")
        for column in ("Signal", "Date", "Age (days)", "Still counts"):
            table.add_column(column, justify="right" if column != "Signal" else "left")
        for r in e.engagement.signals:
            table.add_row(r.signal, r.day.isoformat(), str(r.age_days), f"{r.counts:.2f}")
        console.print()
        if e.engagement.signals:
            console.print(table)
        else:
            console.print(f"Engagement (apart from fit): no signals, stage {e.engagement.stage}", style=BOLD)


def _counts(column: pa.ChunkedArray) -> list[tuple[str, int]]:
    counts = pc.value_counts(column).to_pylist()
    return sorted(((c["values"] or "—", c["counts"]) for c in counts), key=lambda kv: -kv[1])


def print_demo(result, elapsed: float, outcomes=None, console: Console | None = None) -> None:
    console = console or _console()
    leads = result.leads
    console.print(f"Scored {result.accounts.num_rows} accounts and {leads.num_rows} leads "
                  f"as of {result.as_of.isoformat()} in {elapsed:.2f}s\n", style=BOLD)
    counts = Table(title="Assignments", title_justify="left")
    counts.add_column("ICP")
    counts.add_column("accounts", justify="right")
    for code, n in _counts(result.accounts.column("icp_code")):
        counts.add_row(code, str(n))
    console.print(counts)
    personas = Table(title="Personas (leads)", title_justify="left")
    personas.add_column("ICP / Persona")
    personas.add_column("leads", justify="right")
    pairs = pc.binary_join_element_wise(leads.column("icp_code").cast(pa.string()).fill_null("—"),
                                        leads.column("persona_code").cast(pa.string()).fill_null("—"), " / ")
    for code, n in _counts(pairs):
        personas.add_row(code, str(n))
    console.print(personas)

    ranked = leads.filter(pc.is_valid(leads.column("persona_score")))
    order = pc.sort_indices(ranked, sort_keys=[("icp_score", "descending"), ("persona_score", "descending"),
                                               ("lead_id", "ascending")])
    top = ranked.take(order).slice(0, 10)
    table = Table(title="Top leads (ICP score, then Persona score)", title_justify="left")
    for column in ("lead_id", "account_id", "icp_code", "icp_score", "persona_code", "persona_score", "persona_band"):
        table.add_column(column)
    for row in top.to_pylist():
        table.add_row(*(str(row[c]) for c in ("lead_id", "account_id", "icp_code", "icp_score", "persona_code",
                                              "persona_score", "persona_band")))
    console.print(table)
    if "stage" in leads.column_names:
        stages = Table(title="Engagement stage (apart from fit)", title_justify="left")
        stages.add_column("stage")
        stages.add_column("leads", justify="right")
        for code, n in _counts(leads.column("stage")):
            stages.add_row(code, str(n))
        console.print(stages)
    if outcomes is not None and outcomes.num_rows:
        from .insights import analyse

        jump = analyse(leads, outcomes, "decile").overall.jump
        console.print()
        console.print("Insights:", style=BOLD, end=" ")
        console.print(f"the reply rate jumps at persona_score {jump.threshold}: {jump.evidence}"
                      if jump.threshold is not None else jump.evidence)
    if top.num_rows:
        console.print("\nWhy the top lead scored what it did", style=BOLD)
        print_explanation(result.explain(lead_id=top.column("lead_id")[0].as_py()), console)


def print_members(members: pa.Table, limit: int = 50, console: Console | None = None) -> None:
    console = console or _console()
    table = Table(title=f"{members.num_rows} members" + (f" (first {limit})" if members.num_rows > limit else ""),
                  title_justify="left")
    rows = [["" if v is None else str(v) for v in row.values()] for row in members.slice(0, limit).to_pylist()]
    for k, column in enumerate(members.column_names):
        # On a narrow terminal the borders and padding shrink, never an id or a code.
        widest = max((len(row[k]) for row in rows), default=0)
        numeric = _is_number(members.schema.field(column).type)
        table.add_column(column, no_wrap=True, min_width=max(widest, len(column)), justify="right" if numeric else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _is_number(type_: pa.DataType) -> bool:
    return pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_)


def bar(value: float, top: float, width: int) -> str:
    """A bar of up to `width` blocks, `value` scaled to `top` (the largest value shown beside it)."""
    return "█" * round(width * value / top)


def _bar_table(title: str, rows: list[tuple[str, str, str]]) -> Table:
    """Label, count and bar per row, without borders: a histogram."""
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 1))
    table.add_column()
    table.add_column()
    table.add_column(style=BAR)
    for row in rows:
        table.add_row(*row)
    return table


def bin_bounds(k: int) -> tuple[int, int]:
    """Score bin k of ten: (0, 9), ..., (90, 100)."""
    return 10 * k, 10 * k + 9 if k < 9 else 100


def bin_label(k: int) -> str:
    """Score bin k of ten: "0–9", ..., "90–100"."""
    return "{}–{}".format(*bin_bounds(k))


def composition_groups(members: pa.Table) -> list[dict]:
    """An audience's members per ICP (and per Persona), largest first: {"icp", "persona" (None for
    accounts), "label" ("ICP a / Persona b"), "members", "histograms": {score field: its ten bins (0–9 … 90–100), for a field the
    group has scores in}}. What `unstuck audience --composition` prints and the Audiences page
    draws; counted by Arrow's group-by (an audience may hold millions of members)."""
    with_persona = "persona_code" in members.column_names
    keys = {"icp": "icp_code", "persona": "persona_code"}
    plain = {name: (members.column(column).cast(pa.string()) if column in members.column_names
                    else pa.nulls(members.num_rows, pa.string())) for name, column in keys.items()}
    fields = [f for f in ("icp_score", "persona_score") if f in members.column_names]
    for field in fields:  # each score's bin: min(score // 10, 9), unknown when the score is
        scores = members.column(field).cast(pa.int64())
        plain[field] = pc.min_element_wise(pc.divide(scores, 10), pa.scalar(9, pa.int64()), skip_nulls=False)
    table = pa.table(plain)
    sizes = table.group_by(list(keys)).aggregate([("icp", "count", pc.CountOptions(mode="all"))]).to_pylist()
    groups = {(r["icp"], r["persona"]): {"members": r["icp_count"], "histograms": {}} for r in sizes}
    for field in fields:
        counted = table.group_by([*keys, field]).aggregate([("icp", "count", pc.CountOptions(mode="all"))])
        for r in counted.to_pylist():
            if r[field] is not None:
                bins = groups[(r["icp"], r["persona"])]["histograms"].setdefault(field, [0] * 10)
                bins[r[field]] = r["icp_count"]
    out = []
    for (icp, persona), group in sorted(groups.items(), key=lambda kv: (-kv[1]["members"], str(kv[0]))):
        histograms = {field: group["histograms"][field] for field in fields if field in group["histograms"]}
        label = f"ICP {icp or 'none'}" + (f" / Persona {persona or 'none'}" if with_persona else "")
        out.append({"icp": icp, "persona": persona if with_persona else None, "label": label,
                    "members": group["members"], "histograms": histograms})
    return out


def print_composition(members: pa.Table, name: str, console: Console | None = None) -> None:
    """Member count and the score distribution per ICP (and per Persona), as histograms."""
    console = console or _console()
    console.print(f"audience {name}: {members.num_rows} members", style=BOLD)
    for group in composition_groups(members):
        console.print()
        console.print(group["label"], style=BOLD, end="")
        console.print(f": {group['members']} members")
        for field, bins in group["histograms"].items():
            top = max(bins) or 1
            rows = []
            for k, n in enumerate(bins):
                low, high = bin_bounds(k)
                rows.append((f"{low:>3}–{high:<3}", f"{n:>6}", bar(n, top, 30)))
            console.print(_bar_table(field, rows))


def print_diff(report, console: Console | None = None) -> None:
    """A rule change's effect: transitions, band changes, score deltas, the biggest movers."""
    console = console or _console()
    console.print(f"{report.changed} of {report.records} {report.kind}s would change", style=BOLD)
    for title, transitions in (("ICP (old → new)", report.icp_transitions),
                               ("Persona (old → new)", report.persona_transitions)):
        if not transitions:
            continue
        table = Table(title=title, title_justify="left")
        olds = sorted({o for o, _ in transitions})
        news = sorted({n for _, n in transitions})
        table.add_column("old \\ new")
        for n in news:
            table.add_column(n, justify="right")
        for o in olds:
            table.add_row(o, *(str(transitions.get((o, n), "")) for n in news))
        console.print(table)
    if report.band_changes:
        bands = "ICP band / Persona band" if report.kind == "lead" else "ICP band"
        table = Table(title=f"{sum(report.band_changes.values()):,} {report.kind}s would change band ({bands})",
                      title_justify="left")
        table.add_column("old")
        table.add_column("new")
        table.add_column(f"{report.kind}s", justify="right")
        for (o, n), count in sorted(report.band_changes.items(), key=lambda kv: -kv[1]):
            table.add_row(o, n, f"{count:,}")
        console.print(table)
    for title, deltas in (("icp_score delta", report.icp_deltas), ("persona_score delta", report.persona_deltas)):
        if not deltas:
            continue
        top = max(deltas.values())
        console.print(_bar_table(title, [(bucket, f"{count:>7}", bar(count, top, 30)) for bucket, count in
                                         sorted(deltas.items(), key=lambda kv: _delta_order(kv[0]))]))
    for mover in report.movers:
        console.print()
        console.print(str(mover.record_id), style=BOLD, end="")
        console.print(f": {_scores(mover.old)} → {_scores(mover.new)}")
        table = Table(show_header=True, box=None, padding=(0, 1))
        for column in ("where", "parameter", "old", "new"):
            table.add_column(column)
        for row in mover.rows:
            table.add_row(*row)
        console.print(table)


def _delta_order(bucket: str) -> float:
    return 0.0 if bucket == "0" else float(bucket.split("..")[0])


def _scores(scores: tuple) -> str:
    icp, icp_score, persona, persona_score = scores
    text = f"ICP {icp or 'none'} {'' if icp_score is None else icp_score}".rstrip()
    if persona is not None or persona_score is not None:
        text += f", Persona {persona or 'none'} {'' if persona_score is None else persona_score}".rstrip()
    return text


def print_insights(report, by: str, console: Console | None = None) -> None:
    """The headline, a line per group, then per group its rates by band and by score range
    (bins with records only), with counts, 95 % intervals of the reply rate and a chart."""
    from .insights import RATES, pct

    console = console or _console()
    lines = report.headline()
    console.print(lines[0], style=BOLD)
    for line in lines[1:]:
        console.print(line)
    if report.groups:
        summary = Table(title="Per group: where the reply rate jumps", title_justify="left")
        for column in ("group", "leads", "threshold", "reply rate compared"):
            summary.add_column(column, justify="right" if column == "leads" else "left")
        for row in report.summary():
            summary.add_row(*row)
        console.print()
        console.print(summary)
    shown = [report.overall] if by in ("band", "decile") or not report.groups else list(report.groups)
    for group in shown:
        console.print()
        console.print(f"{group.name}" + (f" ({group.code})" if group.code else ""), style=BOLD)
        tables = [("fit band", group.by_band)] + ([] if by == "band" else [(group.score, group.by_bin)])
        for heading, rates in tables:
            table = Table(title=f"by {heading}", title_justify="left")
            table.add_column(heading)
            table.add_column("leads", justify="right")
            for outcome in RATES:
                table.add_column(outcome, justify="right")
                if outcome == "replied":
                    table.add_column("95% CI", justify="right")
            table.add_column("reply rate", style=BAR)
            top = max((r.rate("replied") for r in rates), default=0) or 1
            for r in rates:
                cells = []
                for outcome in RATES:
                    cells.append(f"{pct(r.rate(outcome))} ({r.counts.get(outcome, 0)})")
                    if outcome == "replied":
                        low, high = r.interval(outcome)
                        cells.append(f"{100 * low:.0f}–{100 * high:.0f}%")
                table.add_row(r.label, f"{r.n:,}", *cells, bar(r.rate("replied"), top, 20))
            console.print(table)
        if group is not report.overall:
            if group.jump.reliable:
                console.print(f"reply rate jumps at {group.score} {group.jump.threshold}: {group.jump.evidence}")
                console.print(f"suggested audience threshold: {group.score} >= {group.jump.threshold}")
            else:
                console.print(group.jump.evidence)
