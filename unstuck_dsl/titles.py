"""Job titles read as roles: function and sub-function, seniority on one ladder, founder or owner,
scope qualifiers, and words that make a title a different job ("Assistant to the CEO").

`read_title("VP Sales EMEA")` is `Sales · VP · scope EMEA`; `title_similarity` compares two
readings part by part (function, seniority, scope) into a 0–1 similarity, which `text.resembles`
compares with its `at` threshold. The vocabulary is data, `vocab/titles.json`, shipped in the
package and versioned; docs/titles.md describes it and the scoring.

Reading is a pure function of the title and the vocabulary, so the reference evaluator and the
compiled kernel (whose lookup tables the reference fills) read every title the same way.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from importlib import resources

# ---- the vocabulary -------------------------------------------------------------------------------

LANGUAGES = ("en", "de", "fr", "es", "pt", "nl")


def _load_vocabulary() -> dict:
    return json.loads(resources.files("unstuck_dsl.vocab").joinpath("titles.json").read_text("utf-8"))


VOCABULARY = _load_vocabulary()
VOCABULARY_VERSION: str = VOCABULARY["version"]
LADDER: tuple[str, ...] = tuple(VOCABULARY["seniority_ladder"])
RANK = {name: rank for rank, name in enumerate(LADDER)}
IC, LEAD, MANAGER, SENIOR_MANAGER, DIRECTOR, SENIOR_DIRECTOR, HEAD, VP, SVP, C_SUITE = range(len(LADDER))
FOUNDER, OWNER = VOCABULARY["alongside_ladder"]
# Seniority names an author may write (`title seniority >= "VP"`), each to its rank or to Founder / Owner.
SENIORITY_NAMES: dict[str, str] = {**{name: name for name in LADDER}, **VOCABULARY["seniority_aliases"],
                                   FOUNDER: FOUNDER, OWNER: OWNER}
FUNCTIONS: tuple[str, ...] = tuple(VOCABULARY["functions"])
SUB_FUNCTIONS: dict[str, str] = {}  # sub-function → its function
for _parent, _entry in VOCABULARY["functions"].items():
    for _sub in _entry["subs"]:
        SUB_FUNCTIONS[_sub] = _parent
_SUB_NAMES: dict[str, str] = VOCABULARY["sub_names"]
for _pair, _name in _SUB_NAMES.items():
    if _name not in FUNCTIONS and _name not in SUB_FUNCTIONS:
        SUB_FUNCTIONS[_name] = next(f for f in FUNCTIONS if _pair.startswith(f + " "))
FUNCTION_NAMES: tuple[str, ...] = FUNCTIONS + tuple(SUB_FUNCTIONS)
# A sub-function that also counts as another function: Sales Operations is part of RevOps.
_ALSO: dict[str, frozenset[str]] = {
    **{sub: frozenset(entry.get("also", ())) for f in VOCABULARY["functions"].values()
       for sub, entry in f["subs"].items()},
    **{sub: frozenset(also) for sub, also in VOCABULARY["sub_also"].items()},
}
_FOREIGN = frozenset(VOCABULARY["foreign_director"]["languages"])
_FOREIGN_DIRECTOR_WORDS = frozenset(VOCABULARY["foreign_director"]["words"])
_CHANGERS: dict[str, tuple[str, bool]] = {word: (entry["name"], entry["changes"])
                                          for word, entry in VOCABULARY["function_changers"].items() if word != "about"}


# ---- normalising ----------------------------------------------------------------------------------

_ACRONYM = re.compile(r"(?<![^\W_])(?:[^\W\d_]\.){2,}")  # c.e.o. → ceo, v.p. → vp
_JOINING_HYPHEN = re.compile(r"(?<=[^\W_])[-‐‑'’](?=[^\W_])")  # co-founder, vice-president, d'équipe
_TOKEN = re.compile(r"[^\W_]+(?:[&+][^\W_]+)*|[@/|&+,;:()\[\]·•–—-]")


def _plain(text: str) -> str:
    """Case-folded, without accents (é → e, ü → u, ß → ss), compatibility forms folded."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _raw_tokens(text: str) -> list[str]:
    """Words, with `None`-to-be separators (`/`, `|`, `&`, `,`, ` - `, brackets) as one-character
    tokens; everything else (emoji, quotes, dots) dropped."""
    text = _plain(text)
    if "." in text:
        text = _ACRONYM.sub(lambda m: m.group().replace(".", ""), text)
    text = _JOINING_HYPHEN.sub(" ", text)
    return _TOKEN.findall(text)


