"""Insights: outcome rates (replied, meeting, signup) by fit band and by score bin, with 95 %
Wilson intervals, and the score where the reply rate jumps: the threshold to set an audience at.
Outcomes are read, never scored: they change no fit score (SPEC §7).

A jump is called only when the data supports it. Scores are cut into bins of a fixed width;
only neighbouring bins are compared, at each edge between two bins with records, each side
merged with its further neighbours until it holds `min_count` records (thin bins are merged,
never skipped). A rise counts only when its Newcombe interval lies above zero, at 95 % over
all the edges compared (Bonferroni); the suggested threshold is the lower edge of the upper
bin. Otherwise the report says plainly that the data shows no reliable jump.

Rates divide by every scored lead (`denominator="scored"`) or by the leads contacted
(`denominator="contacted"`): those with a `contacted` outcome, or any later one (a lead that
replied was contacted).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from statistics import NormalDist

import attrs
import pyarrow as pa

from .schema import BAND_LEVELS, OUTCOMES

MIN_COUNT = 30  # a side of a comparison holds at least this many records (thin bins are merged)
WIDTH = 10  # the default bin width on the 0–100 score
Z95 = 1.959963984540054
RATES = tuple(o for o in OUTCOMES if o != "contacted")  # the rates reported (contacted is a denominator)
DENOMINATORS = ("scored", "contacted")


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a rate (95 % by default), exactly 0 and 1 at the ends."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = p + z ** 2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z ** 2 / (4 * n * n))
    denominator = 1 + z ** 2 / n
    low = 0.0 if successes == 0 else max(0.0, (centre - spread) / denominator)
    high = 1.0 if successes == n else min(1.0, (centre + spread) / denominator)
    return low, high


def newcombe(s1: int, n1: int, s2: int, n2: int, z: float = Z95) -> tuple[float, float]:
    """The Newcombe (hybrid Wilson score) interval of p2 - p1 for independent samples, 95 %
    by default."""
    p1, p2 = s1 / n1, s2 / n2
    l1, u1 = wilson(s1, n1, z)
    l2, u2 = wilson(s2, n2, z)
    d = p2 - p1
    return d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2), d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)


def family_z(comparisons: int, level: float = 0.95) -> float:
    """The z of intervals that hold together at `level` over `comparisons` of them (Bonferroni)."""
    return NormalDist().inv_cdf(1 - (1 - level) / (2 * max(1, comparisons)))


def _clean(x: float) -> float:
    """A rate for JSON: clamped to [0, 1] and rounded (no 3.38e-17)."""
    return round(min(1.0, max(0.0, x)), 4)


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


@attrs.frozen
class Rate:
    """Records in one bin (a band, or a score range low..high) and how many had each outcome."""

    label: str
    n: int
    counts: dict  # outcome -> records with it
    low: int | None = None  # the score range, for score bins
    high: int | None = None

    def rate(self, outcome: str) -> float:
        return self.counts.get(outcome, 0) / self.n if self.n else 0.0

    def interval(self, outcome: str) -> tuple[float, float]:
        return wilson(self.counts.get(outcome, 0), self.n)

    def to_dict(self) -> dict:
        out = {"bin": self.label, "n": self.n}
        if self.low is not None:
            out.update(low=self.low, high=self.high)
        for o in RATES:
            lo, hi = self.interval(o)
            out[o] = {"count": self.counts.get(o, 0), "rate": _clean(self.rate(o)), "ci95": [_clean(lo), _clean(hi)]}
        return out


@attrs.frozen
class Jump:
    """The rise in reply rate between two neighbouring score bins the data is surest of."""

    threshold: int | None  # the suggested audience threshold; None when the data shows no reliable jump
    below: Rate | None  # the neighbouring bins compared (also when the rise is not significant)
    above: Rate | None
    difference: tuple[float, float] | None  # Newcombe interval of above - below (95 % over the edges compared)
    evidence: str
    zone: tuple[int, int] | None = None  # where the jump can lie: thin bins next to the edge leave it open

    @property
    def reliable(self) -> bool:
        return self.threshold is not None

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "reliable": self.reliable, "evidence": self.evidence,
                "difference_ci95": None if self.difference is None else [round(d, 4) for d in self.difference],
                "lies_between": None if self.zone is None else list(self.zone),
                "below": self.below.to_dict() if self.below else None,
                "above": self.above.to_dict() if self.above else None}


@attrs.frozen
class Group:
    name: str  # the display name: "All leads", "Mid-market SaaS", "Mid-market SaaS / VP Sales"
    code: str | None  # "mm_saas", "mm_saas / vp_sales"; None for all leads
    score: str  # the score binned: "icp_score" or "persona_score"
    n: int  # records counted (scored, or contacted)
    by_band: tuple[Rate, ...]  # bands with records only
    by_bin: tuple[Rate, ...]  # score bins with records (`filled_bins`)
    jump: Jump

    def to_dict(self) -> dict:
        return {"group": self.name, "code": self.code, "score": self.score, "n": self.n,
                "by_band": [r.to_dict() for r in self.by_band], "by_bin": [r.to_dict() for r in self.by_bin],
                "reply_jump": self.jump.to_dict()}


@attrs.frozen
class Report:
    denominator: str  # "scored" or "contacted"
    leads: int  # every lead
    counted: int  # leads with a Persona score in the denominator
    outcomes: dict  # outcome kind -> records
    first: str | None  # the outcomes' date range
    last: str | None
    ruleset: str | None  # the version (hash prefix) of the rules that scored the leads, and as of when
    as_of: str | None
    width: int
    min_count: int
    overall: Group
    groups: tuple[Group, ...]

    def to_dict(self) -> dict:
        return {"headline": {"leads": self.leads, "denominator": self.denominator, "counted": self.counted,
                             "outcomes": dict(self.outcomes), "from": self.first, "to": self.last,
                             "ruleset": self.ruleset, "as_of": self.as_of, "bin_width": self.width,
                             "min_count": self.min_count, "threshold": self.overall.jump.threshold,
                             "evidence": self.overall.jump.evidence},
                "overall": self.overall.to_dict(), "groups": [g.to_dict() for g in self.groups]}

    def denominator_text(self) -> str:
        return ("Rates are per contacted lead (one with a `contacted` outcome, or any later one)."
                if self.denominator == "contacted" else
                "Rates are per scored lead, contacted or not (`--denominator contacted` divides by contacted leads).")

    def headline(self) -> list[str]:
        """The lines a reader needs first: what was counted, and the overall threshold."""
        kinds = ", ".join(f"{k} {n:,}" for k, n in self.outcomes.items())
        dates = f", {self.first} to {self.last}" if self.first else ""
        stamp = f"; scored by ruleset {self.ruleset}" if self.ruleset else ""
        stamp += f" as of {self.as_of}" if self.as_of else ""
        counted = "contacted, with a Persona score" if self.denominator == "contacted" else "with a Persona score"
        lines = [f"{self.leads:,} leads ({self.counted:,} {counted}); {sum(self.outcomes.values()):,} outcomes "
                 f"({kinds}){dates}{stamp}.", self.denominator_text()]
        jump = self.overall.jump
        if jump.reliable:
            lines.append(f"All leads: the reply rate jumps at persona_score {jump.threshold}: {jump.evidence}.")
            lines.append(f"Suggested audience threshold: persona_score >= {jump.threshold}.")
        else:
            lines.append(f"All leads: {jump.evidence}.")
        return lines

    def summary(self) -> list[tuple[str, str, str, str]]:
        """Per group: name, records counted, the threshold (or why none), the rise compared."""
        rows = []
        for g in self.groups:
            j = g.jump
            threshold = f"{g.score} >= {j.threshold}" if j.reliable else (
                "not enough data" if j.below is None else "no reliable jump")
            rise = "" if j.below is None else (
                f"{pct(j.below.rate('replied'))} at {j.below.label} → {pct(j.above.rate('replied'))} at {j.above.label}")
            rows.append((g.name, f"{g.n:,}", threshold, rise))
        return rows


def _range_label(low: int, high: int) -> str:
    return f"{low}–{high}"


def _pooled(bins: list[Rate]) -> Rate:
    counts = defaultdict(int)
    for b in bins:
        for key, value in b.counts.items():
            counts[key] += value
    low, high = min(b.low for b in bins), max(b.high for b in bins)
    return Rate(_range_label(low, high), sum(b.n for b in bins), dict(counts), low, high)


def filled_bins(bins: list[Rate]) -> list[Rate]:
    """The bins with records; a run of empty bins joins the bin above it (no lead scored there,
    so a threshold anywhere in the run selects the same leads)."""
    filled = [b for b in bins if b.n]
    for k in range(1, len(filled)):
        if filled[k].low != filled[k - 1].high + 1:
            low = filled[k - 1].high + 1
            filled[k] = attrs.evolve(filled[k], low=low, label=_range_label(low, filled[k].high))
    return filled


def find_jump(bins: list[Rate], min_count: int = MIN_COUNT, outcome: str = "replied") -> Jump:
    """Where the rate rises between neighbouring score bins. At each edge between two bins, the
    bin below is compared with the bin above, each merged with its further neighbours (away
    from the edge) until it holds `min_count` records. The edge whose rise has the highest
    Newcombe lower bound (95 % over all the edges compared) is the jump when that bound is above
    zero; the suggested threshold is the lower edge of the upper bin."""
    filled = filled_bins(bins)
    pairs = []
    for k in range(1, len(filled)):
        below = next((filled[j:k] for j in range(k - 1, -1, -1) if sum(b.n for b in filled[j:k]) >= min_count), None)
        above = next((filled[k:j] for j in range(k + 1, len(filled) + 1)
                      if sum(b.n for b in filled[k:j]) >= min_count), None)
        if below is not None and above is not None:
            pairs.append((k, _pooled(below), _pooled(above)))
    if not pairs:
        total = sum(b.n for b in filled)
        return Jump(None, None, None, None, f"not enough data: {total:,} records do not make two neighbouring "
                                            f"score ranges of {min_count}+ each")
    z = family_z(len(pairs))
    best = None
    for k, low, high in pairs:
        ci = newcombe(low.counts.get(outcome, 0), low.n, high.counts.get(outcome, 0), high.n, z)
        if best is None or ci[0] > best[0][0]:
            best = (ci, k, low, high)
    ci, k, low, high = best
    rise = high.rate(outcome) - low.rate(outcome)
    level = "95% CI" if len(pairs) == 1 else f"95% CI over the {len(pairs)} edges compared"
    compared = (f"{outcome} {pct(low.rate(outcome))} ({low.counts.get(outcome, 0)}/{low.n}) at {low.label} → "
                f"{pct(high.rate(outcome))} ({high.counts.get(outcome, 0)}/{high.n}) at {high.label}: "
                f"{100 * rise:+.1f} points ({level}: {100 * ci[0]:+.1f} to {100 * ci[1]:+.1f})")
    if ci[0] <= 0:
        return Jump(None, low, high, ci, f"the data shows no reliable jump; the likeliest rise, {compared}, "
                                         "could be chance")
    zone = _zone(filled, k, min_count)
    zone = (max(zone[0], low.low), min(zone[1], high.high + 1))
    if zone[0] != zone[1]:
        compared += (f"; scores {zone[0]}–{zone[1] - 1} hold too few records to tell where between {zone[0]} "
                     f"and {zone[1]} it starts")
    return Jump(high.low, low, high, ci, compared, zone)


def _zone(filled: list[Rate], k: int, min_count: int) -> tuple[int, int]:
    """Where a jump at the edge before filled[k] can start: from the lowest of the thin bins
    just below the edge to the top of the thin bins from the edge up (the edge itself when
    both bins beside it hold `min_count` records)."""
    start = k
    while start > 0 and filled[start - 1].n < min_count:
        start -= 1
    end = k
    while end < len(filled) and filled[end].n < min_count:
        end += 1
    top = filled[end].low if end < len(filled) else filled[-1].high + 1
    return filled[start].low, top


def _bins(width: int) -> list[tuple[int, int]]:
    """Score ranges of `width` from 0; the last one runs to 100."""
    lows = list(range(0, 100, width))
    return [(lo, lo + width - 1) for lo in lows[:-1]] + [(lows[-1], 100)]


def _group(name: str, code: str | None, score: str, rows: list[dict], outcomes: dict, counted,
           width: int, min_count: int) -> Group | None:
    ranges = _bins(width)
    bands = {b: [0, defaultdict(int)] for b in BAND_LEVELS}
    bins = [[0, defaultdict(int)] for _ in ranges]
    band_field = "icp_band" if score == "icp_score" else "persona_band"
    n = 0
    for row in rows:
        value = row[score]
        if value is None or not counted(row["lead_id"]):
            continue
        n += 1
        seen = outcomes.get(row["lead_id"], ())
        for bucket in (bands[row[band_field]], bins[min(value // width, len(ranges) - 1)]):
            bucket[0] += 1
            for outcome in seen:
                bucket[1][outcome] += 1
    if n == 0:
        return None
    by_band = tuple(Rate(b, c, dict(o)) for b, (c, o) in bands.items() if c)
    raw = [Rate(_range_label(lo, hi), c, dict(o), lo, hi) for (lo, hi), (c, o) in zip(ranges, bins)]
    by_bin = tuple(filled_bins(raw))
    return Group(name, code, score, n, by_band, by_bin, find_jump(raw, min_count))


def _day(timestamp) -> str | None:
    """The ISO day of an outcome's timestamp (as stored: text), None when it does not start with one."""
    try:
        return dt.date.fromisoformat(str(timestamp)[:10]).isoformat()
    except ValueError:
        return None


