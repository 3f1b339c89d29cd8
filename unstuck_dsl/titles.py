"""Job titles read as roles: function and sub-function, seniority on one ladder, founder or owner,
scope qualifiers, and words that make a title a different job ("Assistant to the CEO").

`read_title("VP Sales EMEA")` is `Sales · VP · scope EMEA`; `title_similarity` compares two
readings part by part (function, seniority, scope) into a 0–1 similarity, which `text.resembles`
compares with its `at` threshold. The vocabulary is data, `vocab/titles.json`, shipped in the
package and versioned; docs/titles.md describes it and the scoring.

A workspace extends the vocabulary with a `titles { ... }` block (check.py turns it into an
extension in the shape of titles.json). Each ruleset reads titles with one `TitleReader`, built
from the shipped vocabulary plus its extension (`reader_for`), with its own caches: one
ruleset's words never reach another's readings. The ladder and the functions are fixed: an
extension adds words to them, never new rungs or functions. The module-level functions read
with the shipped vocabulary alone (`SHIPPED`).

Reading is a pure function of the title and the vocabulary, so the reference evaluator and the
compiled kernel (whose lookup tables the reference fills) read every title the same way.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import unicodedata
import weakref
from pathlib import Path

# ---- the vocabulary -------------------------------------------------------------------------------

LANGUAGES = ("en", "de", "fr", "es", "pt", "nl")


def _load_vocabulary() -> dict:
    return json.loads(Path(__file__).with_name("vocab").joinpath("titles.json").read_text("utf-8"))


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
# The names function-changing words give (Operations, Partner, ...), each with whether it changes
# a function the vocabulary does not pair it with: an extension's words use these names.
CHANGER_NAMES: dict[str, bool] = {entry["name"]: entry["changes"]
                                  for word, entry in VOCABULARY["function_changers"].items() if word != "about"}
# A phrase of an extension is in no particular language: under this key it is read as English is.
WORKSPACE_LANGUAGE = "workspace"


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

_BREAKER_WORDS = frozenset(VOCABULARY["breakers"])
_COMPANY_MARKERS = frozenset(VOCABULARY["company_markers"])


def _by_language(entry: dict):
    for lang in (*LANGUAGES, WORKSPACE_LANGUAGE):
        for phrase in entry.get(lang, ()):
            yield lang, phrase


def _phrase_table(vocabulary: dict, abbreviations: dict[str, tuple[str, ...]]) -> dict[tuple[str, ...], tuple]:
    """Every phrase of the vocabulary, as the reader's key for it, to its meanings."""
    phrases: dict[tuple[str, ...], list[tuple]] = {}

    def add(phrase: str, meaning: tuple) -> None:
        words = [w for w in _raw_tokens(phrase) if w[0].isalnum()]
        key = tuple(part for word in words for part in abbreviations.get(word, (word,)))
        if not key:
            return
        meanings = phrases.setdefault(key, [])
        if meaning[0] == "function":  # one language per function phrase: English where it is English too
            same = next((m for m in meanings if m[:3] == meaning[:3]), None)
            if same is not None:
                if meaning[3] == "en":
                    meanings[meanings.index(same)] = meaning
                return
        if meaning not in meanings:
            meanings.append(meaning)

    for name, entry in vocabulary["seniority"].items():
        for _, phrase in _by_language(entry):
            add(phrase, ("rank", RANK[name]))
    for parent, entry in vocabulary["functions"].items():
        for lang, phrase in _by_language(entry["words"]):
            add(phrase, ("function", parent, None, lang))
        for word in entry.get("weak", ()):
            add(word, ("weak_function", parent))
        for sub, sub_entry in entry["subs"].items():
            for lang, phrase in _by_language(sub_entry):
                add(phrase, ("function", parent, sub, lang))
    for function, entry in vocabulary["offices"].items():
        if function == "about":
            continue
        for _, phrase in _by_language(entry):
            add(phrase, ("office", function))
    for entry in vocabulary["titles"]["entries"]:
        parent, sub, rank = entry["function"], entry.get("sub"), RANK[entry["seniority"]]
        for lang, phrase in _by_language(entry):
            add(phrase, ("function", parent, sub, lang))
            add(phrase, ("rank", rank))
    for kind in ("founder", "owner"):
        for _, phrase in _by_language(vocabulary[kind]):
            add(phrase, (kind,))
    for _, phrase in _by_language(vocabulary["not_the_role"]):
        add(phrase, ("not_role",))
    for _, phrase in _by_language(vocabulary["office_demoters"]):
        add(phrase, ("office_demoter",))
    for _, phrase in _by_language(vocabulary["scope"]):
        add(phrase, ("scope",))
    for _, phrase in _by_language(vocabulary["holding_words"]):
        add(phrase, ("hold",))
    return {key: tuple(meanings) for key, meanings in phrases.items()}


