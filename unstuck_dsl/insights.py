"""Insights: outcome rates (replied, meeting, signup) by fit band and score decile, with 95 %
Wilson intervals, and the score where the reply rate rises most: the threshold to set an
audience at. Outcomes are read, never scored: they change no fit score (SPEC §7).
"""

from __future__ import annotations

import math
from collections import defaultdict

import attrs
import pyarrow as pa

from .schema import BAND_LEVELS, OUTCOMES

MIN_COUNT = 30  # fewer records in a bin than this is not enough to compare rates
Z95 = 1.959963984540054


def wilson(successes: int, n: int) -> tuple[float, float]:
    """The 95 % Wilson score interval of a rate."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = p + Z95 ** 2 / (2 * n)
    spread = Z95 * math.sqrt(p * (1 - p) / n + Z95 ** 2 / (4 * n * n))
    denominator = 1 + Z95 ** 2 / n
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)


@attrs.frozen
class Rate:
    label: str
    n: int
    counts: dict  # outcome -> records with it

    def rate(self, outcome: str) -> float:
        return self.counts.get(outcome, 0) / self.n if self.n else 0.0

    def interval(self, outcome: str) -> tuple[float, float]:
        return wilson(self.counts.get(outcome, 0), self.n)

    def to_dict(self) -> dict:
        return {"bin": self.label, "n": self.n,
                **{o: {"count": self.counts.get(o, 0), "rate": self.rate(o), "ci95": list(self.interval(o))}
                   for o in OUTCOMES}}


@attrs.frozen
class Jump:
    """Where the reply rate rises most between neighbouring score deciles."""

    threshold: int | None  # the suggested audience threshold; None when there is not enough data
    below: Rate | None
    above: Rate | None
    evidence: str

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "evidence": self.evidence,
                "below": self.below.to_dict() if self.below else None,
                "above": self.above.to_dict() if self.above else None}


@attrs.frozen
class Group:
    name: str  # "all leads", "ICP mm_saas", "mm_saas / vp_sales"
    score: str  # the score binned: "icp_score" or "persona_score"
    by_band: tuple[Rate, ...]
    by_decile: tuple[Rate, ...]
    jump: Jump

    def to_dict(self) -> dict:
        return {"group": self.name, "score": self.score, "by_band": [r.to_dict() for r in self.by_band],
                "by_decile": [r.to_dict() for r in self.by_decile], "reply_jump": self.jump.to_dict()}


def _decile(score: int) -> int:
    return min(score // 10, 9)


def _decile_label(k: int) -> str:
    return f"{10 * k}–{10 * k + 9 if k < 9 else 100}"


def find_jump(deciles: list[Rate]) -> Jump:
    """The largest rise in reply rate from one decile to the next that holds enough records
    (deciles with fewer than MIN_COUNT records are passed over: scores cluster on a few values)."""
    filled = [r for r in deciles if r.n >= MIN_COUNT]
    best = None
    for low, high in zip(filled, filled[1:]):
        rise = high.rate("replied") - low.rate("replied")
        if best is None or rise > best[0]:
            best = (rise, low, high)
    if best is None or best[0] <= 0:
        return Jump(None, None, None, f"not enough data: no two deciles with {MIN_COUNT}+ records each "
                                      "and a rising reply rate between them")
    rise, low, high = best
    lo_ci, hi_ci = low.interval("replied"), high.interval("replied")
    separated = hi_ci[0] > lo_ci[1]
    threshold = int(low.label.split("–")[1]) + 1  # the first score above the lower decile
    evidence = (f"reply rate {low.rate('replied'):.1%} (95% CI {lo_ci[0]:.1%}–{lo_ci[1]:.1%}, n={low.n}) at "
                f"{low.label} → {high.rate('replied'):.1%} ({hi_ci[0]:.1%}–{hi_ci[1]:.1%}, n={high.n}) at "
                f"{high.label}; the intervals {'do not overlap' if separated else 'overlap: a weak signal'}")
    return Jump(threshold, low, high, evidence)


def _group(name: str, score: str, rows: list[dict], outcomes: dict) -> Group:
    bands = {b: [0, defaultdict(int)] for b in BAND_LEVELS}
    deciles = [[0, defaultdict(int)] for _ in range(10)]
    band_field = "icp_band" if score == "icp_score" else "persona_band"
    for row in rows:
        value = row[score]
        if value is None:
            continue
        seen = outcomes.get(row["lead_id"], ())
        for bucket in (bands[row[band_field]], deciles[_decile(value)]):
            bucket[0] += 1
            for outcome in seen:
                bucket[1][outcome] += 1
    by_band = tuple(Rate(b, n, dict(c)) for b, (n, c) in bands.items())
    by_decile = tuple(Rate(_decile_label(k), n, dict(c)) for k, (n, c) in enumerate(deciles))
    return Group(name, score, by_band, by_decile, find_jump(list(by_decile)))


def analyse(leads: pa.Table, outcomes: pa.Table, by: str = "persona") -> list[Group]:
    """Groups of scored leads (the lead table of a ScoreResult, or stored lead scores) with their
    outcome rates. `by`: "persona" (each ICP / Persona, persona_score), "icp" (each ICP,
    icp_score), or "band" / "decile" (all leads together, persona_score)."""
    seen = defaultdict(set)
    for lead_id, outcome in zip(outcomes.column("lead_id").to_pylist(), outcomes.column("outcome").to_pylist()):
        seen[lead_id].add(outcome)
    columns = ["lead_id", "icp_code", "icp_score", "icp_band", "persona_code", "persona_score", "persona_band"]
    rows = pa.table({c: leads.column(c).cast(pa.string()) if pa.types.is_dictionary(leads.column(c).type)
                     else leads.column(c) for c in columns}).to_pylist()
    if by in ("band", "decile"):
        return [_group("all leads", "persona_score", rows, seen)]
    key = (lambda r: r["icp_code"]) if by == "icp" else (lambda r: (r["icp_code"], r["persona_code"]))
    groups = defaultdict(list)
    for row in rows:
        if row["icp_code"] is not None:
            groups[key(row)].append(row)
    out = []
    for name, members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if by == "icp":
            out.append(_group(f"ICP {name}", "icp_score", members, seen))
        elif name[1] is not None:
            out.append(_group(f"{name[0]} / {name[1]}", "persona_score", members, seen))
    return out


def html_report(groups: list[Group], title: str = "unstuck insights") -> str:
    """A self-contained page: per group, reply / meeting / signup rates by decile with their
    95 % intervals (matplotlib charts embedded as PNG), and the suggested threshold."""
    import base64
    import html
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}td,th{padding:2px 8px}"
             "table{border-collapse:collapse}tr:nth-child(even){background:#f4f4f4}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    for group in groups:
        fig, ax = plt.subplots(figsize=(8, 3.2))
        x = list(range(10))
        for outcome, colour in zip(OUTCOMES, ("#1f77b4", "#ff7f0e", "#2ca02c")):
            rates = [r.rate(outcome) for r in group.by_decile]
            low = [max(0.0, r.rate(outcome) - r.interval(outcome)[0]) for r in group.by_decile]
            high = [max(0.0, r.interval(outcome)[1] - r.rate(outcome)) for r in group.by_decile]
            ax.errorbar(x, rates, yerr=[low, high], label=outcome, color=colour, marker="o", capsize=3)
        if group.jump.threshold is not None:
            ax.axvline(group.jump.threshold / 10 - 0.5, color="red", linestyle="--", label="suggested threshold")
        ax.set_xticks(x, [r.label for r in group.by_decile], fontsize=8)
        ax.set_xlabel(group.score)
        ax.set_ylabel("rate")
        ax.set_title(group.name)
        ax.legend(fontsize=8)
        buffer = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=90)
        plt.close(fig)
        image = base64.b64encode(buffer.getvalue()).decode("ascii")
        rows = "".join(f"<tr><td>{html.escape(r.label)}</td><td>{r.n}</td>" + "".join(
            f"<td>{r.rate(o):.1%} ({r.interval(o)[0]:.1%}–{r.interval(o)[1]:.1%})</td>" for o in OUTCOMES) + "</tr>"
            for r in group.by_band + group.by_decile)
        threshold = (f"suggested audience threshold: <b>{group.score} ≥ {group.jump.threshold}</b>"
                     if group.jump.threshold is not None else "<b>not enough data</b> for a threshold")
        parts += [f"<h2>{html.escape(group.name)}</h2>", f"<img alt='rates by decile' src='data:image/png;base64,{image}'>",
                  f"<p>{threshold}. {html.escape(group.jump.evidence)}</p>",
                  "<table><tr><th>bin</th><th>n</th>" + "".join(f"<th>{o}</th>" for o in OUTCOMES) + f"</tr>{rows}</table>"]
    parts.append("</body></html>")
    return "\n".join(parts)