def _names(ruleset) -> dict:
    """Display names by code: ICPs by their code, Personas by (ICP code, Persona code)."""
    names = {}
    if ruleset is not None:
        for icp in ruleset.icps:
            names[icp.code] = icp.name
            for persona in icp.personas:
                names[(icp.code, persona.code)] = persona.name
    return names


def analyse(leads: pa.Table, outcomes: pa.Table, by: str = "persona", *, denominator: str = "scored",
            width: int = WIDTH, min_count: int = MIN_COUNT, ruleset=None) -> Report:
    """Scored leads (the lead table of a ScoreResult, or stored lead scores) with their outcome
    rates: all leads on the persona score, then per group. `by`: "persona" (each ICP / Persona,
    persona_score), "icp" (each ICP, icp_score), or "band" / "decile" (all leads only).
    `ruleset` (a checked model.Ruleset) gives display names."""
    if denominator not in DENOMINATORS:
        raise ValueError(f"denominator: {denominator!r} is not one of {', '.join(DENOMINATORS)}")
    seen = defaultdict(set)
    kinds = defaultdict(int)
    stamps = []
    columns = outcomes.column_names
    for record in outcomes.to_pylist():
        seen[record["lead_id"]].add(record["outcome"])
        kinds[record["outcome"]] += 1
        if "timestamp" in columns and record["timestamp"] is not None:
            stamps.append(_day(record["timestamp"]))
    stamps = [d for d in stamps if d is not None]
    if denominator == "contacted":
        contacted = set(seen)  # a lead with any outcome was contacted
        counted = contacted.__contains__
    else:
        contacted = None
        counted = lambda _: True  # noqa: E731 - every scored lead
    wanted = ["lead_id", "icp_code", "icp_score", "icp_band", "persona_code", "persona_score", "persona_band"]
    rows = pa.table({c: leads.column(c).cast(pa.string()) if pa.types.is_dictionary(leads.column(c).type)
                     else leads.column(c) for c in wanted}).to_pylist()
    overall = _group("All leads", None, "persona_score", rows, seen, counted, width, min_count)
    if overall is None:
        overall = Group("All leads", None, "persona_score", 0, (), (),
                        Jump(None, None, None, None, "not enough data: no scored lead"
                             + (" was contacted" if contacted is not None else "")))
    names = _names(ruleset)
    groups = []
    if by in ("persona", "icp"):
        key = (lambda r: r["icp_code"]) if by == "icp" else (lambda r: (r["icp_code"], r["persona_code"]))
        members = defaultdict(list)
        for row in rows:
            if row["icp_code"] is not None:
                members[key(row)].append(row)
        for code, part in sorted(members.items(), key=lambda kv: str(kv[0])):
            if by == "icp":
                group = _group(names.get(code, code), code, "icp_score", part, seen, counted, width, min_count)
            elif code[1] is None:
                continue
            else:
                name = f"{names.get(code[0], code[0])} / {names.get(code, code[1])}"
                group = _group(name, f"{code[0]} / {code[1]}", "persona_score", part, seen, counted, width, min_count)
            if group is not None:  # no scored (or contacted) lead: nothing to show
                groups.append(group)
    ruleset_ids = sorted({str(v) for v in leads.column("ruleset").to_pylist() if v is not None}) \
        if "ruleset" in leads.column_names else []
    as_ofs = sorted({str(v) for v in leads.column("as_of").to_pylist() if v is not None}) \
        if "as_of" in leads.column_names else []
    return Report(denominator=denominator, leads=len(rows),
                  counted=overall.n, outcomes={k: kinds[k] for k in OUTCOMES if kinds.get(k)},
                  first=min(stamps) if stamps else None, last=max(stamps) if stamps else None,
                  ruleset=", ".join(r[:12] for r in ruleset_ids) or None, as_of=", ".join(as_ofs) or None,
                  width=width, min_count=min_count, overall=overall, groups=tuple(groups))