# ---- the phrase table -----------------------------------------------------------------------------
# Every vocabulary phrase, tokenised and abbreviation-expanded exactly as titles are, maps to its
# meanings: ("rank", rank), ("function", parent, sub, lang), ("office", function), ("founder",),
# ("owner",), ("not_role",), ("office_demoter",), ("scope",), ("hold",).

_ABBREVIATIONS: dict[str, tuple[str, ...]] = {}
_STOPWORDS = frozenset(VOCABULARY["stopwords"])
_BREAKER_WORDS = frozenset(VOCABULARY["breakers"])
_COMPANY_MARKERS = frozenset(VOCABULARY["company_markers"])


def _expand(words) -> list[str]:
    out = []
    for word in words:
        expansion = _ABBREVIATIONS.get(word)
        out.extend(expansion if expansion is not None else (word,))
    return out


for _short, _long in VOCABULARY["abbreviations"].items():
    _ABBREVIATIONS[_short] = tuple(_long.split())


def _phrase_key(phrase: str) -> tuple[str, ...]:
    words = [w for w in _raw_tokens(phrase) if w[0].isalnum()]
    return tuple(_expand(words))


_PHRASES: dict[tuple[str, ...], list[tuple]] = {}


def _add(phrase: str, meaning: tuple) -> None:
    key = _phrase_key(phrase)
    if not key:
        return
    meanings = _PHRASES.setdefault(key, [])
    if meaning[0] == "function":  # one language per function phrase: English where it is English too
        same = next((m for m in meanings if m[:3] == meaning[:3]), None)
        if same is not None:
            if meaning[3] == "en":
                meanings[meanings.index(same)] = meaning
            return
    if meaning not in meanings:
        meanings.append(meaning)


def _by_language(entry: dict):
    for lang in LANGUAGES:
        for phrase in entry.get(lang, ()):
            yield lang, phrase


def _build_phrases() -> None:
    for name, entry in VOCABULARY["seniority"].items():
        for _, phrase in _by_language(entry):
            _add(phrase, ("rank", RANK[name]))
    for parent, entry in VOCABULARY["functions"].items():
        for lang, phrase in _by_language(entry["words"]):
            _add(phrase, ("function", parent, None, lang))
        for word in entry.get("weak", ()):
            _add(word, ("weak_function", parent))
        for sub, sub_entry in entry["subs"].items():
            for lang, phrase in _by_language(sub_entry):
                _add(phrase, ("function", parent, sub, lang))
    for function, entry in VOCABULARY["offices"].items():
        if function == "about":
            continue
        for _, phrase in _by_language(entry):
            _add(phrase, ("office", function))
    for entry in VOCABULARY["titles"]["entries"]:
        parent, sub, rank = entry["function"], entry.get("sub"), RANK[entry["seniority"]]
        for lang, phrase in _by_language(entry):
            _add(phrase, ("function", parent, sub, lang))
            _add(phrase, ("rank", rank))
    for kind in ("founder", "owner"):
        for _, phrase in _by_language(VOCABULARY[kind]):
            _add(phrase, (kind,))
    for _, phrase in _by_language(VOCABULARY["not_the_role"]):
        _add(phrase, ("not_role",))
    for _, phrase in _by_language(VOCABULARY["office_demoters"]):
        _add(phrase, ("office_demoter",))
    for _, phrase in _by_language(VOCABULARY["scope"]):
        _add(phrase, ("scope",))
    for _, phrase in _by_language(VOCABULARY["holding_words"]):
        _add(phrase, ("hold",))


_build_phrases()
# The longest phrase that starts with each word, so a lookup tries only lengths that exist.
_LONGEST: dict[str, int] = {}
for _key in _PHRASES:
    _LONGEST[_key[0]] = max(_LONGEST.get(_key[0], 0), len(_key))
_SINGLE_WORDS = frozenset(key[0] for key in _PHRASES if len(key) == 1)
_MEANINGS = {key: tuple(meanings) for key, meanings in _PHRASES.items()}


