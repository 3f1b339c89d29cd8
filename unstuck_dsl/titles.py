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
# Words (a hyphen or apostrophe inside a word separates its parts: co-founder, d'équipe), and
# the punctuation that splits a title into parts: / | & + , ; : brackets, dashes between spaces.
_TOKEN = re.compile(r"[^\W_]+(?:[&+][^\W_]+)*|[@/|&+,;:()\[\]·•–—]|(?<!\S)-(?!\S)")


def _plain(text: str) -> str:
    """Case-folded, without accents (é → e, ü → u, ß → ss), compatibility forms folded."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text).casefold()
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _raw_tokens(text: str) -> list[str]:
    """Words, and the punctuation that splits a title (`/`, `|`, `&`, `,`, ` - `, brackets) as
    one-character tokens; everything else (emoji, quotes, dots) dropped."""
    if text.isascii():
        return _ascii_tokens(text)
    text = _plain(text)
    if "." in text:
        text = _ACRONYM.sub(_without_dots, text)
    return _TOKEN.findall(text)


def _without_dots(match: re.Match) -> str:
    return match.group().replace(".", "")


# The tokens _TOKEN finds, for ASCII text, by a byte table (lower case; splitting punctuation to
# `|`; other punctuation to a space) and str.split: several times faster than the regex, and most
# titles are ASCII (a column may hold millions of them).
_SPLITTING = b"/|&+,;:()[]"
_JOINED_AMPERSAND, _JOINED_PLUS = 2, 3  # r&d, fp&a: one word, marked through the table
_ASCII_TABLE = bytes(
    ord("|") if i in _SPLITTING else i if i in (_JOINED_AMPERSAND, _JOINED_PLUS, ord("@")) else
    ord(chr(i).lower()) if chr(i).isalnum() and i < 128 else ord(" ")
    for i in range(256))
_JOINED = re.compile(r"(?<=[^\W_])[&+](?=[^\W_])")
_SPACED_DASH = re.compile(r"(?<!\S)-(?!\S)")


def _ascii_tokens(text: str) -> list[str]:
    if "." in text:
        text = _ACRONYM.sub(_without_dots, text)
    joined = ("&" in text or "+" in text) and _JOINED.search(text) is not None
    if joined:
        text = _JOINED.sub(lambda m: "\x02" if m.group() == "&" else "\x03", text)
    if "-" in text:
        text = _SPACED_DASH.sub("|", text)
    plain = text.encode("ascii").translate(_ASCII_TABLE).replace(b"|", b" | ")
    if "@" in text:
        plain = plain.replace(b"@", b" @ ")
    tokens = plain.decode("ascii").split()
    if joined:
        tokens = [t.replace("\x02", "&").replace("\x03", "+") for t in tokens]
    return tokens


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
_SINGLE_WORDS = frozenset(key[0] for key in _PHRASES if len(key) == 1)
_MEANINGS = {key: tuple(meanings) for key, meanings in _PHRASES.items()}


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

    __slots__ = ("functions", "rank", "founder", "owner", "office", "not_role", "scope")

    def __init__(self, functions, rank, founder, owner, office, not_role, scope):
        self.functions: frozenset[tuple[str, str | None]] = functions
        self.rank: int | None = rank
        self.founder: bool = founder
        self.owner: bool = owner
        self.office: bool = office  # a chief office (CEO, CRO, ...) of its function
        self.not_role: bool = not_role  # assistant, deputy, former, adviser, intern, Field CTO
        self.scope: tuple[str, ...] = scope

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
            parts.append("scope " + ", ".join(_show_scope(phrase) for phrase in self.scope))
        return " · ".join(parts)

    def __repr__(self) -> str:
        return f"Role({self.describe()})"


_SCOPE_ACRONYMS = frozenset(VOCABULARY["scope_acronyms"])


def _show_scope(phrase: str) -> str:
    """`EMEA`, `North America`, `Mid Market`: as a person writes them."""
    return " ".join(word.upper() if word in _SCOPE_ACRONYMS else word.capitalize() for word in phrase.split())


# How each raw token enters a title's key: its words (abbreviations expanded, a compound split,
# a plural made singular), SEPARATOR for punctuation that splits a title, UNKNOWN for a word no
# phrase contains (a company or person's name: one placeholder, so it still breaks phrases), or
# CUT where the company begins (`at`, `@`).
SEPARATOR, UNKNOWN, CUT = "|", "\x00", ("\x01",)
_VOCABULARY_WORDS = frozenset(word for key in _MEANINGS for word in key)
_FORMS: dict[str, tuple[str, ...]] = {}
_MAX_FORMS = 1 << 18


def _form(token: str) -> tuple[str, ...]:
    form = _FORMS.get(token)
    if form is not None:
        return form
    if not token[0].isalnum():
        form = CUT if token == "@" else (SEPARATOR,)
    elif token in _COMPANY_MARKERS:
        form = CUT
    elif token in _ABBREVIATIONS:
        form = _ABBREVIATIONS[token]
    elif token in _VOCABULARY_WORDS or token in _BREAKER_WORDS:
        form = (token,)
    elif ("&" in token or "+" in token):  # sales&marketing: two words (r&d, fp&a are in the vocabulary)
        form = tuple(w for part in re.split(r"[&+]", token) for w in (*_form(part), SEPARATOR))[:-1]
    else:
        parts = _split_compound(token)
        if parts is None and len(token) > 4 and token.endswith("s") and token[:-1] in _VOCABULARY_WORDS:
            parts = (token[:-1],)
        form = parts if parts is not None else (UNKNOWN,)
    if len(_FORMS) >= _MAX_FORMS:
        _FORMS.clear()
    _FORMS[token] = form
    return form


def _title_key(value: str) -> list[str]:
    """The title as the reader sees it: vocabulary words and separators, up to the company."""
    out: list[str] = []
    forms = _FORMS
    for token in _raw_tokens(value):
        form = forms.get(token)
        if form is None:
            form = _form(token)
        if form is CUT:
            if out:
                break
            continue
        out += form
    return out


# Readings by title key: titles that differ only in case, punctuation, company or names the
# vocabulary does not know share one key and are read once.
_READINGS: dict[str, Role] = {}
_MAX_READINGS = 1 << 18


def read_title(value: str) -> Role:
    """The role a title names."""
    words = _title_key(value)
    key = " ".join(words)
    role = _READINGS.get(key)
    if role is None:
        if len(_READINGS) >= _MAX_READINGS:
            _READINGS.clear()
        role = _READINGS[key] = _read_words(tuple(words))
    return role


# What each phrase contributes to a reading, worked out once from its meanings: the highest
# rung it names (-1: none), its functions, whether they change a neighbouring function, the
# function it names only when no other is named, whether it is scope, and flags.
_FOUNDER, _OWNER, _NOT_ROLE, _OFFICE_DEMOTER, _OFFICE, _FOREIGN_FUNCTION, _SENIOR, _DIRECTOR_WORD = (
    1 << bit for bit in range(8))


def _phrase_effect(phrase: tuple[str, ...], meanings: tuple) -> tuple:
    rank, functions, weak, flags, is_scope = -1, [], [], 0, False
    changer = _CHANGERS.get(phrase[0]) if len(phrase) == 1 else None
    for meaning in meanings:
        kind = meaning[0]
        if kind == "function":
            functions.append((meaning[1], meaning[2]))
            flags |= _FOREIGN_FUNCTION if meaning[3] in _FOREIGN else 0
        elif kind == "rank":
            rank = max(rank, meaning[1])
        elif kind == "office":
            functions.append((meaning[1], None))
            rank, flags = C_SUITE, flags | _OFFICE
        elif kind == "weak_function":
            weak.append(meaning[1])
        elif kind == "scope":
            is_scope = True
        else:
            flags |= {"founder": _FOUNDER, "owner": _OWNER, "not_role": _NOT_ROLE,
                      "office_demoter": _OFFICE_DEMOTER}.get(kind, 0)
    if phrase == ("senior",):
        flags |= _SENIOR
    if len(phrase) == 1 and phrase[0] in _FOREIGN_DIRECTOR_WORDS:
        flags |= _DIRECTOR_WORD
    if changer is not None:  # a changing word: its functions wait for the segment's other words
        changes = tuple((parent, sub, *changer) for parent, sub in functions) or ((None, None, *changer),)
        return rank, (), changes, tuple(weak), flags, is_scope
    return rank, tuple(functions), (), tuple(weak), flags, is_scope


def _build_trie() -> dict:
    """Phrases as a word trie: word → [the effect of the phrase ending here or None, next words]."""
    trie: dict = {}
    for phrase, meanings in _MEANINGS.items():
        level, node = trie, None
        for word in phrase:
            node = level.setdefault(word, [None, {}])
            level = node[1]
        node[0] = _phrase_effect(phrase, meanings)
    return trie


_TRIE = _build_trie()
_LONE_CHANGERS = {word: ((None, None, *changer),) for word, changer in _CHANGERS.items()}


def _read_words(key: tuple[str, ...]) -> Role:
    """A title's role from its key: the longest phrase first at each word; a separator or `and`
    ends a part, within which a function-changing word changes its neighbour."""
    functions: set[tuple[str, str | None]] = set()
    weak: set[str] = set()
    rank, flags = -1, 0
    scope: list[str] = []
    trie = _TRIE
    strong: list[tuple[str, str | None]] = []
    changers: list[tuple[str | None, str | None, str, bool]] = []  # (function alone, sub alone, changer, changes)
    i, n = 0, len(key)
    while i < n:
        word = key[i]
        effect, length, node, end = None, 0, trie.get(word), i
        while node is not None:  # the longest phrase that starts here (none crosses a separator)
            end += 1
            if node[0] is not None:
                effect, length = node[0], end - i
            node = node[1].get(key[end]) if end < n and node[1] else None
        if effect is None:
            i += 1
            if word == SEPARATOR or word in _BREAKER_WORDS:  # "Sales and Marketing Operations": two parts
                if strong or changers:
                    functions.update(_resolve(strong, changers))
                    strong, changers = [], []
            elif word in _LONE_CHANGERS:
                changers += _LONE_CHANGERS[word]
            continue
        phrase_rank, phrase_functions, phrase_changers, phrase_weak, phrase_flags, is_scope = effect
        if phrase_rank > rank:
            rank = phrase_rank
        flags |= phrase_flags
        if phrase_functions:
            strong += phrase_functions
        if phrase_changers:
            changers += phrase_changers
        if phrase_weak:
            weak.update(phrase_weak)
        if is_scope:
            scope.append(" ".join(key[i:i + length]))
        i += length
    if strong or changers:
        functions.update(_resolve(strong, changers))
    if not functions and weak:
        functions = {(parent, None) for parent in weak}
    if rank == DIRECTOR and flags & _FOREIGN_FUNCTION and flags & _DIRECTOR_WORD:
        rank = HEAD  # Director de ventas, Diretor comercial: the function's head
    if flags & _SENIOR and rank in (MANAGER, DIRECTOR, VP):
        rank += 1
    if rank < 0:
        rank = IC if functions else None  # a title that names only a function ("Marketing") is an IC
    office = bool(flags & _OFFICE)
    not_role = bool(flags & _NOT_ROLE) or (office and bool(flags & _OFFICE_DEMOTER))
    return Role(frozenset(functions), rank, bool(flags & _FOUNDER), bool(flags & _OWNER), office, not_role,
                tuple(dict.fromkeys(scope)))


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
    distance = min(abs(title.rank - rank) for rank in _ACCEPTS[target.rank])
    if target.office and not title.office:
        distance = max(distance, 1)  # a C-level target means that office, not a board seat
    return max(0.0, 1.0 - SENIORITY_STEP * distance)


def _words(value: str) -> frozenset[str]:
    return frozenset(t for t in _raw_tokens(value) if t[0].isalnum())


def words_similarity(value: str, phrase: str) -> float:
    """Phrases the vocabulary does not read (not titles): word overlap, as `resembles` always did."""
    a, b = _words(value), _words(phrase)
    if not a and not b:
        return 1.0
    return 2 * len(a & b) / (len(a) + len(b))


def role_similarity(title: Role, target: Role) -> float:
    """0–1: function agreement × seniority fit × scope × whether the title is the role itself,
    for a target the vocabulary reads (`target.is_read`)."""
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


@functools.lru_cache(maxsize=1 << 16)  # the same distinct titles come back with each batch of records scored
def title_similarity(value: str, phrase: str) -> float:
    target = read_title(phrase)
    if not target.is_read:
        return words_similarity(value, phrase)
    return role_similarity(read_title(value), target)


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


# ---- the drawer -------------------------------------------------------------------------------------


def describe_resemblance(value: str, phrases: tuple[str, ...], threshold: float) -> str:
    """How `resembles` read a title, for the drawer: `VP Sales EMEA → Sales · VP · scope EMEA
    ≈ "VP Sales" 1.00` (≉ when no phrase reaches the threshold), against the closest phrase."""
    scored = [(title_similarity(value, phrase), phrase) for phrase in phrases]
    score, phrase = max(scored, key=lambda pair: pair[0])  # the first of equally close phrases
    sign = "≈" if score >= threshold - 1e-9 else "≉"
    return f'{value} → {read_title(value).describe()} {sign} "{phrase}" {score:.2f}'


def describe_role(value: str) -> str:
    """`VP Sales EMEA → Sales · VP · scope EMEA`: the title and how it reads."""
    return f"{value} → {read_title(value).describe()}"
