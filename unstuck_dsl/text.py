"""Text semantics: normalized equality, wildcards, semantic matching of titles (read as roles
by titles.py), and names that look alike.

These functions are evaluated per record by the reference evaluator and per distinct dictionary
value by the compiler (which turns them into lookup tables), so both engines share them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from decimal import Decimal
from typing import Protocol

from .titles import title_similarity


def normalize_text(value: str) -> str:
    """Text fields compare case- and space-insensitively: casefold, collapse runs of space."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


@functools.lru_cache(maxsize=4096)
def _wildcard_pieces(pattern: str) -> tuple[tuple[int, re.Pattern], ...]:
    """The pattern's pieces between `*`s, each with its length and as a regex (`?` becomes `.`).

    A piece has no quantifier, so trying it at one position costs at most its length; one regex
    with a `.*` per `*` instead backtracks exponentially on a title that almost matches."""
    return tuple((len(piece), re.compile("".join("." if char == "?" else re.escape(char) for char in piece), re.DOTALL))
                 for piece in pattern.split("*"))


def wildcard_match(value: str, pattern: str) -> bool:
    """`*` is any run of characters (also none), `?` exactly one; the whole value must match.

    The first piece must match at the start and the last at the end; each piece in between is
    taken at its earliest match after the one before, which leaves the most room for the rest,
    so no choice is ever undone: time is at most the value's length times the pattern's."""
    pieces = _wildcard_pieces(pattern)
    if len(pieces) == 1:
        return pieces[0][1].fullmatch(value) is not None
    (first_length, first), *middle, (last_length, last) = pieces
    start, end = first_length, len(value) - last_length
    if end < start or not first.match(value) or not last.match(value, end):
        return False
    for _, piece in middle:
        found = piece.search(value, start, end)
        if found is None:
            return False
        start = found.end()
    return True


# ---- semantic matching ------------------------------------------------------------------------


class SemanticMatcher(Protocol):
    """Scores how close a value is to an example phrase, from 0 (unrelated) to 1 (the same).

    The built-in matcher is deterministic and offline; an embedding model can implement this
    interface (cosine similarity) without changing anything else."""

    def similarity(self, value: str, phrase: str) -> float: ...


DEFAULT_THRESHOLD = Decimal("0.8")


class TitleMatcher:
    """The built-in matcher: both sides read as roles (titles.read_title: function and
    sub-function, seniority, founder, scope), compared part by part (titles.role_similarity).
    "VP Sales" ~ "Head of Sales" ~ "CRO" ~ "Vertriebsleiter" score 1.0; "VP Sales Operations"
    0.4 (another sub-function); "Director of Sales" 0.5 (a director is not the leader); "VP of
    Sales and Marketing" 0.8 (a broader role). A phrase that reads as no role (not a title)
    falls back to word overlap. Both readings are cached, so each distinct value is read once."""

    def similarity(self, value: str, phrase: str) -> float:
        return title_similarity(value, phrase)


_matcher: SemanticMatcher = TitleMatcher()


def semantic_matcher() -> SemanticMatcher:
    return _matcher


def resembles(value: str, phrases: tuple[str, ...], threshold: Decimal | None,
              matcher: SemanticMatcher | None = None) -> bool:
    """True when the value is at least `threshold` similar to any example phrase, by `matcher`
    (the ruleset's title reader; the built-in matcher when None)."""
    limit = float(threshold if threshold is not None else DEFAULT_THRESHOLD)
    matcher = matcher if matcher is not None else semantic_matcher()
    # Similarities are compared with a small tolerance so that a float 0.7999999 meets 0.8.
    return any(matcher.similarity(value, phrase) >= limit - 1e-9 for phrase in phrases)


# ---- look-alike letters -----------------------------------------------------------------------

# Letters of other scripts that fonts draw like a Latin letter: the Cyrillic and Greek part of
# Unicode's confusables (UTS #39). NFKC folds the rest that matter in names: fullwidth letters
# (ｍ), ligatures (ﬁ) and other compatibility forms.
_AS_LATIN = str.maketrans(
    "аеорсухіјѕԁԛԝһӏ" "АВЕЅІЈКМНОРСТХУԜ" "οαικνρυχ" "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxijsdqwhl" "ABESIJKMHOPCTXYW" "oaikvpux" "ABEZHIKMNOPTYX",
)


def look_alike_skeleton(name: str) -> str:
    """How a name looks: two names spelled differently with one skeleton read the same."""
    return unicodedata.normalize("NFKC", name).translate(_AS_LATIN)


def look_alike_letters(name: str) -> list[str]:
    """The letters of a name that only look like another letter, described for a hint."""
    return [f"{char} (U+{ord(char):04X} {unicodedata.name(char, '?')})" for char in dict.fromkeys(name)
            if look_alike_skeleton(char) != char]
