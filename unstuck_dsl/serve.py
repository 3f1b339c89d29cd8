"""`unstuck serve`: the workspace over HTTP (an ASGI app, Starlette on uvicorn).

One process holds the workspace (DuckDB lets one process write it) with its published kernels
compiled and loaded, and every endpoint goes through `Workspace`, the code path the CLI uses.
Requests are served one at a time against the workspace (a lock: DuckDB's connection is not
used by two threads at once), each in a worker thread so the event loop keeps accepting
connections. Every write is one DuckDB transaction, committed before the reply.

Security: the server binds 127.0.0.1 unless told otherwise, and then only with a token; every
write endpoint needs the token (`Authorization: Bearer T`) always, and on an address other than
loopback every endpoint does. Bodies are bounded (`max_body`); a body that is malformed, names an
unknown field or holds a value of the wrong type is a 400 naming the field and the record, with
nothing applied; an unexpected failure is a 500 saying "internal error" (the traceback goes to
the server's log, never to the client). docs/serve.md lists the endpoints.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hmac
import json
import logging
import signal
import socket
import threading
from pathlib import Path

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .api import ScoringError
from .data import DataError
from .diagnostics import RuleError
from .schema import ACCOUNT_KEY, LEAD_KEY
from .service import listing, moves, wire
from .service.bodies import (
    EVENT_SECTIONS,
    RECORD_KINDS,
    BadRequest,
    csv_table,
    event_rows,
    json_object,
    read_body,
    record_id,
    records_table,
)
from .web import endpoints as web
from .web.pages import Pages
from .workspace import Workspace

LOG = logging.getLogger("unstuck.serve")
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765
DEFAULT_MAX_BODY = 50 * 1024 * 1024  # bytes
LOOPBACK = ("127.0.0.1", "::1", "localhost")
_KINDS = {"leads": "lead", "accounts": "account"}
_FLAGS = {"1": True, "true": True, "0": False, "false": False}
_CHECKS_ITS_PARAMS = ("list_leads", "list_accounts", "audience")  # (listing.parse)


def is_loopback(host: str) -> bool:
    return host in LOOPBACK or host.startswith("127.")


# ---- responses ---------------------------------------------------------------------------------


def _plain(value):
    """JSON for what Arrow and the drawer hand back (dates, decimals, numpy scalars, sets)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(type(value).__name__)


