"""Text semantics: normalized equality, wildcards, semantic matching of titles, and names
that look alike.

These functions are evaluated per record by the reference evaluator and per distinct dictionary
value by the compiler (which turns them into lookup tables), so both engines share them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from decimal import Decimal
from typing import Protocol


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

# Title words that mean the same thing, mapped to one canonical token.
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
_PHRASE_SYNONYMS = sorted(((k, v) for k, v in _SYNONYMS.items() if " " in k), key=lambda kv: -len(kv[0]))
_WORD_SYNONYMS = {k: v for k, v in _SYNONYMS.items() if " " not in k}


@functools.lru_cache(maxsize=65536)
def title_tokens(value: str) -> frozenset[str]:
    """The canonical words of a title: abbreviations expanded, synonyms merged, punctuation,
    filler words and plural `s` dropped, order forgotten."""
    text = re.sub(r"(?<!\w)co[\s-]+founder", "cofounder", normalize_text(value))
    text = " ".join(re.split(r"[^\w&]+", text))  # punctuation, hyphens included, separates words
    for phrase, canonical in _PHRASE_SYNONYMS:
        text = re.sub(rf"(?<!\w){re.escape(phrase)}(?!\w)", canonical, text)
    words = re.split(r"[^\w&]+", text)
    tokens = []
    for word in words:
        if not word:
            continue
        expanded = _WORD_SYNONYMS.get(word, word)
        for token in expanded.split():
            if token in _STOPWORDS:
                continue
            if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
                token = token[:-1]
            tokens.append(token)
    return frozenset(tokens)


class TitleMatcher:
    """The built-in matcher: Dice overlap of canonical title words ("VP Sales" ~ "Vice President
    of Sales" ~ "Head of Sales" all score 1.0; "VP of Sales and Marketing" vs "VP Sales" 0.8)."""

    def similarity(self, value: str, phrase: str) -> float:
        a, b = title_tokens(value), title_tokens(phrase)
        if not a and not b:
            return 1.0
        if not a or not b:
            return 0.0
        return 2 * len(a & b) / (len(a) + len(b))


_matcher: SemanticMatcher = TitleMatcher()


def semantic_matcher() -> SemanticMatcher:
    return _matcher


def resembles(value: str, phrases: tuple[str, ...], threshold: Decimal | None) -> bool:
    """True when the value is at least `threshold` similar to any example phrase."""
    limit = float(threshold if threshold is not None else DEFAULT_THRESHOLD)
    matcher = semantic_matcher()
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