@functools.lru_cache(maxsize=65536)
def _split_compound(word: str) -> tuple[str, ...] | None:
    """A compound of two known words (German and Dutch write `Vertriebsdirektor`,
    `Verkoopmedewerker`): the split with the longest known first part, else None."""
    if len(word) < 7 or not word.isalpha():
        return None
    for cut in range(len(word) - 3, 2, -1):
        left, right = word[:cut], word[cut:]
        if right in _SINGLE_WORDS and (left in _SINGLE_WORDS or (left.endswith("s") and left[:-1] in _SINGLE_WORDS)):
            return (left if left in _SINGLE_WORDS else left[:-1], right)
    return None


# ---- reading --------------------------------------------------------------------------------------


class Role:
    """How a title reads. `functions` holds (function, sub-function or None) pairs; `rank` is an
    index into LADDER (None when the title names no function and no seniority)."""

    __slots__ = ("functions", "rank", "founder", "owner", "office", "not_role", "scope", "words")

    def __init__(self, functions, rank, founder, owner, office, not_role, scope, words):
        self.functions: frozenset[tuple[str, str | None]] = functions
        self.rank: int | None = rank
        self.founder: bool = founder
        self.owner: bool = owner
        self.office: bool = office  # a chief office (CEO, CRO, ...) of its function
        self.not_role: bool = not_role  # assistant, deputy, former, adviser, intern, Field CTO
        self.scope: tuple[str, ...] = scope
        self.words: tuple[str, ...] = words  # every word, for phrases that are not titles

    @property
    def is_read(self) -> bool:
        """Whether the vocabulary understood anything in the title."""
        return bool(self.functions) or self.rank is not None or self.founder or self.owner

    def function_names(self) -> list[str]:
        return sorted(sub or parent for parent, sub in self.functions)

    def seniority(self) -> str | None:
        return None if self.rank is None else LADDER[self.rank]

    def describe(self) -> str:
        """`Sales · VP · scope EMEA`, `Executive · C-suite · founder`; `not read` when nothing is."""
        if not self.is_read:
            return "not read"
        parts = [" & ".join(self.function_names())] if self.functions else []
        if self.rank is not None:
            parts.append(LADDER[self.rank])
        if self.founder:
            parts.append("founder")
        if self.owner:
            parts.append("owner")
        if self.not_role:
            parts.append("not the role itself")
        if self.scope:
            parts.append("scope " + " ".join(word.upper() if len(word) <= 4 else word for word in self.scope))
        return " · ".join(parts)

    def __repr__(self) -> str:
        return f"Role({self.describe()})"


def _segments(value: str) -> tuple[list[list[str]], list[str]]:
    """The title's words in segments (split at `/`, `&`, `and`, `|`, commas, ` - `), without the
    company after `at` / `@`, abbreviations expanded; and every word."""
    segments: list[list[str]] = [[]]
    words: list[str] = []
    for token in _raw_tokens(value):
        if not token[0].isalnum():
            if token == "@" and words:
                break
            if segments[-1]:
                segments.append([])
            continue
        if token in _COMPANY_MARKERS and words:
            break
        if token in _BREAKER_WORDS:
            if segments[-1]:
                segments.append([])
            continue
        if "&" in token or "+" in token:
            key = (token,)
            if key not in _MEANINGS:  # sales&marketing: two words; r&d, fp&a: one
                for part in re.split(r"[&+]", token):
                    segments[-1].extend(_expand((part,)))
                    words.append(part)
                segments.append([])
                continue
        expansion = _ABBREVIATIONS.get(token)
        if expansion is not None:
            segments[-1].extend(expansion)
        else:
            segments[-1].append(token)
        words.append(token)
    return [s for s in segments if s], words


def _meanings(segment: list[str]):
    """The meanings of one segment's phrases, longest phrase first at each word."""
    i, n = 0, len(segment)
    while i < n:
        word = segment[i]
        longest = _LONGEST.get(word, 0)
        for length in range(min(longest, n - i), 0, -1):
            phrase = tuple(segment[i:i + length])
            meanings = _MEANINGS.get(phrase)
            if meanings is not None:
                yield phrase, meanings
                i += length
                break
        else:
            if word not in _STOPWORDS:
                parts = _split_compound(word)
                if parts is None and len(word) > 4 and word.endswith("s") and (word[:-1],) in _MEANINGS:
                    parts = (word[:-1],)
                if parts is not None:
                    for part in parts:
                        yield (part,), _MEANINGS[(part,)]
                else:
                    yield (word,), ()
            i += 1


