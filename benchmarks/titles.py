"""Title matching quality and speed: `resembles` on the labelled set, the old matcher beside the new.

    python benchmarks/titles.py                  # precision / recall / F1 per target and overall
    python benchmarks/titles.py --misses         # also every pair the new matcher gets wrong
    python benchmarks/titles.py --read 1000000   # also: time to read that many distinct titles

The labelled set is tests/data/titles_labelled.tsv (labelling policy: docs/titles.md). A pair
counts as a match when `title resembles "target"` is true at the default threshold (0.8).
Targets (issue 20): precision >= 0.95 and recall >= 0.90 overall, no target below 0.85 on either;
reading 1M distinct titles <= 10 s.
"""

from __future__ import annotations

import argparse
import csv
import functools
import random
import re
import sys
import time
import unicodedata
from pathlib import Path

from unstuck_dsl import titles as title_reader
from unstuck_dsl.text import DEFAULT_THRESHOLD, TitleMatcher
from unstuck_dsl.titles import VOCABULARY_VERSION, read_title

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
LABELLED = DATA / "titles_labelled.tsv"
HOLDOUT = DATA / "titles_holdout.tsv"  # written after the vocabulary, never used to tune it


# ---- the matcher before issue 20, kept for the comparison ----------------------------------------


class WordOverlapMatcher:
    """`resembles` before issue 20: Dice overlap of canonical title words after an abbreviation
    table ("VP of Sales and Marketing" vs "VP Sales" 0.8)."""

    _SYNONYMS = {
        "vp": "vp", "vice president": "vp", "vicepresident": "vp", "head": "vp", "head of": "vp",
        "svp": "senior vp", "evp": "executive vp", "avp": "assistant vp",
        "sr": "senior", "snr": "senior", "jr": "junior", "mgr": "manager", "mngr": "manager",
        "dir": "director", "eng": "engineering", "engr": "engineer", "mktg": "marketing",
        "ops": "operations", "biz": "business", "dev": "development", "bizdev": "business development",
        "ceo": "chief executive officer", "cto": "chief technology officer", "cfo": "chief financial officer",
        "coo": "chief operating officer", "cmo": "chief marketing officer", "cro": "chief revenue officer",
        "ciso": "chief information security officer", "cio": "chief information officer",
        "cpo": "chief product officer", "cso": "chief security officer",
        "&": "and",
    }
    _STOPWORDS = frozenset({"of", "the", "and", "for", "at", "in", "a", "an", "to", "on"})
    _PHRASES = sorted(((k, v) for k, v in _SYNONYMS.items() if " " in k), key=lambda kv: -len(kv[0]))
    _WORDS = {k: v for k, v in _SYNONYMS.items() if " " not in k}

    @staticmethod
    @functools.lru_cache(maxsize=65536)
    def tokens(value: str) -> frozenset[str]:
        text = " ".join(unicodedata.normalize("NFKC", value).casefold().split())
        text = re.sub(r"(?<!\w)co[\s-]+founder", "cofounder", text)
        text = " ".join(re.split(r"[^\w&]+", text))
        for phrase, canonical in WordOverlapMatcher._PHRASES:
            text = re.sub(rf"(?<!\w){re.escape(phrase)}(?!\w)", canonical, text)
        out = []
        for word in re.split(r"[^\w&]+", text):
            if not word:
                continue
            for token in WordOverlapMatcher._WORDS.get(word, word).split():
                if token in WordOverlapMatcher._STOPWORDS:
                    continue
                if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
                    token = token[:-1]
                out.append(token)
        return frozenset(out)

    def similarity(self, value: str, phrase: str) -> float:
        a, b = self.tokens(value), self.tokens(phrase)
        if not a and not b:
            return 1.0
        if not a or not b:
            return 0.0
        return 2 * len(a & b) / (len(a) + len(b))


# ---- measuring ------------------------------------------------------------------------------------