def _chart(group: Group, min_count: int) -> str:
    """The reply rate (%) per score bin with its 95 % interval and the counts, as a PNG in base64."""
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = group.by_bin
    x = list(range(len(bins)))
    rates = [100 * b.rate("replied") for b in bins]
    lows = [100 * b.interval("replied")[0] for b in bins]
    highs = [100 * b.interval("replied")[1] for b in bins]
    fig, ax = plt.subplots(figsize=(8, 3.2))
    thin = [b.n < min_count for b in bins]
    ax.bar(x, rates, color=["#b8cde0" if t else "#1f77b4" for t in thin], width=0.7)
    ax.errorbar(x, rates, yerr=[[r - lo for r, lo in zip(rates, lows)], [hi - r for r, hi in zip(rates, highs)]],
                fmt="none", ecolor="#333333", capsize=3, linewidth=1)
    for k, b in enumerate(bins):
        ax.annotate(f"{b.counts.get('replied', 0)}/{b.n}", (k, highs[k]), textcoords="offset points",
                    xytext=(0, 3), ha="center", fontsize=7)
    if group.jump.reliable:
        edge = next((k for k, b in enumerate(bins) if b.low == group.jump.threshold), None)
        if edge is not None:
            ax.axvline(edge - 0.5, color="#d62728", linestyle="--", label=f"threshold {group.jump.threshold}")
            ax.legend(fontsize=8, loc="upper left")
    ax.set_xticks(x, [b.label for b in bins], fontsize=8)
    ax.set_xlabel(group.score)
    ax.set_ylabel("reply rate (%)")
    ax.set_ylim(0, min(100.0, max(highs, default=10) * 1.15 + 2))
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _rate_table(heading: str, rates, esc) -> str:
    head = (f"<tr><th>{esc(heading)}</th><th>leads</th><th>replied</th><th>95% CI</th>"
            + "".join(f"<th>{esc(o)}</th>" for o in RATES if o != "replied") + "</tr>")
    rows = []
    for r in rates:
        low, high = r.interval("replied")
        cells = [f"{pct(r.rate('replied'))} <small>({r.counts.get('replied', 0):,})</small>",
                 f"{100 * low:.1f}–{100 * high:.1f}%"]
        cells += [f"{pct(r.rate(o))} <small>({r.counts.get(o, 0):,})</small>" for o in RATES if o != "replied"]
        rows.append(f"<tr><td>{esc(r.label)}</td><td>{r.n:,}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><caption>by {esc(heading)}</caption>{head}{''.join(rows)}</table>"


def html_report(report: Report, title: str = "unstuck insights") -> str:
    """A self-contained page (no external resource): the headline, a row per group, then per
    group its reply-rate chart (percentages, intervals, counts), and its rates by band and by
    score as separate tables. Every name from the rules or the data is escaped."""
    import html

    esc = html.escape
    lines = report.headline()
    jump = report.overall.jump
    verdict = (f"Set audiences at <b>persona_score &ge; {jump.threshold}</b>" if jump.reliable
               else "No reliable jump in the reply rate over all leads")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
             "<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}"
             "td,th{padding:3px 10px;text-align:right}td:first-child,th:first-child{text-align:left}"
             "table{border-collapse:collapse;margin:0.6em 0}caption{text-align:left;font-weight:bold}"
             "tr:nth-child(even){background:#f4f4f4}.headline{background:#eef4fa;border-left:4px solid #1f77b4;"
             "padding:0.6em 1em}.verdict{font-size:1.4em}.code{color:#777;font-weight:normal;font-size:0.7em}"
             "table.summary td{text-align:left}</style></head><body>",
             f"<h1>{esc(title)}</h1>",
             f"<div class='headline'><p class='verdict'>{verdict}</p>"
             + "".join(f"<p>{esc(line)}</p>" for line in lines if not line.startswith("Suggested")) + "</div>"]
    if report.groups:
        rows = "".join(f"<tr><td>{esc(name)}</td><td>{esc(n)}</td><td><b>{esc(threshold)}</b></td>"
                       f"<td>{esc(rise)}</td></tr>" for name, n, threshold, rise in report.summary())
        parts.append("<h2>Per group</h2><table class='summary'><tr><th>group</th><th>leads</th><th>threshold</th>"
                     f"<th>reply rate compared</th></tr>{rows}</table>")
    for group in (report.overall,) + report.groups:
        code = f" <span class='code'>{esc(group.code)}</span>" if group.code else ""
        parts.append(f"<h2>{esc(group.name)}{code}</h2>")
        if group is report.overall:
            pass  # its jump is the headline's
        elif group.jump.reliable:
            parts.append(f"<p>Reply rate jumps at <b>{esc(group.score)} {group.jump.threshold}</b>: "
                         f"{esc(group.jump.evidence)}.</p>")
        elif group.jump.below is not None:
            parts.append(f"<p>{esc(group.jump.evidence[0].upper() + group.jump.evidence[1:])}.</p>")
        if group.by_bin:
            parts.append(f"<img alt='reply rate by {esc(group.score)}' src='data:image/png;base64,{_chart(group, report.min_count)}'>")
        parts.append(_rate_table("fit band", group.by_band, esc))
        parts.append(_rate_table(group.score, group.by_bin, esc))
    parts.append(f"<p><small>{esc(report.denominator_text())} Score bins are {report.width} points wide; "
                 f"pale bars hold fewer than {report.min_count} records and are merged with their neighbours "
                 "when rates are compared.</small></p></body></html>")
    return "\n".join(parts)