@functools.lru_cache(maxsize=1 << 20)
def read_title(value: str) -> Role:
    """The role a title names. Cached: a column's distinct titles are read once each."""
    segments, words = _segments(value)
    functions: set[tuple[str, str | None]] = set()
    weak: set[str] = set()
    rank = None
    founder = owner = office = not_role = office_demoted = senior = foreign = director_word = False
    scope: list[str] = []
    for segment in segments:
        strong: list[tuple[str, str | None]] = []
        changers: list[tuple[str, str | None, str, bool]] = []  # (function alone, sub alone, changer, changes)
        for phrase, meanings in _meanings(segment):
            word, length = phrase[0], len(phrase)
            if word == "senior" or word == "sr":
                senior = True
            if length == 1 and word in _FOREIGN_DIRECTOR_WORDS:
                director_word = True
            changer = _CHANGERS.get(word) if length == 1 else None
            for meaning in meanings:
                kind = meaning[0]
                if kind == "function":
                    if meaning[3] in _FOREIGN:
                        foreign = True
                    if changer is not None:
                        changers.append((meaning[1], meaning[2], *changer))
                    else:
                        strong.append((meaning[1], meaning[2]))
                elif kind == "rank":
                    rank = meaning[1] if rank is None else max(rank, meaning[1])
                elif kind == "office":
                    strong.append((meaning[1], None))
                    rank, office = C_SUITE, True
                elif kind == "weak_function":
                    weak.add(meaning[1])
                elif kind == "founder":
                    founder = True
                elif kind == "owner":
                    owner = True
                elif kind == "not_role":
                    not_role = True
                elif kind == "office_demoter":
                    office_demoted = True
                elif kind == "scope":
                    scope.append(" ".join(phrase))
            if changer is not None and not any(m[0] == "function" for m in meanings):
                changers.append((None, None, *changer))
        functions.update(_resolve(strong, changers))
    if not functions and weak:
        functions = {(parent, None) for parent in weak}
    if rank == DIRECTOR and foreign and director_word:
        rank = HEAD  # Director de ventas, Diretor comercial: the function's head
    if senior and rank in (MANAGER, DIRECTOR, VP):
        rank += 1
    if rank is None and functions:
        rank = IC  # a title that names only a function ("Marketing", "Sales Engineer") is an IC
    not_role = not_role or (office and office_demoted)
    return Role(frozenset(functions), rank, founder, owner, office, not_role, tuple(dict.fromkeys(scope)),
                tuple(words))


def _resolve(strong, changers) -> set[tuple[str, str | None]]:
    """One segment's functions: a function-changing word next to a function names its
    sub-function (Sales + Operations → Sales Operations); alone it is its own function."""
    if not strong:
        return {(parent, sub) for parent, sub, _, _ in changers if parent is not None}
    out = set()
    for parent, sub in strong:
        if sub is not None or not changers:
            out.add((parent, sub))
            continue
        for _, _, name, changes in changers:
            if name == parent:
                out.add((parent, None))
                continue
            named = _SUB_NAMES.get(f"{parent} {name}")
            if named is None:
                named = f"{parent} {name}" if changes else parent
            if named in FUNCTIONS:
                out.add((named, None))
            else:
                out.add((SUB_FUNCTIONS.get(named, parent), named))
    return out


# ---- similarity -----------------------------------------------------------------------------------

# Seniority a target accepts, by the target's rank: "VP X" / "Head of X" / "X leader" mean the
# leader of X (Head of and above, including the chief of X); "X Manager" manager or team-lead
# level; a C-level target exactly that office.
_ACCEPTS = {
    IC: (IC, LEAD), LEAD: (LEAD, MANAGER, SENIOR_MANAGER), MANAGER: (LEAD, MANAGER, SENIOR_MANAGER),
    SENIOR_MANAGER: (SENIOR_MANAGER,), DIRECTOR: (DIRECTOR, SENIOR_DIRECTOR), SENIOR_DIRECTOR: (SENIOR_DIRECTOR,),
    HEAD: (HEAD, VP, SVP, C_SUITE), VP: (HEAD, VP, SVP, C_SUITE), SVP: (HEAD, VP, SVP, C_SUITE), C_SUITE: (C_SUITE,),
}
SENIORITY_STEP = 0.25  # each rung of the ladder away from what the target accepts costs this much
SIBLING_FUNCTION = 0.4  # the same function, another sub-function (VP Sales Operations for VP Sales)
EXTRA_FUNCTION = 0.8  # the title also names another function (VP Sales & Marketing for VP Sales)
NOT_THE_ROLE = 0.5  # an assistant, deputy, former holder, adviser, intern, Field CTO
OTHER_SCOPE, NO_SCOPE = 0.6, 0.9  # the target names a region or segment the title does not