class JSON(Response):
    media_type = "application/json"

    def render(self, content) -> bytes:
        return json.dumps(content, default=_plain, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ArrowStream(Response):
    media_type = wire.ARROW_STREAM

    def render(self, content: pa.Table) -> bytes:
        return wire.table_bytes(content)


def _rows(table: pa.Table | None) -> list[dict]:
    return [] if table is None else table.to_pylist()


# ---- the endpoints -----------------------------------------------------------------------------


@attrs.frozen
class Endpoint:
    """One endpoint: what routes it, what the OpenAPI schema says of it, and whether it writes."""

    method: str
    path: str
    handler: str  # a Service method
    summary: str
    params: tuple[str, ...] = ()  # query parameters it takes (list pages check theirs in `listing`)
    writes: bool = False  # needs the token always
    body: str | None = None  # what the body holds, for the schema
    arrow: bool = False  # answers with a table as an Arrow IPC stream (service/wire.py), not JSON


_LIST_PARAMS = {kind: (*listing.FILTERS[kind], *listing.MEMBER_FILTERS, *listing.PAGING) for kind in ("lead", "account")}
ENDPOINTS = (
    Endpoint("GET", "/api/status", "status", "The published version, the workspace's date, counts and warnings."),
    Endpoint("POST", "/api/score", "score", "Score records given in the body (nothing is stored): the inbound "
             "routing call. `?explain=1` adds each record's drawer.", ("explain",),
             body='{"accounts": [records], "leads": [records]}; a lead may carry its account\'s fields inline'),
    Endpoint("POST", "/api/ingest", "ingest", "Upsert accounts and leads, append signals and outcomes: one "
             "transaction, durable before the reply, which lists what moved.", ("section",), writes=True,
             body='{"accounts": [...], "leads": [...], "signals": [...], "outcomes": [...]}, or CSV '
                  '(Content-Type: text/csv) with ?section=accounts|leads|signals|outcomes'),
    Endpoint("GET", "/api/leads", "list_leads", "Leads with their scores: filtered, sorted, paged by cursor.",
             _LIST_PARAMS["lead"]),
    Endpoint("GET", "/api/accounts", "list_accounts", "Accounts with their scores: filtered, sorted, paged by "
             "cursor.", _LIST_PARAMS["account"]),
    Endpoint("GET", "/api/leads/{id}", "lead", "One lead: its fields, qualification, drawer, engagement and "
             "score history."),
    Endpoint("GET", "/api/accounts/{id}", "account", "One account: its fields, qualification, drawer, engagement "
             "and score history."),
    Endpoint("GET", "/api/audiences", "audiences", "The published audiences."),
    Endpoint("GET", "/api/audiences/{name}", "audience", "An audience's composition (per ICP and Persona) and a "
             "page of its members.", listing.PAGING),
    Endpoint("POST", "/api/requalify", "requalify", "Re-score just these records (by id, an audience's "
             "members, or those meeting a condition).", writes=True,
             body='{"leads": [ids], "accounts": [ids], "audience": name, "where": condition}'),
    Endpoint("POST", "/api/publish", "publish", "Publish rules as the next version (every record re-scored in "
             "one transaction); `dry_run` gives the diff only.", writes=True,
             body='{"rules": text, "message": text, "dry_run": bool, "as_of": "YYYY-MM-DD"}'),
    Endpoint("POST", "/api/refresh", "refresh", "Move the workspace to a new date (default today): every record "
             "re-scored as of it.", writes=True, body='{"as_of": "YYYY-MM-DD"}'),
    # The reads of the CLI while this server holds the workspace (service/client.py): what a
    # `Workspace` answers, whole; tables as Arrow IPC streams.
    Endpoint("GET", "/api/versions", "versions", "Every published version, oldest first, with its rule text."),
    Endpoint("GET", "/api/explain", "explain", "The drawer of one record (`lead` or `account`), with drafts "
             "scored as if live (`preview`, repeatable).", ("lead", "account", "preview")),
    Endpoint("GET", "/api/history", "history", "A record's score changes, oldest first, with the version that "
             "made each.", ("kind", "id"), arrow=True),
    Endpoint("GET", "/api/members", "members", "Every member of an audience, as `unstuck audience --db` lists "
             "them.", ("audience",), arrow=True),
    Endpoint("GET", "/api/export", "export", "Every record of one kind (`lead` or `account`) with its scores; "
             "`with` adds `fields`, `engagement` (comma-separated).", ("kind", "with"), arrow=True),
    Endpoint("GET", "/api/records", "records", "Every stored record of one kind, typed by the declared `fields` "
             "given ([[name, kind, type], ...]) as the store converts them.", ("kind", "fields"), arrow=True),
    Endpoint("GET", "/api/scores", "scores", "Every stored score of one kind with its stamp.", ("kind",), arrow=True),
    Endpoint("GET", "/api/signals", "signals", "Every stored signal.", arrow=True),
    Endpoint("GET", "/api/outcomes", "outcomes", "Every stored outcome.", arrow=True),
)


def openapi() -> dict:
    """The OpenAPI schema, from ENDPOINTS."""
    paths: dict = {}
    for e in ENDPOINTS:
        answer = {"description": "a table", "content": {wire.ARROW_STREAM: {}}} if e.arrow else {"description": "JSON"}
        operation = {"summary": e.summary, "operationId": e.handler,
                     "responses": {"200": answer, "400": {"description": "a bad request: {error, field, record}"}}}
        parameters = [{"name": p, "in": "query", "required": False, "schema": {"type": "string"}} for p in e.params]
        parameters += [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                       for name in ("id", "name") if "{" + name + "}" in e.path]
        if parameters:
            operation["parameters"] = parameters
        if e.body:
            operation["requestBody"] = {"description": e.body, "required": True,
                                        "content": {"application/json": {"schema": {"type": "object"}}}}
        if e.writes:
            operation["security"] = [{"token": []}]
            operation["responses"]["401"] = {"description": "no token"}
            operation["responses"]["403"] = {"description": "a wrong token"}
        paths.setdefault(e.path, {})[e.method.lower()] = operation
    return {"openapi": "3.0.3", "info": {"title": "unstuck serve", "version": "1"}, "paths": paths,
            "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}}}


def _flag(params, name: str) -> bool:
    value = params.get(name, "0")
    if value not in _FLAGS:
        raise BadRequest(f"parameter `{name}` must be 1 or 0", field=name)
    return _FLAGS[value]


def _date(value, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"field `{name}` must be a date as \"YYYY-MM-DD\", not {value!r}", field=name) from None


def _diff(diff) -> dict | None:
    """A `diff.RuleDiff` as JSON: counts by transition, and the records that moved most."""
    if diff is None:
        return None

    def keyed(counts: dict) -> dict:
        return {(" -> ".join(map(str, k)) if isinstance(k, tuple) else str(k)): v for k, v in counts.items()}

    return {"kind": diff.kind, "records": diff.records, "changed": diff.changed,
            "icp_transitions": keyed(diff.icp_transitions), "persona_transitions": keyed(diff.persona_transitions),
            "band_changes": keyed(diff.band_changes), "icp_deltas": keyed(diff.icp_deltas),
            "persona_deltas": keyed(diff.persona_deltas),
            "movers": [{"id": m.record_id, "old": list(m.old), "new": list(m.new)} for m in diff.movers]}


def _version(version, text: bool = False) -> dict | None:
    return None if version is None else {"number": version.number, "hash": version.hash,
                                         "published_at": version.published_at.isoformat(), "message": version.message,
                                         **({"text": version.text} if text else {})}


def _record_kind(params) -> str:
    kind = params.get("kind")
    if kind not in _KINDS.values():
        raise BadRequest(f"parameter `kind` must be {' or '.join(_KINDS.values())}", field="kind")
    return kind


def _report(report) -> dict:
    fields = attrs.asdict(report, recurse=False, filter=lambda a, _: a.name not in ("events", "published"))
    if report.events is not None:
        fields["events"] = attrs.asdict(report.events)
    if report.published is not None:
        fields["published"] = _version(report.published)
    return fields


class Service:
    """The endpoints' work, against one open workspace; every method runs under `lock`."""

    def __init__(self, workspace: Workspace, in_memory: bool = True):
        self.workspace = workspace
        self.lock = threading.Lock()
        if in_memory:
            workspace.store.keep_in_memory()
        self._published = None  # (version, compiled, as_of): read once, forgotten after every write

    def published(self) -> tuple:
        """The published version, its compiled rules and the workspace's date. Every write goes
        through this server, so they change only when it writes (`forget`); the scoring call
        must not pay three DuckDB queries to learn them again."""
        if self._published is None:
            ws = self.workspace
            self._published = (ws.published, ws.compiled, ws.as_of or dt.date.today())
        return self._published

    def forget(self) -> None:
        self._published = None

    def warm(self) -> None:
        """Compile (or load from the cache) the published kernels now, not on the first request."""
        if self.workspace.published is not None:
            compiled = self.workspace.compiled
            for outcomes in (False, True):  # scores, and the drawers of record pages
                compiled.warm(quietly=True, outcomes=outcomes)

    # -- reads
    def status(self, request) -> dict:
        return self.workspace.status().to_dict()

    def score(self, request) -> dict:
        ws = self.workspace
        explain = _flag(request.params, "explain")
        body = json_object(request.body, {"accounts": (list,), "leads": (list,)})
        version, compiled, day = self.published()
        schema = compiled.model.schema
        account_fields = schema.of_kind("account")
        accounts = records_table(body["accounts"], "accounts", schema) if "accounts" in body else None
        leads = records_table(body["leads"], "leads", schema, extra_fields=account_fields) if "leads" in body else None
        if accounts is None and leads is None:
            raise BadRequest("the body holds no records: give `accounts`, `leads` or both")
        inline = [] if leads is None else [f.name for f in account_fields if f.name in leads.column_names]
        given_accounts = set() if accounts is None else set(accounts.column(ACCOUNT_KEY).to_pylist())
        if inline and accounts is not None:
            raise BadRequest(f"leads carry account field `{inline[0]}` inline and `accounts` is given too: send "
                             "each lead's account one way", field=inline[0])
        if leads is not None and not inline:
            # A lead of an account neither in the body nor inline is scored with its stored account.
            wanted = {a for a in leads.column(ACCOUNT_KEY).to_pylist() if a is not None} - given_accounts
            if wanted:
                stored = ws.store.records("account", pa.array(sorted(wanted), pa.string()), schema, ordered=False)
                stored = stored.select([c for c in stored.column_names
                                        if c == ACCOUNT_KEY or schema.get(c) is not None and schema.get(c).kind == "account"])
                accounts = stored if accounts is None else pa.concat_tables([accounts, stored], promote_options="default")
        if inline:  # a flat lead table: each lead with its account's fields (an inbound lead may know no account id)
            owners = leads.column(ACCOUNT_KEY)
            unnamed = pc.is_null(owners)
            named = pc.if_else(unnamed, pc.binary_join_element_wise("\x00inline:", leads.column(LEAD_KEY), ""), owners)
            result = compiled.score(None, leads.set_column(leads.column_names.index(ACCOUNT_KEY), ACCOUNT_KEY, named),
                                    as_of=day, missing_columns="unknown")
        else:
            result = compiled.score(accounts, leads, as_of=day, missing_columns="unknown")
        out_accounts = [row for row in _rows(result.accounts) if row[ACCOUNT_KEY] in given_accounts]
        out_leads = _rows(result.leads) if leads is not None else []
        for row in out_leads:
            if row[ACCOUNT_KEY] is not None and row[ACCOUNT_KEY].startswith("\x00inline:"):
                row[ACCOUNT_KEY] = None  # an inline account without an id: none is made up in the reply
        if explain:
            for row in out_accounts:
                row["explanation"] = result.explain(account_id=row[ACCOUNT_KEY]).to_dict()
            for row in out_leads:
                row["explanation"] = result.explain(lead_id=row[LEAD_KEY]).to_dict()
        return {"as_of": day, "version": version.number, "accounts": out_accounts, "leads": out_leads}

    def _list(self, kind: str, params) -> dict:
        ws = self.workspace
        engagement = self.published()[1].model.engagement
        query = listing.parse(kind, params, tuple(engagement.stages) if engagement is not None else ())
        return listing.page(ws.store, query, self._members(kind, query))

    def _members(self, kind: str, query) -> pa.Array | None:
        """The ids an audience or stage filter lets through (None: no such filter)."""
        if query.audience is None and query.stage is None:
            return None
        ws, key = self.workspace, LEAD_KEY if kind == "lead" else ACCOUNT_KEY
        ids = None
        if query.audience is not None:
            if ws.compiled.model.audience(query.audience) is None:
                raise BadRequest(f"parameter `audience`: no audience {query.audience!r} in the published rules",
                                 field="audience")
            members = ws.audience(query.audience)
            ids = members.column(key).cast(pa.string()).unique() if key in members.column_names else \
                pa.nulls(0, pa.string())
        if query.stage is not None:
            result = ws.scored()
            table = result.leads if kind == "lead" else result.accounts
            if table is None or "stage" not in table.column_names:
                raise BadRequest(f"parameter `stage`: no signals are stored in {ws.path}", field="stage")
            staged = table.filter(pc.equal(table.column("stage").cast(pa.string()), query.stage)).column(key)
            staged = staged.cast(pa.string())
            ids = staged if ids is None else pa.array(sorted(set(ids.to_pylist()) & set(staged.to_pylist())),
                                                       pa.string())
        return ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids

    def list_leads(self, request) -> dict:
        return self._list("lead", request.params)

    def list_accounts(self, request) -> dict:
        return self._list("account", request.params)

    def _detail(self, kind: str, ident: str) -> dict:
        reply, explanation = self.detail(kind, ident)
        drawer = explanation.to_dict()
        return {**reply, "drawer": drawer, "engagement": drawer.get("engagement")}

    def detail(self, kind: str, ident: str) -> tuple[dict, object]:
        """A record's page: its fields, stored qualification and history, and its drawer (an
        `explain.Explanation`; the API sends it as a dict, the pages draw it)."""
        ws = self.workspace
        ident = _path_id(ident)
        # One read each, by the row the store's index keeps (one query joining the record, its
        # scores and history was slower than the three).
        record = ws.store.records(kind, pa.array([ident], pa.string()))
        if not record.num_rows:
            raise BadRequest(f"no {kind} with id {ident!r}", status=404)
        return ({"kind": kind, "id": ident, "fields": record.to_pylist()[0],
                 "qualification": ws.store.scores_of(kind, ident),
                 # (`record_history` less its check that the record exists: read just above)
                 "history": ws.store.history(kind, ident).to_pylist()},
                ws.explain(**{kind: ident}, stored=record))  # the drawer reads the record read here

    def lead(self, request) -> dict:
        return self._detail("lead", request.path_params["id"])

    def account(self, request) -> dict:
        return self._detail("account", request.path_params["id"])

    def audiences(self, request) -> dict:
        return {"audiences": [{"code": a.code, "name": a.name} for a in self.workspace.compiled.model.audiences]}

    def audience(self, request) -> dict:
        ws, name = self.workspace, request.path_params["name"]
        declared = ws.compiled.model.audience(name)
        if declared is None:
            raise BadRequest(f"no audience {_path_id(name)!r} in the published rules", status=404)
        kind = "lead" if ws.store.count("lead") else "account"
        params = {k: request.params[k] for k in request.params}
        query = listing.parse(kind, _Params({**params, "audience": name}))
        members = self._members(kind, query)
        return {"code": declared.code, "name": declared.name, "members": len(members),
                "composition": ws.composition(name).to_pylist(), "page": listing.page(ws.store, query, members)}

    # -- the CLI's reads while this server holds the workspace (service/client.py)
    def versions(self, request) -> dict:
        return {"versions": [_version(v, text=True) for v in self.workspace.versions()]}

    def explain(self, request) -> dict:
        params = request.params
        return self.workspace.explain(params.get("lead"), params.get("account"),
                                      tuple(params.getlist("preview"))).to_dict()

    def history(self, request) -> pa.Table:
        return self.workspace.record_history(request.params.get("kind", ""), request.params.get("id", ""))

    def members(self, request) -> pa.Table:
        return self.workspace.audience(request.params.get("audience", ""))

    def export(self, request) -> pa.Table:
        extras = tuple(w for w in request.params.get("with", "").split(",") if w)
        return self.workspace.export(request.params.get("kind", ""), extras)

    def records(self, request) -> pa.Table:
        return self.workspace.store.records(_record_kind(request.params),
                                            schema=wire.schema_of(request.params.get("fields")))

    def scores(self, request) -> pa.Table:
        return self.workspace.store.scores(_record_kind(request.params))

    def signals(self, request) -> pa.Table:
        return self.workspace.store.signals()

    def outcomes(self, request) -> pa.Table:
        return self.workspace.store.outcomes()

    # -- writes
    def ingest(self, request) -> dict:
        ws = self.workspace
        schema = ws.compiled.model.schema
        tables: dict[str, pa.Table] = {}
        if request.content_type == "text/csv":
            section = request.params.get("section")
            if section not in (*RECORD_KINDS, *EVENT_SECTIONS):
                raise BadRequest("a CSV body needs ?section=accounts|leads|signals|outcomes", field="section")
            tables[section] = csv_table(request.body, section, schema)
        else:
            if "section" in request.params:
                raise BadRequest("parameter `section` is for CSV bodies (Content-Type: text/csv)", field="section")
            body = json_object(request.body, {s: (list,) for s in (*RECORD_KINDS, *EVENT_SECTIONS)})
            for section, rows in body.items():
                tables[section] = (records_table(rows, section, schema, same_fields=True) if section in RECORD_KINDS
                                   else event_rows(rows, section))
        if not tables:
            raise BadRequest("the body holds nothing to ingest: give accounts, leads, signals or outcomes")
        account_ids = tables["accounts"].column(ACCOUNT_KEY).to_pylist() if "accounts" in tables else []
        lead_ids = tables["leads"].column(LEAD_KEY).to_pylist() if "leads" in tables else []
        records = bool(account_ids or lead_ids)
        # The records read for the snapshot before are those the ingest re-scores (less its own
        # changes): it takes them from here, not from a second read.
        before, read = moves.snapshot_touched(ws, account_ids, lead_ids) if records else ({}, {})
        rescored = []  # the scoring of what the ingest re-scored: the records whose values changed, their leads
        report = ws.ingest(accounts=tables.get("accounts"), leads=tables.get("leads"),
                           signals=tables.get("signals"), outcomes=tables.get("outcomes"),
                           on_rescored=lambda *scored: rescored.append(scored), read_before=read)
        # A record the ingest left as it was has not moved: what moved is among those re-scored.
        after = moves.snapshot_of(ws, *rescored[0]) if rescored else {}
        return {"report": _report(report), "summary": str(report), "moved": moves.moves(before, after)}

    def requalify(self, request) -> dict:
        ws = self.workspace
        body = json_object(request.body, {"leads": (list,), "accounts": (list,), "audience": (str,), "where": (str,)})
        ids = {}
        for section in ("leads", "accounts"):
            ids[section] = []
            for i, value in enumerate(body.get(section, [])):
                try:
                    ids[section].append(record_id(value, f"`{section}[{i}]`"))
                except BadRequest as exc:
                    raise BadRequest(exc.message, field=section, record=f"{section}[{i}]") from None
        if not any(body.get(k) for k in ("leads", "accounts", "audience", "where")):
            raise BadRequest("say what to re-qualify: leads, accounts, audience or where")
        touched = moves.touched_leads(ws, ids["accounts"], ids["leads"]) if ids["accounts"] or ids["leads"] else []
        before = moves.snapshot(ws, ids["accounts"], touched)
        report = ws.requalify(leads=ids["leads"], accounts=ids["accounts"], audience=body.get("audience"),
                              where=body.get("where"))
        after = moves.snapshot(ws, ids["accounts"], touched)
        return {"report": _report(report), "summary": str(report), "moved": moves.moves(before, after)}

    def publish(self, request) -> dict:
        body = json_object(request.body, {"rules": (str,), "message": (str,), "dry_run": (bool,), "as_of": (str,)},
                           required=("rules",))
        # Rule text, never a path: a line break makes `pipeline.sources_of` read it as text (a
        # client must not make the server read its own files).
        text = body["rules"] if body["rules"].endswith("\n") else body["rules"] + "\n"
        report = self.workspace.publish(text, message=body.get("message", ""), as_of=_date(body.get("as_of"), "as_of"),
                                        dry_run=body.get("dry_run", False))
        return {"published": _version(report.version), "previous": _version(report.previous),
                "as_of": report.as_of, "unchanged": report.unchanged, "summary": str(report),
                "diff": _diff(report.diff), "scores": None if report.scores is None else _report(report.scores)}

    def refresh(self, request) -> dict:
        body = json_object(request.body, {"as_of": (str,)}) if request.body.strip() else {}
        report = self.workspace.refresh(_date(body.get("as_of"), "as_of"))
        return {"as_of": self.workspace.as_of, "report": _report(report), "summary": str(report)}


class _Params(dict):
    """Query parameters as `listing.parse` reads them, from a plain dict."""

    def getlist(self, name: str) -> list:
        return [self[name]] if name in self else []


def _path_id(value: str) -> str:
    try:
        return record_id(value, "the id in the path")
    except BadRequest as exc:
        raise BadRequest(exc.message, field="id") from None


@attrs.frozen
class Call:
    """What a Service method reads of a request (read on the event loop; the work runs in a thread)."""

    params: object
    path_params: dict
    body: bytes
    content_type: str


# ---- the app -----------------------------------------------------------------------------------


def _content_type(request: Request, endpoint: Endpoint) -> str:
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    allowed = ("application/json", "text/csv") if endpoint.handler == "ingest" else ("application/json",)
    if media not in allowed:
        raise BadRequest(f"Content-Type {media!r}: send {' or '.join(allowed)}", status=415)
    return media


def create_app(workspace: Workspace, token: str, open_reads: bool = True, max_body: int = DEFAULT_MAX_BODY,
               service: Service | None = None) -> Starlette:
    """The ASGI app over an open workspace. `token` is needed by every write (and by every
    request when `open_reads` is false: a server on an address other than loopback)."""
    if not token:
        raise ValueError("a server needs a token for its writes")
    service = service or Service(workspace)
    expected = token.encode("utf-8")

    def authorize(request: Request, endpoint: Endpoint) -> None:
        if not endpoint.writes and open_reads:
            return
        bearer(request)

    def bearer(request: Request) -> None:
        given = request.headers.get("authorization", "")
        if not given:
            raise BadRequest("this endpoint needs the server's token: Authorization: Bearer TOKEN", status=401)
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode("utf-8"), expected):
            raise BadRequest("wrong token", status=403)

    def route(endpoint: Endpoint) -> Route:
        method = getattr(service, endpoint.handler)

        async def handle(request: Request) -> Response:
            authorize(request, endpoint)
            if endpoint.params and endpoint.handler not in _CHECKS_ITS_PARAMS:
                for name in request.query_params:
                    if name not in endpoint.params:
                        raise BadRequest(f"unknown parameter `{name}`; expected {', '.join(endpoint.params)}",
                                         field=name)
            elif not endpoint.params and request.query_params:
                name = next(iter(request.query_params))
                raise BadRequest(f"unknown parameter `{name}`; {endpoint.path} takes none", field=name)
            body, media = b"", ""
            if endpoint.method == "POST":
                media = _content_type(request, endpoint)
                body = await read_body(request, max_body)
            call = Call(request.query_params, dict(request.path_params), body, media)

            def locked():
                with service.lock:
                    try:
                        return method(call)
                    finally:
                        if endpoint.writes:
                            service.forget()

            answer = await run_in_threadpool(locked)
            return ArrowStream(answer) if endpoint.arrow else JSON(answer)

        return Route(endpoint.path, handle, methods=[endpoint.method])

    async def schema(request: Request) -> Response:
        return JSON(openapi())

    async def refused(request: Request, exc: BadRequest) -> Response:
        return JSON(exc.to_dict(), status_code=exc.status)

    async def data_error(request: Request, exc: DataError | ScoringError) -> Response:
        return JSON({"error": str(exc)}, status_code=400)

    async def rule_error(request: Request, exc: RuleError) -> Response:
        return JSON({"error": "the rules do not check", "diagnostics": [d.to_dict() for d in exc.diagnostics],
                     "text": str(exc)}, status_code=400)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return JSON({"error": exc.detail}, status_code=exc.status_code)

    async def internal(request: Request, exc: Exception) -> Response:
        LOG.exception("internal error on %s %s", request.method, request.url.path)
        return JSON({"error": "internal error"}, status_code=500)

    pages = Pages(service, token, open_reads, max_body)

    def authorize_page_read(request: Request) -> None:
        """The pages' own reads: as the API's (the token off loopback), or the signed-in browser."""
        if not (open_reads or pages.signed_in(request)):
            bearer(request)

    routes = [Route("/api/openapi.json", schema, methods=["GET"]), *(route(e) for e in ENDPOINTS),
              *web.routes(service, max_body, authorize_page_read), *pages.routes()]
    app = Starlette(routes=routes, exception_handlers={BadRequest: refused, DataError: data_error, ScoringError: data_error,
                                                        RuleError: rule_error, HTTPException: http_error,
                                                        Exception: internal})
    app.state.service = service
    return app


def run(path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: str | None = None,
        max_body: int = DEFAULT_MAX_BODY, say=print, in_memory: bool = True) -> None:
    """Serve the workspace at `path` until stopped (SIGINT / SIGTERM). Without `token` a random
    one is made, said once, and kept in `W.token` (0600) while serving. `in_memory`: keep the
    workspace's tables in memory (`Store.keep_in_memory`)."""
    import uvicorn

    from .service.holder import holding, make_token

    if not is_loopback(host) and not token:
        raise DataError(f"--host {host} is not loopback: anyone who can reach it could read the workspace; give "
                        "--token (or UNSTUCK_TOKEN) to bind there")
    if not Path(path).is_file():  # a mistyped --db must not start a server over a new, empty workspace
        raise DataError(f"{path}: no such workspace; make one with `unstuck ingest` or `unstuck publish`")
    made = None
    if not token:
        token = made = make_token()
    workspace = Workspace(path)
    try:
        service = Service(workspace, in_memory)
        service.warm()
        app = create_app(workspace, token, open_reads=is_loopback(host), max_body=max_body, service=service)
        listening = _listen(host, port)  # bound here, so a taken port is one clear line, and --port 0 works
        port = listening.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, lifespan="off")
        server = uvicorn.Server(config)
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        with holding(path, url, made):
            say(f"serving {path} at {url} (Ctrl-C stops)")
            if made is not None:
                say(f"write token (also in {path}.token while serving, mode 0600): {made}")
            say(f"open the workspace in a browser: {url}/?token={made}" if made is not None else
                f"open the workspace in a browser: {url}/ (sign in with the token to re-qualify and publish)")
            # uvicorn stops on SIGTERM, then raises it again with the handler it found: let that
            # handler be an exit that unwinds this block (the files beside the workspace are removed).
            signal.signal(signal.SIGTERM, _exit_quietly)
            server.run(sockets=[listening])
    finally:
        workspace.close()


def _exit_quietly(signum, frame) -> None:
    raise SystemExit(0)


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket. Made with proto=IPPROTO_TCP, and with TCP_NODELAY (which accepted
    connections inherit): asyncio turns Nagle's algorithm off only on sockets that say they are
    TCP, and uvicorn writes a response's head and body apart, so with Nagle on every reply
    waited for the client's delayed ACK (40 ms on Linux)."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            listening.bind(address)
            listening.listen(2048)
        except OSError:
            listening.close()
            raise
        return listening
    except OSError as exc:
        raise DataError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (another server there? choose "
                        "another --port)") from None
