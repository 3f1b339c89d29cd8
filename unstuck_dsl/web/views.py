"""What the templates draw, worked out from the workspace's figures: chart geometry for the inline
SVG (histograms, rates with intervals), rule text split into highlighted tokens, labels. Nothing
here computes a figure: every count and rate comes from the code the CLI and the API use; this
only places it."""

from __future__ import annotations

import re

import attrs

from ..render import bin_label

STAGE_LABELS = {"cool": "Cool", "warm": "Warm", "in_market": "In-market", "hot": "Hot"}
RATES = ("replied", "meeting", "signup")
KEYWORDS = frozenset({"icp", "persona", "score", "filter", "exclude", "live", "draft", "audience", "from", "field",
                      "fields", "account", "lead", "region", "stage", "signal", "signals", "engagement", "and", "or",
                      "not", "in", "has", "between", "within", "months", "days", "years", "resembles", "is_known",
                      "below", "half_life", "window", "template"})
_TOKENS = re.compile(r'(?P<comment>#[^\n]*|//[^\n]*)|(?P<string>"(?:[^"\\\n]|\\.)*")|(?P<number>\b\d+(?:\.\d+)?\b)'
                     r'|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<other>\s+|.)', re.S)


def stage_label(stage) -> str:
    return STAGE_LABELS.get(stage, str(stage)) if stage is not None else "—"


def highlight(text: str) -> list[tuple[str | None, str]]:
    """Rule text as (class, text) tokens, class None for plain text; the template escapes each."""
    tokens = []
    for match in _TOKENS.finditer(text):
        kind = match.lastgroup
        if kind == "word":
            kind = "keyword" if match.group() in KEYWORDS else None
        elif kind == "other":
            kind = None
        if tokens and kind is None and tokens[-1][0] is None:
            tokens[-1] = (None, tokens[-1][1] + match.group())
        else:
            tokens.append((kind, match.group()))
    return tokens


@attrs.frozen
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    count: int
    middle: float


@attrs.frozen
class Histogram:
    title: str
    field: str
    width: int
    height: int
    bars: tuple[Bar, ...]


def histogram(bins: list[int], field: str, title: str, width: int = 320, height: int = 120) -> Histogram:
    """Ten score bins as bars labelled with their counts (`render.composition_groups`' bins)."""
    top = max([1, *bins])
    step = width / len(bins)
    plot = height - 28
    bars = []
    for k, count in enumerate(bins):
        tall = round(count / top * plot)
        bars.append(Bar(round(k * step + 2, 1), plot - tall + 12, round(max(1.0, step - 4), 1), tall, bin_label(k), count,
                        round(k * step + step / 2, 1)))
    return Histogram(title, field, width, height, tuple(bars))


@attrs.frozen
class Point:
    x: float
    y: float
    low: float
    high: float
    tip: str


@attrs.frozen
class RateChart:
    title: str
    width: int
    height: int
    left: float
    top: float
    bottom: float  # the plot's base line (y)
    right: float
    ticks: tuple[tuple[float, str], ...]
    top_label: str
    points: tuple[Point, ...]
    threshold: tuple[float, str] | None  # (x, label)


def percent(rate) -> str:
    return "—" if rate is None else f"{100 * rate:.1f} %"


def rate_chart(bins: list[dict], outcome: str, threshold, title: str) -> RateChart:
    """Rate of `outcome` per score bin (insights' `by_bin` rows) with its 95 % interval as a
    whisker, and the suggested threshold as a vertical rule."""
    width, height, left, bottom_margin, top = 480, 180, 36, 22, 8
    plot_w, plot_h = width - left - 8, height - bottom_margin - top
    high = max([0.05, *(b[outcome]["ci95"][1] or 0 for b in bins if b.get(outcome))])

    def x(score):
        return round(left + score / 100 * plot_w, 1)

    def y(rate):
        return round(top + plot_h - (rate or 0) / high * plot_h, 1)

    points = []
    for b in bins:
        rate = b.get(outcome)
        if not rate or b.get("low") is None or rate["rate"] is None:
            continue
        low, up = rate["ci95"]
        points.append(Point(x((b["low"] + b["high"]) / 2), y(rate["rate"]), y(low), y(up),
                            f"{b['bin']}: {percent(rate['rate'])} ({rate['count']} of {b['n']}), "
                            f"95 % {percent(low)}–{percent(up)}"))
    mark = None if threshold is None else (x(threshold), f"jump at {threshold}")
    return RateChart(title, width, height, left, top, top + plot_h, left + plot_w,
                     tuple((x(t), str(t)) for t in (0, 20, 40, 60, 80, 100)), percent(high), tuple(points), mark)