# What each phrase contributes to a reading, worked out once from its meanings: the highest
# rung it names (-1: none), its functions, whether they change a neighbouring function, the
# function it names only when no other is named, whether it is scope, and flags.
_FOUNDER, _OWNER, _NOT_ROLE, _OFFICE_DEMOTER, _OFFICE, _FOREIGN_FUNCTION, _SENIOR, _DIRECTOR_WORD = (
    1 << bit for bit in range(8))


def _phrase_effect(phrase: tuple[str, ...], meanings: tuple, changers: dict[str, tuple[str, bool]]) -> tuple:
    rank, functions, weak, flags, is_scope = -1, [], [], 0, False
    changer = changers.get(phrase[0]) if len(phrase) == 1 else None
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


def _trie(meanings: dict[tuple[str, ...], tuple], changers: dict[str, tuple[str, bool]]) -> dict:
    """Phrases as a word trie: word → [the effect of the phrase ending here or None, next words]."""
    trie: dict = {}
    for phrase, phrase_meanings in meanings.items():
        level, node = trie, None
        for word in phrase:
            node = level.setdefault(word, [None, {}])
            level = node[1]
        node[0] = _phrase_effect(phrase, phrase_meanings, changers)
    return trie



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


# How each raw token enters a title's key: its words (abbreviations expanded, a compound split,
# a plural made singular), SEPARATOR for punctuation that splits a title, UNKNOWN for a word no
# phrase contains (a company or person's name: one placeholder, so it still breaks phrases), or
# CUT where the company begins (`at`, `@`).
SEPARATOR, UNKNOWN, CUT = "|", "\x00", ("\x01",)
_MAX_FORMS = 1 << 18
_MAX_READINGS = 1 << 18
_MAX_SIMILARITIES = 1 << 16  # the same distinct titles come back with each batch of records scored


