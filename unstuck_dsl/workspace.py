"""A live workspace: one published ruleset, one date, and scores that always say where they came
from. The one code path the CLI, the HTTP service and the web pages use (store.py holds the SQL;
this module holds what a workspace means).

    with Workspace("unstuck.duckdb") as ws:
        ws.publish("rules/", message="Snowflake counts more")    # version 1, 2, ...: every record re-scored
        ws.ingest(accounts="enrich.csv")                         # scored with the published rules, at ws.as_of
        ws.refresh()                                             # the daily job: every score as of today
        ws.explain(lead="L1")                                    # the drawer of the stored number

The invariants, after every step (tests/test_workspace.py checks them over random sequences):
every stored score equals a fresh full score of the stored records with the published ruleset at
the workspace's date (`as_of`), and carries that version's number. Every step that writes is one
transaction.

Names (the contract other modules code against):

- `Workspace(path, read_only=False, wait=None)`: a context manager; opens (or creates) the store.
  While `unstuck serve` holds a workspace, `service.client.open_workspace(path, read_only=True)`
  gives a `RemoteWorkspace`: the same reads, answered through the server.
- `ws.published -> Version | None`: the version in force: `number` (1, 2, ...), `hash` (of the
  rules' content: layout and comments do not change it), `text` (canonical, comments kept; what
  `rollback` republishes), `published_at`, `message`. `ws.versions()` lists them all, oldest first.
- `ws.compiled`: the published rules compiled (an `api.CompiledRules`), cached.
- `ws.as_of -> date | None`: the workspace's date; every stored score is as of it.
- `ws.publish(rules, message="", as_of=None, dry_run=False, confirm=None) -> PublishReport`:
  `rules` is a path, rule text or `CompiledRules`; the report has the `diff.compare` summary of
  what moves over the stored records; `confirm(report)` is asked before anything is written.
- `ws.rollback(number, message="") -> PublishReport`: publishes an earlier version's text as a new version.
- `ws.ingest(accounts=None, leads=None, signals=None, outcomes=None, rules=None, as_of=None) ->
  IngestReport`: paths or Arrow tables; `rules`, when given, must be the published version (on a
  workspace with nothing published they are published as version 1, in the same transaction).
- `ws.refresh(as_of=None) -> IngestReport`: every score as of a new date (default today).
- `ws.requalify(leads=(), accounts=(), audience=None, where=None) -> IngestReport`: re-scores just
  those records (`where` is an audience condition in the rule language, checked by the front end).
- `ws.explain(lead=None, account=None, preview=()) -> explain.Explanation`: the drawer.
- `ws.scored() -> api.ScoreResult`: every record with its stored scores (and engagement from the
  stored signals), what audiences and exports read.
- `ws.audience(name) -> pa.Table` (members), `ws.composition(name) -> pa.Table` (per ICP / Persona).
- `ws.export(kind, with_=()) -> pa.Table`: every record of `kind` ("lead" | "account") with its
  scores; `with_` takes "fields" (a lead's account fields) and "engagement" (engagement_score, stage).
- `ws.record_history(kind, record_id) -> pa.Table`: a record's score changes with the version of each.
- `ws.status() -> Status`: version, date, counts, scores off the published stamp, a stale-date warning.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import warnings
from pathlib import Path

import attrs
import pyarrow as pa
import pyarrow.compute as pc

from . import ast, ir, pipeline, store
from .ahead import meanwhile
from .data import DataError
from .diagnostics import RuleError
from .schema import ACCOUNT_KEY, ENGAGEMENT_FIELDS, LEAD_KEY, Schema
from .source import TEST_SUFFIX, Source
from .store import IngestReport, Stamp, Store

EXPORT_EXTRAS = ("fields", "engagement")  # what `export(with_=...)` can add
WHERE = "--where"  # the name diagnostics give a `matching` condition
_KEYS = {"account": ACCOUNT_KEY, "lead": LEAD_KEY}


def _quiet(_: str) -> None:
    pass


@attrs.frozen
class Version:
    """One published ruleset."""

    number: int
    hash: str
    text: str = attrs.field(repr=False)
    published_at: dt.datetime
    message: str

    @property
    def short_hash(self) -> str:
        return self.hash[:12]

    def __str__(self) -> str:
        return f"version {self.number} ({self.short_hash})"


@attrs.frozen
class PublishReport:
    """What publishing did, or would do. `version` is the version published, None when nothing
    was (a dry run, a declined confirmation, or rules that are the published version already)."""

    version: Version | None
    previous: Version | None
    as_of: dt.date
    diff: object | None = None  # diff.RuleDiff over the stored records; None when nothing was published before
    scores: IngestReport | None = None
    unchanged: bool = False  # the rules are the published version already, at this date

    def __str__(self) -> str:
        if self.unchanged:
            text = f"nothing to publish: these rules are {self.previous} already"
            if self.scores is not None:
                return f"{text}; every record re-scored as of {self.as_of.isoformat()}: {self.scores}"
            return f"{text}, as of {self.as_of.isoformat()}"
        if self.version is None:
            return "nothing published"
        text = f"published {self.version} as of {self.as_of.isoformat()}"
        return text + (f": {self.scores}" if self.scores is not None else "")


@attrs.frozen
class Status:
    path: Path
    version: Version | None
    as_of: dt.date | None
    today: dt.date
    accounts: int
    leads: int
    signals: int
    outcomes: int
    off_stamp: int  # stored scores not made by the published version at the workspace's date (0 normally)

    @property
    def stale(self) -> bool:
        return self.as_of is not None and self.as_of < self.today

    def warnings(self) -> list[str]:
        found = []
        if self.version is None:
            found.append("nothing published yet: `unstuck publish RULES --db W` (or a first `unstuck ingest RULES`)")
        if self.stale:
            days = (self.today - self.as_of).days
            found.append(f"the workspace's date {self.as_of.isoformat()} is {days} day{'s' * (days != 1)} before today: "
                         f"`within` and `ago` count from it; move it with `unstuck refresh --db {self.path}`")
        if self.off_stamp:
            found.append(f"{self.off_stamp:,} stored scores were made by another version or at another date "
                         f"(a workspace from an earlier unstuck): `unstuck refresh --db {self.path}` re-scores them")
        return found

    def to_dict(self) -> dict:
        version = None if self.version is None else {
            "number": self.version.number, "hash": self.version.hash,
            "published_at": self.version.published_at.isoformat(), "message": self.version.message}
        return {"path": str(self.path), "version": version, "as_of": self.as_of and self.as_of.isoformat(),
                "today": self.today.isoformat(), "accounts": self.accounts, "leads": self.leads,
                "signals": self.signals, "outcomes": self.outcomes, "off_stamp": self.off_stamp,
                "stale": self.stale, "warnings": self.warnings()}


def canonical_rules(rules) -> tuple[str, object]:
    """The rules as a version stores them, and checked: (canonical text with every comment, the
    model.Ruleset). `rules` is a path (a .ust file or a folder), rule text, or CompiledRules
    (whose comments are gone: its printed text is stored). RuleError when they do not check."""
    if _is_compiled(rules):
        return rules.model.source_text, rules.model
    sources = pipeline.sources_of(rules)
    ruleset, diagnostics = pipeline.check_sources(sources)
    if ruleset is None:
        raise RuleError(diagnostics, {s.name: s for s in sources})
    # A version holds what scores: the rule files, not the rule tests beside them (checked with
    # them above, and, like the content hash, left out), so a version's text is only rules.
    rule_sources = [s for s in sources if not s.name.endswith(TEST_SUFFIX)] or sources
    root = Path(rules) if pipeline.looks_like_path(rules) and Path(rules).is_dir() else None
    from .fmt import format_source  # (Lark: loaded when rules are published, not by every step)

    texts = []
    for source in rule_sources:
        text, _ = format_source(source)  # parses: the check above parsed it
        name = Path(source.name).relative_to(root).as_posix() if root is not None else Path(source.name).name
        texts.append(f"{_FILE_HEADER_PREFIX}{name}\n{text}" if len(rule_sources) > 1 else text)
    return "\n".join(texts), ruleset


# A version of several files joins them, each after a line `# NAME.ust` (its path within the rules
# folder); `version_files` splits them back.
_FILE_HEADER_PREFIX = "# "
_FILE_HEADER = re.compile(r"^# (\S[^\n]*\.ust)$", re.MULTILINE)


def version_files(text: str) -> list[tuple[str, str]]:
    """A version's text as the files it was joined from (`canonical_rules`), or one `rules.ust`.
    A header counts at the start of the text or after a blank line (a comment naming a file
    elsewhere is not one)."""
    starts = [m for m in _FILE_HEADER.finditer(text) if m.start() == 0 or text[max(0, m.start() - 2):m.start()] == "\n\n"]
    if not starts or starts[0].start() != 0:
        return [("rules.ust", text)]
    bounds = [m.start() for m in starts] + [len(text)]
    return [(m.group(1), text[m.end() + 1:end]) for m, end in zip(starts, bounds[1:])]


def _is_compiled(rules) -> bool:
    """Rules given as an `api.CompiledRules` (not imported here: it brings numba)."""
    return hasattr(rules, "model") and hasattr(rules, "program")


def _compiled(ruleset):
    from .api import CompiledRules  # numba: loaded only when rules are compiled

    return CompiledRules(ruleset)


class Workspace:
    """One workspace store with its published ruleset and date (see the module docstring)."""

    def __init__(self, path: str | Path, read_only: bool = False, wait: float | None = None, store=None):
        self.path = Path(path)
        self.read_only = read_only
        # `store`: one open already (service.client's RemoteStore: the reads of a served workspace).
        self.store = store if store is not None else Store(path, read_only=read_only, wait=wait)
        self._compiled: dict[int, object] = {}
        self._scored = None  # (version number, as_of, stored-scores generation) -> ScoreResult
        self._generation = 0  # bumped by every write: what was read before may be stale

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.store.__exit__(kind, value, traceback)

    def close(self) -> None:
        self.store.__exit__(None, None, None)

    # ---- the published ruleset and the date --------------------------------------------------

    def versions(self) -> list[Version]:
        return [Version(*row) for row in self.store.versions()]

    def version(self, number: int) -> Version:
        found = next((v for v in self.versions() if v.number == number), None)
        if found is None:
            known = ", ".join(str(v.number) for v in self.versions()) or "none yet"
            raise DataError(f"{self.path}: no version {number} (published versions: {known})")
        return found

    @property
    def published(self) -> Version | None:
        versions = self.store.versions(last=True)
        return Version(*versions[-1]) if versions else None

    @property
    def compiled(self):
        version = self._require_published()
        if version.number not in self._compiled:
            self._compiled[version.number] = _compiled(pipeline.load_ruleset(version.text))
        return self._compiled[version.number]

    @property
    def as_of(self) -> dt.date | None:
        return self.store.stored_as_of()

    def _require_published(self) -> Version:
        version = self.published
        if version is None:
            raise DataError(f"{self.path}: nothing published yet; publish rules first: "
                            f"`unstuck publish RULES --db {self.path}`")
        return version

    def _kernels_loading(self):
        """The published rules' kernels loading on a second thread from here on, when rules are
        published (`pipeline.kernels_loading`; the step's own loading shares it): from before
        the transaction, while it reads and the workspace is checked."""
        if self.published is None:
            return contextlib.nullcontext()
        return pipeline.kernels_loading(self.compiled)

    def _stamp(self) -> Stamp:
        version = self._require_published()
        return Stamp(version.hash, version.number, self.as_of or dt.date.today())

    def check_rules(self, rules, name: str | None = None) -> Version:
        """Rules given to a command that uses the published ones must be them (in content:
        layout and comments aside); else one line names both and says to publish."""
        version = self._require_published()
        given = rules.model.content_hash if _is_compiled(rules) else pipeline.load_ruleset(rules).content_hash
        if given == version.hash:
            return version
        name = name or (str(rules) if pipeline.looks_like_path(rules) else "the rules given")
        earlier = next((v for v in reversed(self.versions()) if v.hash == given), None)
        what = f"are {earlier}, published earlier" if earlier else f"(ruleset {given[:12]}) were never published here"
        raise DataError(f"{name} {what}, not {version}, the published rules of {self.path}; to use them, publish "
                        f"them: `unstuck publish {name} --db {self.path}`")

    # ---- publishing ---------------------------------------------------------------------------

    def publish(self, rules, message: str = "", as_of: dt.date | None = None, dry_run: bool = False,
                confirm=None, on_stage=_quiet) -> PublishReport:
        """Check `rules`, score every stored record with them (and with the published rules, for
        the diff), then, unless `dry_run` or `confirm(report)` says no, record them as the next
        version and store every new score: one transaction."""
        on_stage("checking and compiling rules")
        text, ruleset = canonical_rules(rules)
        compiled = rules if _is_compiled(rules) else _compiled(ruleset)
        return self._publish(text, ruleset, compiled, message, as_of, dry_run, confirm, on_stage)

    def rollback(self, number: int, message: str = "", dry_run: bool = False, confirm=None,
                 on_stage=_quiet) -> PublishReport:
        """Publish an earlier version again, as a new version (nothing is rewritten)."""
        old = self.version(number)
        if self.published is not None and old.number == self.published.number:
            raise DataError(f"{self.path}: version {number} is the published version already")
        ruleset = pipeline.load_ruleset(old.text)
        return self._publish(old.text, ruleset, _compiled(ruleset), message or f"rollback to version {number}",
                             None, dry_run, confirm, on_stage)

    def _publish(self, text, ruleset, compiled, message, as_of, dry_run, confirm, on_stage) -> PublishReport:
        from .diff import compare

        previous = self.published
        day = as_of or self.as_of or dt.date.today()
        if previous is not None and previous.hash == ruleset.content_hash and previous.text == text:
            # The rules in force already: no new version. A new date (or scores an earlier unstuck
            # left at another stamp) is a refresh.
            if day == self.as_of and not self.status().off_stamp:
                return PublishReport(None, previous, day, unchanged=True)
            if dry_run or (confirm is not None and not confirm(PublishReport(None, previous, day, unchanged=True))):
                return PublishReport(None, previous, day, unchanged=True)
            return PublishReport(None, previous, day, scores=self.refresh(day, on_stage), unchanged=True)
        on_stage("reading the stored records")
        published = self.compiled if previous is not None else None
        result = diff = dataset = stored = None
        diffing = None  # the diff being found while the scores are written, when only the report shows it
        with contextlib.ExitStack() as loading:
            if self.store.count("account") or self.store.count("lead"):  # (an empty workspace needs no kernel)
                for rules in (compiled, published) if published is not None else (compiled,):
                    loading.enter_context(pipeline.kernels_loading(rules))  # while the records are read
            accounts, leads = self._records(ruleset.schema, published)
            if accounts.num_rows or leads.num_rows:
                # A field the stored records lack yet reads as unknown, as it will once stored (`ensure_fields`).
                dataset = compiled.load(accounts, leads, missing_columns="unknown")
        if dataset is not None:
            on_stage(f"scoring {accounts.num_rows:,} accounts and {leads.num_rows:,} leads")
            result = compiled.score_dataset(dataset, day)
            if published is not None:
                on_stage("comparing with the published rules")
                same_records = published.model.schema == compiled.model.schema  # the records read the same: encoded once
                if not same_records:
                    dataset = published.load(accounts, leads, missing_columns="unknown")
                before = published.score_dataset(dataset, self.as_of or day)
                if dry_run or confirm is not None:
                    diff = compare(before, result)
                else:  # (a third of a second at 3M leads; the writing waits on DuckDB meanwhile)
                    # (Each result keeps its numbers once made: made here, they are read by both threads.)
                    before.score_numbers()
                    result.score_numbers()
                    diffing = meanwhile(compare, before, result)
                if same_records:  # (the records read alike by both rules; whether these are the stored scores: below)
                    stored = before
                del before
            del dataset
        report = PublishReport(None, previous, day, diff)
        if dry_run or (confirm is not None and not confirm(report)):
            return report
        # The published rules' scores of these records are the stored scores when those rules made
        # every one at the workspace's date: what moved is then found without reading the stored
        # scores (a join of 4M rows in DuckDB). (Asked only of a publish that writes: a workspace
        # read through the server holding it answers a dry run without the stamps.)
        if stored is not None and not self._every_score_in_force():
            stored = None
        ids = accounts.column(ACCOUNT_KEY), leads.column(LEAD_KEY)
        del accounts, leads
        try:
            with self.store.transaction():
                version = Version(*self.store.add_version(ruleset.content_hash, text, message))
                self.store.set_meta(store.AS_OF_KEY, day.isoformat())
                scores = IngestReport()
                if result is None:
                    self.store.ensure_fields(ruleset)
                else:
                    on_stage("storing scores")
                    scores = store.rescore(self.store, compiled, Stamp(version.hash, version.number, day),
                                           scored=(result, *ids), stored=stored)
        finally:
            if diffing is not None:
                diffing.exception()  # (waits: the diff reads the results until it is done)
        self._compiled[version.number] = compiled
        self._generation += 1
        if diffing is not None and diffing.exception() is not None:
            # (The rules are published all the same: the report says so, without the diff.)
            warnings.warn(f"what moved could not be summarised: {diffing.exception()}", stacklevel=2)
        elif diffing is not None:
            diff = diffing.result()
        return attrs.evolve(report, version=version, scores=scores, diff=diff)

    def _records(self, schema: Schema, published) -> tuple[pa.Table, pa.Table]:
        """Every stored account and lead, typed by `schema` as the store converts them: their ids
        and the fields `schema` or the `published` rules (None: none) declare, in no particular
        order (scoring and comparing need none; sorting 3M ids took a second)."""
        read_by = Schema(schema.fields + (published.model.schema.fields if published is not None else ()))
        return tuple(self.store.records(kind, schema=schema, ordered=False, read_by=read_by)
                     for kind in ("account", "lead"))

    # ---- keeping scores true ------------------------------------------------------------------

    def ingest(self, accounts=None, leads=None, signals=None, outcomes=None, rules=None,
               as_of: dt.date | None = None, message: str = "", null_values=(), skip_unknown_signals: bool = False,
               on_stage=_quiet, on_rescored=None, read_before=None) -> IngestReport:
        """Upsert records (re-scoring exactly those whose inputs changed, with the published
        rules at the workspace's date) and append signals and outcomes: one transaction. `rules`,
        when given, must be the published version; on a workspace with nothing published they
        are published as version 1 first (in the same transaction; `report.published` says so).
        `as_of`, when given, must be the workspace's date (or sets it, on a new workspace).
        `on_rescored` hears the records re-scored (`store.rescore_records`); `read_before`, stored
        records read since the last write, are not read again (`store.ingest`)."""
        with self.store.transaction():  # (the kernels load once the files are read: `store.ingest`)
            published = None
            if rules is not None and self.published is None:
                published = self.publish(rules, message or "first ingest", as_of=as_of, on_stage=on_stage).version
            elif rules is not None:
                self.check_rules(rules)
            stamp = self._stamp()
            if as_of is not None and as_of != stamp.as_of:
                raise DataError(f"{self.path}: the workspace's scores are as of {stamp.as_of.isoformat()}, and "
                                f"ingest scores at that date; to move the workspace to {as_of.isoformat()}, run "
                                f"`unstuck refresh --db {self.path} --as-of {as_of.isoformat()}`")
            report = IngestReport()
            if accounts is not None or leads is not None:
                report = store.ingest(self.store, self.compiled, stamp, accounts, leads, on_stage, null_values,
                                      on_rescored, read_before)
            if signals is not None or outcomes is not None:
                on_stage("adding signals and outcomes")
                report.events = store.ingest_events(self.store, self.compiled, signals, outcomes, skip_unknown_signals)
            report.published = published
        self._generation += 1
        return report

    def refresh(self, as_of: dt.date | None = None, on_stage=_quiet) -> IngestReport:
        """Move the whole workspace to a new date (default today): every record re-scored with
        the published rules as of it, in one transaction. The daily job that keeps `within 12
        months` true."""
        version = self._require_published()
        day = as_of or dt.date.today()
        with self._kernels_loading(), self.store.transaction():
            self.store.set_meta(store.AS_OF_KEY, day.isoformat())
            report = store.rescore(self.store, self.compiled, Stamp(version.hash, version.number, day), on_stage)
        self._generation += 1
        return report

    def requalify(self, leads=(), accounts=(), audience: str | None = None, where: str | None = None,
                  on_stage=_quiet) -> IngestReport:
        """Re-score just these records (an enrichment that landed outside `ingest`, a repair):
        leads and accounts by id (an account's leads with it), an audience's members, or the
        records meeting `where`, an audience condition in the rule language. Reads only those
        records when given by id. One transaction."""
        self.store.verified()  # a damaged workspace is named before an id is looked up in it
        stamp = self._stamp()
        lead_ids = self._known("lead", [str(i) for i in leads])
        account_ids = self._known("account", [str(i) for i in accounts])
        for members in ([self.audience(audience)] if audience is not None else []) + \
                       ([self.matching(where)] if where is not None else []):
            kind = "lead" if LEAD_KEY in members.column_names else "account"
            found = members.column(_KEYS[kind]).cast(pa.string())
            if kind == "lead":
                lead_ids = pa.chunked_array([lead_ids, *found.chunks], pa.string()).unique()
            else:
                account_ids = pa.chunked_array([account_ids, *found.chunks], pa.string()).unique()
        report = IngestReport()
        with self.store.transaction():
            with pipeline.kernels_loading(self.compiled) as kernels_loaded:
                store.rescore_records(self.store, self.compiled, stamp, _array(account_ids), _array(lead_ids), report,
                                      on_stage, kernels_loaded)
        self._generation += 1
        return report

    def _known(self, kind: str, ids: list[str]) -> pa.Array:
        """These ids, each checked to be a stored record of `kind`."""
        wanted = pa.array(ids, pa.string()).unique()
        if not len(wanted):
            return wanted
        found = self.store.existing_ids(kind, wanted)
        missing = pc.filter(wanted, pc.invert(pc.is_in(wanted, value_set=found)))
        if len(missing):
            raise DataError(f"{self.path}: unknown {kind} id {missing[0].as_py()!r}")
        return wanted

    # ---- reading ------------------------------------------------------------------------------

    def explain(self, lead: str | None = None, account: str | None = None, preview=(), stored: pa.Table | None = None):
        """The drawer of one record, explaining its stored scores: the published rules at the
        workspace's date, with the stored signals. Reads only the record and those it depends on.
        `stored`: the record as `store.records(kind, [id])` reads it, read by the caller already
        (a record's page shows it too): not read again unless the rules read a field of it as
        another type than the stored one."""
        compiled, day = self.compiled, self._stamp().as_of
        if (lead is None) == (account is None):
            raise DataError("explain one record: give a lead id or an account id")
        schema = compiled.model.schema

        def record(kind: str, ident) -> pa.Table:
            if stored is not None and self.store.stored_as_declared(kind, schema):
                return stored
            return self.store.records(kind, pa.array([str(ident)], pa.string()), schema)

        if lead is not None:
            leads = record("lead", lead)
            if not leads.num_rows:
                raise DataError(f"{self.path}: unknown lead id {str(lead)!r}")
            owners = leads.column(ACCOUNT_KEY).drop_null().cast(pa.string()).combine_chunks()
            accounts = self.store.records("account", owners, schema)
        else:
            accounts = record("account", account)
            if not accounts.num_rows:
                raise DataError(f"{self.path}: unknown account id {str(account)!r}")
            leads = None
        signals = None
        if compiled.model.engagement is not None:
            if leads is None:  # the account's leads: their signals count for it
                leads = self.store.affected_leads(accounts.column(ACCOUNT_KEY).combine_chunks(),
                                                  pa.nulls(0, pa.string()), schema=schema)
            signals = self.store.signals_of(accounts.column(ACCOUNT_KEY), leads.column(LEAD_KEY))
            signals = signals if signals.num_rows else None
        if lead is None and signals is None:
            leads = None  # an account's leads count for it only by their signals
        # The store read just the records the drawer depends on: encoded as they are (not picked again).
        return compiled.explain_dataset(compiled.load(accounts, leads), str(account) if account is not None else None,
                                        str(lead) if lead is not None else None, day, preview, signals)

    def scored(self):
        """Every stored record with its stored scores (an `api.ScoreResult`, in id order; the
        lead table when there are leads, else the accounts), engagement from the stored signals.
        Read from the store, not scored again, when every score is the published version's at
        the workspace's date (always, but in a workspace from an earlier unstuck not yet refreshed)."""
        stamp = self._stamp()
        key = (stamp.version, stamp.as_of, self._generation)
        if self._scored is not None and self._scored[0] == key:
            return self._scored[1]
        compiled = self.compiled
        accounts = self.store.records("account", schema=compiled.model.schema)
        leads = self.store.records("lead", schema=compiled.model.schema) if self.store.count("lead") else None
        dataset = compiled.load(accounts, leads)
        result = None
        if not self.status().off_stamp:
            result = compiled.with_stored_scores(dataset, stamp.as_of, self.store.scores("account"),
                                                 self.store.scores("lead") if leads is not None else None)
        if result is None:
            result = compiled.score_dataset(dataset, stamp.as_of)
        signals = self.store.signals()
        if compiled.model.engagement is not None and signals.num_rows:
            result.score_engagement(signals)
        self._scored = (key, result)
        return result

    def audience(self, name: str) -> pa.Table:
        """An audience's members (the rows of `scored().table()` that meet its condition). Refused
        when it reads engagement and no signals are stored: every stage would be unknown, so the
        answer would be an empty audience, not a true one."""
        result = self.scored()
        read = engagement_unknown(result, name)
        if read:
            raise DataError(f"audience `{name}` reads {read}, which is unknown without signals; ingest signals into "
                            f"{self.path} first")
        return result.audience(name)

    def composition(self, name: str) -> pa.Table:
        """Per ICP (and Persona): the audience's member count and mean scores, largest first."""
        members = self.audience(name)
        keys = [c for c in ("icp_code", "persona_code") if c in members.column_names]
        key = LEAD_KEY if LEAD_KEY in members.column_names else ACCOUNT_KEY
        aggregates = [(key, "count")] + [(c, "mean") for c in ("icp_score", "persona_score") if c in members.column_names]
        plain = members.select([key, *keys, *(c for c, _ in aggregates[1:])])
        plain = pa.table({c: (a.cast(pa.string()) if pa.types.is_dictionary(a.type) else a)
                          for c, a in zip(plain.column_names, plain.columns)})
        grouped = plain.group_by(keys).aggregate(aggregates)
        named = grouped.rename_columns(["members" if c == f"{key}_count" else c for c in grouped.column_names])
        return named.sort_by([("members", "descending")] + [(k, "ascending") for k in keys])

    def matching(self, where: str) -> pa.Table:
        """The rows of `scored().table()` meeting `where`, an audience condition in the rule
        language (parsed and checked by the front end as if declared in the published rules;
        never evaluated as code)."""
        from .parser import parse_source
        code = "where_" + hashlib.sha256(where.encode("utf-8")).hexdigest()[:12]
        shown = Source(WHERE, where)  # what diagnostics point into: the condition as the user wrote it
        source = Source(WHERE, f"audience {code} {{\n{where}\n}}\n")
        parsed, diagnostics = parse_source(source)
        if parsed is None:
            raise RuleError([_in_condition(d, where) for d in diagnostics], {WHERE: shown})
        if len(parsed.declarations) != 1 or not isinstance(parsed.declarations[0], ast.Audience):
            raise DataError(f"{WHERE}: give one condition, as an audience's body is written (no braces)")
        published = Source("<published>", self._require_published().text)
        ruleset, diagnostics = pipeline.check_sources([published, source])
        if ruleset is None:
            raise RuleError([_in_condition(d, where) for d in diagnostics if d.is_error],
                            {WHERE: shown, published.name: published})
        result = self.scored()
        read = engagement_unknown(result, code, ruleset.audience(code))
        if read:
            raise DataError(f"{WHERE} reads {read}, which is unknown without signals; ingest signals into "
                            f"{self.path} first")
        membership = result.audience_membership(code, audience=ruleset.audience(code))
        return result.table().filter(pa.array(membership == ir.TRUE))

    def export(self, kind: str, with_=()) -> pa.Table:
        """Every stored record of `kind` ("lead" or "account") with its scores and their stamp,
        then its own columns; `with_` adds "fields" (to leads: their account's columns) and
        "engagement" (engagement_score and stage, from the stored signals)."""
        if kind not in _KEYS:
            raise DataError(f"export: kind {kind!r} is not one of lead, account")
        unknown = [w for w in with_ if w not in EXPORT_EXTRAS]
        if unknown:
            raise DataError(f"export: cannot add {unknown[0]!r}; choose from {', '.join(EXPORT_EXTRAS)}")
        table = self.store.with_scores(kind, account_fields="fields" in with_)
        if "engagement" in with_:
            if self.compiled.model.engagement is None:
                raise DataError("export with engagement: the published rules declare no engagement")
            result = self.scored()
            scored = result.leads if kind == "lead" else result.accounts
            if scored is None or "engagement_score" not in scored.column_names:
                raise DataError(f"export with engagement: no signals stored in {self.path}")
            if not scored.column(_KEYS[kind]).cast(pa.string()).equals(table.column(_KEYS[kind]).cast(pa.string())):
                raise DataError(f"{self.path}: the stored records changed while exporting; try again")
            for column in ("engagement_score", "stage"):
                table = table.append_column(column, scored.column(column))
        return table

    def record_history(self, kind: str, record_id: str) -> pa.Table:
        """A record's score changes, oldest first: when, the version that made each, old and new."""
        if kind not in _KEYS:
            raise DataError(f"history: kind {kind!r} is not one of lead, account")
        self._known(kind, [str(record_id)])
        return self.store.history(kind, str(record_id))

    def _stamped(self, kind: str) -> tuple[int, int]:
        """How many stored scores of `kind` the published version made at the workspace's date,
        and how many others (another version's, another date's: a workspace from an earlier unstuck)."""
        version, day = self.published, self.as_of
        in_force = off = 0
        for number, scored_at, n in self.store.stamps(kind):
            if version is None or number != version.number or scored_at != day:
                off += n
            else:
                in_force += n
        return in_force, off

    def _every_score_in_force(self) -> bool:
        """Every stored record has one score, which the published version made at the workspace's
        date: the stored scores are that version's scoring of the stored records (the invariant
        `scored` reads them by)."""
        return all(self._stamped(kind) == (self.store.count(kind), 0) for kind in ("account", "lead"))

    def status(self) -> Status:
        version, day = self.published, self.as_of
        counts = {kind: self.store.count(kind) for kind in ("account", "lead")}
        off = sum(self._stamped(kind)[1] for kind in ("account", "lead"))
        events = self.store.event_counts()
        return Status(self.path, version, day, dt.date.today(), counts["account"], counts["lead"], events["signals"],
                      events["outcomes"], off)


def engagement_unknown(result, name: str, declared=None) -> str:
    """The engagement fields (`stage`, `engagement_score`) audience `name` (or `declared`, an
    audience checked against the rules) reads, when `result` was scored without signals (""
    otherwise): every record's would be unknown, so its members would be an empty audience, not a
    true one."""
    declared = declared or result.ruleset.model.audience(name)
    if declared is None or result.signal_lists is not None:
        return ""
    read = sorted({ref.name for ref in ast.fields_read(declared.condition)} & set(ENGAGEMENT_FIELDS))
    return " and ".join(f"`{f}`" for f in read)


def _in_condition(diagnostic, where: str):
    """A diagnostic about the audience `matching` wraps a condition in, placed in the condition
    itself: one line up, and at the condition's end when it is about the closing brace."""
    span = diagnostic.span
    if span is None or span.file != WHERE:
        return diagnostic
    lines = where.split("\n")
    line, end_line = span.line - 1, span.end_line - 1
    if line > len(lines) or line < 1:  # the closing brace (or the header): the condition ended too early
        end = len(lines[-1]) + 1
        return attrs.evolve(diagnostic, span=attrs.evolve(span, line=len(lines), column=end, end_line=len(lines),
                                                          end_column=end + 1),
                            message="the condition ends too early", label="here")
    return attrs.evolve(diagnostic, span=attrs.evolve(span, line=line, end_line=max(line, min(end_line, len(lines)))))


def _array(ids) -> pa.Array:
    return ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