def _function_agreement(title: Role, target: Role) -> float:
    if not target.functions:
        return 1.0
    if not title.functions:
        return 0.0
    total = 0.0
    matched_parents = set()
    for t_parent, t_sub in target.functions:
        best = 0.0
        for parent, sub in title.functions:
            if (parent, sub) == (t_parent, t_sub) or (t_sub is None and t_parent in _ALSO.get(sub, ())):
                agreement = 1.0
            elif parent == t_parent or (t_sub is not None and t_sub in _ALSO.get(sub, ())):
                agreement = SIBLING_FUNCTION
            else:
                continue
            if agreement > best:
                best = agreement
            matched_parents.add(parent)
        total += best
    agreement = total / len(target.functions)
    if any(parent not in matched_parents for parent, _ in title.functions):
        agreement *= EXTRA_FUNCTION
    return agreement


def _seniority_fit(title: Role, target: Role) -> float:
    if target.rank is None:
        return 1.0
    if title.rank is None:
        return 0.0
    if target.office and not title.office:
        accepted = (C_SUITE + 1,)  # a C-level target means that office: an SVP is one rung away
    else:
        accepted = _ACCEPTS[target.rank]
    distance = min(abs(title.rank - rank) for rank in accepted)
    return max(0.0, 1.0 - SENIORITY_STEP * distance)


def _words_dice(title: Role, target: Role) -> float:
    """Phrases the vocabulary does not read (not titles): word overlap, as `resembles` always did."""
    a, b = set(title.words), set(target.words)
    if not a and not b:
        return 1.0
    return 2 * len(a & b) / (len(a) + len(b))


def role_similarity(title: Role, target: Role) -> float:
    """0–1: function agreement × seniority fit × scope × whether the title is the role itself."""
    if not target.is_read:
        return _words_dice(title, target)
    score = 1.0
    if target.founder or target.owner:
        held = (target.founder and title.founder) or (target.owner and title.owner)
        score = 1.0 if held else (0.5 if title.founder or title.owner else 0.0)
        if not target.functions and target.rank is None:
            return round(score * (NOT_THE_ROLE if title.not_role and not target.not_role else 1.0), 4)
    score *= _function_agreement(title, target) * _seniority_fit(title, target)
    if target.scope:
        if not title.scope:
            score *= NO_SCOPE
        elif not set(title.scope) & set(target.scope):
            score *= OTHER_SCOPE
    if title.not_role and not target.not_role:
        score *= NOT_THE_ROLE
    return round(score, 4)


def title_similarity(value: str, phrase: str) -> float:
    return role_similarity(read_title(value), read_title(phrase))


# ---- conditions on the role -----------------------------------------------------------------------


def function_in(role: Role, names: tuple[str, ...]) -> bool | None:
    """Whether the title's function is one of the named functions or sub-functions. A function
    names its whole family (Sales includes Sales Operations); a sub-function only itself. None
    when the title names no function."""
    if not role.functions:
        return None
    for parent, sub in role.functions:
        for name in names:
            if name == parent or name == sub or (sub is not None and name in _ALSO.get(sub, ())):
                return True
    return False


def seniority_rank(name: str) -> int | None:
    """The ladder rank of a seniority name (aliases included); None for Founder / Owner."""
    canonical = SENIORITY_NAMES[name]
    return RANK.get(canonical)


def seniority_holds(role: Role, op: str, name: str) -> bool | None:
    """`title seniority OP "NAME"`: the title's rank against the named rung; Founder and Owner
    (beside the ladder) compare only with `==` / `!=`. None when the title names no seniority."""
    canonical = SENIORITY_NAMES[name]
    if canonical in (FOUNDER, OWNER):
        held = role.founder if canonical == FOUNDER else role.owner
        if not held and not role.is_read:
            return None
        return held if op == "==" else not held
    if role.rank is None:
        return None
    rank, other = role.rank, RANK[canonical]
    return {"==": rank == other, "!=": rank != other, "<": rank < other, "<=": rank <= other,
            ">": rank > other, ">=": rank >= other}[op]