def labelled_pairs(path: Path = LABELLED) -> list[tuple[str, str, bool]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t")
        return [(r["title"], r["target"], r["match"] == "1") for r in rows]


class Counts:
    def __init__(self):
        self.tp = self.fp = self.fn = self.tn = 0

    def add(self, predicted: bool, actual: bool) -> None:
        if predicted and actual:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif actual:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def evaluate(matcher, pairs, threshold: float = float(DEFAULT_THRESHOLD)) -> tuple[dict[str, Counts], Counts, list]:
    """Counts per target and overall, and the pairs the matcher gets wrong."""
    per_target: dict[str, Counts] = {}
    overall, wrong = Counts(), []
    for title, target, actual in pairs:
        score = matcher.similarity(title, target)
        predicted = score >= threshold - 1e-9
        per_target.setdefault(target, Counts()).add(predicted, actual)
        overall.add(predicted, actual)
        if predicted != actual:
            wrong.append((title, target, actual, score))
    return per_target, overall, wrong


def table(pairs) -> tuple[str, Counts, dict[str, Counts]]:
    old_targets, old, _ = evaluate(WordOverlapMatcher(), pairs)
    new_targets, new, _ = evaluate(TitleMatcher(), pairs)
    lines = [f"{'target':<28} {'pairs':>5}   {'old P':>6} {'old R':>6} {'old F1':>6}   {'new P':>6} {'new R':>6} {'new F1':>6}"]
    for target in new_targets:
        o, n = old_targets[target], new_targets[target]
        count = n.tp + n.fp + n.fn + n.tn
        lines.append(f"{target:<28} {count:>5}   {o.precision:6.2f} {o.recall:6.2f} {o.f1:6.2f}   "
                     f"{n.precision:6.2f} {n.recall:6.2f} {n.f1:6.2f}")
    lines.append(f"{'overall':<28} {len(pairs):>5}   {old.precision:6.2f} {old.recall:6.2f} {old.f1:6.2f}   "
                 f"{new.precision:6.2f} {new.recall:6.2f} {new.f1:6.2f}")
    return "\n".join(lines), new, new_targets


def distinct_titles(count: int, seed: int = 20) -> list[str]:
    """`count` distinct titles composed the way CRM data writes them: a labelled title with
    a scope, a separator and a company name, in varied case."""
    rng = random.Random(seed)
    bases = sorted({t for t, _, _ in labelled_pairs()})
    scopes = ["", " EMEA", " - North America", ", DACH", " (APAC)", " | Enterprise", " Global", " LATAM"]
    out, seen = [], set()
    while len(out) < count:
        n = len(out)
        title = f"{rng.choice(bases)}{rng.choice(scopes)} at Company {n}"
        if n % 3 == 0:
            title = title.upper()
        if title not in seen:
            seen.add(title)
            out.append(title)
    return out


def _timed(titles: list[str]) -> tuple[float, float, int]:
    """Wall and CPU seconds to read the titles from a cold start, and the distinct readings."""
    title_reader.SHIPPED._readings.clear()
    wall, cpu = time.perf_counter(), time.process_time()
    for title in titles:
        read_title(title)
    return time.perf_counter() - wall, time.process_time() - cpu, len(title_reader.SHIPPED._readings)


def time_reading(count: int) -> tuple[float, float, int]:
    """Reading `count` distinct titles (titles equal up to case, punctuation and company share
    one reading)."""
    return _timed(distinct_titles(count))


def time_unshared_reading(count: int, seed: int = 20) -> tuple[float, float, int]:
    """The worst case: `count` titles of 2 to 6 random vocabulary words, so that almost none
    shares a reading with another."""
    rng = random.Random(seed)
    words = sorted(w for w in title_reader.SHIPPED._vocabulary_words if w.isalpha())
    return _timed([" ".join(rng.choice(words) for _ in range(rng.randint(2, 6))) for _ in range(count)])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list the pairs the new matcher gets wrong")
    parser.add_argument("--holdout", action="store_true", help=f"measure {HOLDOUT.name} instead (never used for tuning)")
    parser.add_argument("--read", type=int, default=0, metavar="N", help="time reading N distinct titles")
    args = parser.parse_args(argv)
    pairs = labelled_pairs(HOLDOUT if args.holdout else LABELLED)
    text, overall, per_target = table(pairs)
    print(f"title vocabulary {VOCABULARY_VERSION}; {'held-out' if args.holdout else 'labelled'} set: {len(pairs)} pairs, {len(per_target)} targets, "
          f"threshold {DEFAULT_THRESHOLD}")
    print(text)
    worst_p = min(c.precision for c in per_target.values())
    worst_r = min(c.recall for c in per_target.values())
    met = overall.precision >= 0.95 and overall.recall >= 0.90 and worst_p >= 0.85 and worst_r >= 0.85
    print(f"targets (P >= 0.95, R >= 0.90 overall; every target >= 0.85): {'met' if met else 'NOT met'} "
          f"(lowest target precision {worst_p:.2f}, recall {worst_r:.2f})")
    if args.misses:
        for title, target, actual, score in evaluate(TitleMatcher(), pairs)[2]:
            kind = "missed" if actual else "wrongly matched"
            print(f"  {kind}: {title!r} ~ {target!r} {score:.2f}  ({read_title(title).describe()})")
    if args.read:
        wall, cpu, readings = time_reading(args.read)
        print(f"read {args.read:,} distinct titles in {wall:.2f} s ({cpu:.2f} s CPU; {wall / args.read * 1e6:.1f} µs "
              f"each; {readings:,} distinct readings)")
        unshared = min(args.read, 200_000)
        wall, cpu, readings = time_unshared_reading(unshared)
        print(f"worst case: {unshared:,} titles of random vocabulary words in {wall:.2f} s ({cpu:.2f} s CPU; "
              f"{wall / unshared * 1e6:.1f} µs each; {readings:,} distinct readings)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