class TitleReader:
    """Reads titles with one vocabulary (the shipped one plus a workspace's extension), caching
    token forms, readings and similarities for that vocabulary only. `key` identifies the
    vocabulary: readers with the same key read every title the same way."""

    def __init__(self, vocabulary: dict, key: str):
        self.key = key
        self.vocabulary_version = vocabulary["version"]
        self._abbreviations: dict[str, tuple[str, ...]] = {
            short: tuple(long.split()) for short, long in vocabulary["abbreviations"].items()}
        self._changers: dict[str, tuple[str, bool]] = {
            word: (entry["name"], entry["changes"])
            for word, entry in vocabulary["function_changers"].items() if word != "about"}
        self._vocabulary = vocabulary
        self._lone_changers = {word: ((None, None, *changer),) for word, changer in self._changers.items()}
        self._forms: dict[str, tuple[str, ...]] = {}
        # Readings by title key: titles that differ only in case, punctuation, company or names the
        # vocabulary does not know share one key and are read once.
        self._readings: dict[str, Role] = {}
        self._similarities: dict[tuple[str, str], float] = {}

    # The phrase tables are built on the first title read, not when the reader is made: a command
    # that only checks rules (and the shipped reader made at import) never pays for them.
    @functools.cached_property
    def _meanings(self) -> dict[tuple[str, ...], tuple]:
        return _phrase_table(self._vocabulary, self._abbreviations)

    @functools.cached_property
    def _single_words(self) -> frozenset[str]:
        return frozenset(key[0] for key in self._meanings if len(key) == 1)

    @functools.cached_property
    def _vocabulary_words(self) -> frozenset[str]:
        return frozenset(word for key in self._meanings for word in key)

    @functools.cached_property
    def _trie(self) -> dict:
        return _trie(self._meanings, self._changers)

    def __repr__(self) -> str:
        return f"TitleReader({self.key})"

    def __eq__(self, other) -> bool:
        return isinstance(other, TitleReader) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def _split_compound(self, word: str) -> tuple[str, ...] | None:
        """A compound of two known words (German and Dutch write `Vertriebsdirektor`,
        `Verkoopmedewerker`): the split with the longest known first part, else None."""
        if len(word) < 7 or not word.isalpha():
            return None
        known = self._single_words
        for cut in range(len(word) - 3, 2, -1):
            left, right = word[:cut], word[cut:]
            if right in known and (left in known or (left.endswith("s") and left[:-1] in known)):
                return (left if left in known else left[:-1], right)
        return None

    def _form(self, token: str) -> tuple[str, ...]:
        form = self._forms.get(token)
        if form is not None:
            return form
        if not token[0].isalnum():
            form = CUT if token == "@" else (SEPARATOR,)
        elif token in _COMPANY_MARKERS:
            form = CUT
        elif token in self._abbreviations:
            form = self._abbreviations[token]
        elif token in self._vocabulary_words or token in _BREAKER_WORDS:
            form = (token,)
        elif ("&" in token or "+" in token):  # sales&marketing: two words (r&d, fp&a are in the vocabulary)
            form = tuple(w for part in re.split(r"[&+]", token) for w in (*self._form(part), SEPARATOR))[:-1]
        else:
            parts = self._split_compound(token)
            if parts is None and len(token) > 4 and token.endswith("s") and token[:-1] in self._vocabulary_words:
                parts = (token[:-1],)
            form = parts if parts is not None else (UNKNOWN,)
        if len(self._forms) >= _MAX_FORMS:
            self._forms.clear()
        self._forms[token] = form
        return form

    def _title_key(self, value: str) -> list[str]:
        """The title as the reader sees it: vocabulary words and separators, up to the company."""
        out: list[str] = []
        forms = self._forms
        for token in _raw_tokens(value):
            form = forms.get(token)
            if form is None:
                form = self._form(token)
            if form is CUT:
                if out:
                    break
                continue
            out += form
        return out

    def read(self, value: str) -> Role:
        """The role a title names."""
        words = self._title_key(value)
        key = " ".join(words)
        role = self._readings.get(key)
        if role is None:
            if len(self._readings) >= _MAX_READINGS:
                self._readings.clear()
            role = self._readings[key] = self._read_words(tuple(words))
        return role

    def _read_words(self, key: tuple[str, ...]) -> Role:
        """A title's role from its key: the longest phrase first at each word; a separator or `and`
        ends a part, within which a function-changing word changes its neighbour."""
        functions: set[tuple[str, str | None]] = set()
        weak: set[str] = set()
        rank, flags = -1, 0
        scope: list[str] = []
        trie, lone_changers = self._trie, self._lone_changers
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
                elif word in lone_changers:
                    changers += lone_changers[word]
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

    def similarity(self, value: str, phrase: str) -> float:
        """How closely a title resembles a phrase, 0–1 (`role_similarity`, or word overlap for a
        phrase that reads as no role); `text.SemanticMatcher`'s interface."""
        pair = (value, phrase)
        score = self._similarities.get(pair)
        if score is None:
            target = self.read(phrase)
            score = words_similarity(value, phrase) if not target.is_read else role_similarity(self.read(value), target)
            if len(self._similarities) >= _MAX_SIMILARITIES:
                self._similarities.clear()
            self._similarities[pair] = score
        return score

    def describe_resemblance(self, value: str, phrases: tuple[str, ...], threshold: float) -> str:
        """How `resembles` read a title, for the drawer: `VP Sales EMEA → Sales · VP · scope EMEA
        ≈ "VP Sales" 1.00` (≉ when no phrase reaches the threshold), against the closest phrase."""
        scored = [(self.similarity(value, phrase), phrase) for phrase in phrases]
        score, phrase = max(scored, key=lambda pair: pair[0])  # the first of equally close phrases
        sign = "≈" if score >= threshold - 1e-9 else "≉"
        return f'{value} → {self.read(value).describe()} {sign} "{phrase}" {score:.2f}'

    def describe_role(self, value: str) -> str:
        """`VP Sales EMEA → Sales · VP · scope EMEA`: the title and how it reads."""
        return f"{value} → {self.read(value).describe()}"


# ---- extensions -----------------------------------------------------------------------------------
# An extension has the shape of titles.json, with only the sections below; its lists are added to
# the shipped ones, its mappings merged into them.
EXTENSION_SECTIONS = ("abbreviations", "functions", "function_changers", "seniority", "offices", "titles",
                      "founder", "owner", "scope")


def phrase_words(phrase: str) -> list[str]:
    """The words a phrase is read as (case, accents and punctuation folded as in titles)."""
    return [word for word in _raw_tokens(phrase) if word[0].isalnum()]


class ExtensionBuilder:
    """Builds an extension, in titles.json's shape, from a `titles` block's entries one at a
    time. Names must be known (check.py reports those that are not before adding)."""

    def __init__(self):
        self.extension: dict = {}

    def _phrases(self, *path: str) -> list[str]:
        node = self.extension
        for part in path:
            node = node.setdefault(part, {})
        return node.setdefault(WORKSPACE_LANGUAGE, [])

    def function(self, phrase: str, name: str) -> None:
        """A phrase naming a function (`RevOps`) or a sub-function (`Sales Operations`)."""
        if name in FUNCTIONS:
            self._phrases("functions", name, "words").append(phrase)
        else:
            self._phrases("functions", SUB_FUNCTIONS[name], "subs", name).append(phrase)

    def seniority(self, phrase: str, name: str) -> None:
        """A phrase naming a rung (aliases allowed), or Founder / Owner."""
        canonical = SENIORITY_NAMES[name]
        if canonical in (FOUNDER, OWNER):
            self._phrases(canonical.lower()).append(phrase)
        else:
            self._phrases("seniority", canonical).append(phrase)

    def title(self, phrase: str, function: str, seniority: str) -> None:
        """A whole title: a function at a rung. The chief of a function is its office."""
        canonical = SENIORITY_NAMES[seniority]
        if canonical == LADDER[C_SUITE] and function in FUNCTIONS:
            self._phrases("offices", function).append(phrase)
            return
        entry = {"function": function if function in FUNCTIONS else SUB_FUNCTIONS[function],
                 "seniority": canonical, WORKSPACE_LANGUAGE: [phrase]}
        if function not in FUNCTIONS:
            entry["sub"] = function
        self.extension.setdefault("titles", {}).setdefault("entries", []).append(entry)

    def abbreviation(self, word: str, expansion: str) -> None:
        self.extension.setdefault("abbreviations", {})[phrase_words(word)[0]] = " ".join(phrase_words(expansion))

    def scope(self, phrase: str) -> None:
        self._phrases("scope").append(phrase)

    def changer(self, word: str, name: str) -> None:
        self.extension.setdefault("function_changers", {})[phrase_words(word)[0]] = {"name": name, "changes": CHANGER_NAMES[name]}


def merged_vocabulary(extension: dict) -> dict:
    """The shipped vocabulary with an extension's entries added."""
    vocabulary = copy.deepcopy(VOCABULARY)
    for section, value in extension.items():
        if section not in EXTENSION_SECTIONS:
            raise ValueError(f"a title vocabulary extension has no section {section!r}")
        _merge_into(vocabulary, section, value)
    return vocabulary


def _merge_into(target: dict, key: str, value) -> None:
    if isinstance(value, dict):
        into = target.setdefault(key, {})
        for inner_key, inner in value.items():
            _merge_into(into, inner_key, inner)
    elif isinstance(value, list):
        existing = target.setdefault(key, [])
        existing.extend(item for item in value if item not in existing)
    else:
        target[key] = value


def extension_key(extension: dict | None) -> str:
    """The identity of a vocabulary: the shipped version and a hash of the extension's entries."""
    if not extension:
        return VOCABULARY_VERSION
    import hashlib  # only an extension is hashed: the shipped vocabulary (every `unstuck check`) is not

    text = json.dumps(extension, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"{VOCABULARY_VERSION}+{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


SHIPPED = TitleReader(VOCABULARY, extension_key(None))
# Readers alive, by vocabulary: rulesets with the same extension share one reader and its caches.
_readers: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def reader_for(extension: dict | None) -> TitleReader:
    """The reader of the shipped vocabulary plus `extension` (None or empty: SHIPPED)."""
    key = extension_key(extension)
    if key == SHIPPED.key:
        return SHIPPED
    reader = _readers.get(key)
    if reader is None:
        reader = TitleReader(merged_vocabulary(extension), key)
        _readers[key] = reader
    return reader


def read_title(value: str) -> Role:
    """The role a title names, with the shipped vocabulary."""
    return SHIPPED.read(value)


def title_similarity(value: str, phrase: str) -> float:
    """`TitleReader.similarity` with the shipped vocabulary."""
    return SHIPPED.similarity(value, phrase)


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
