"""The workspace's pages, rendered on the server from Jinja2 templates (autoescaped: every record
value is text, in elements, attributes and SVG alike).

Every figure a page shows comes from the code the JSON API runs: the lists from the API's list handlers
(`listing`), a record from `Service.detail` (fields, stored qualification, history and the
`Explanation` the drawer draws with `explain.drawer_rows`), an audience from `Service.audience`
and `render.composition_groups` (what `unstuck audience --composition` prints), the tree, search
and insights from `endpoints`, a rule change from `Workspace.publish`. A page's view is its URL
(filters, sort, cursor, the drawer that is open), so it can be bookmarked and works without
JavaScript; the three small scripts in static/ only open and close the drawer, check a draft as
it is typed (`POST /api/check`) and tick every row.

Reads are GETs and change nothing. Writes (re-qualify, bulk re-qualify, preview and publish a
rule change) are form POSTs that need the session cookie and its CSRF token (`session`); each
answers with a redirect to the page to look at next (the outcome said once there)."""

from __future__ import annotations

import io
import json
import urllib.parse

import jinja2
import pyarrow as pa
import pyarrow.csv as pcsv
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import explain
from ..data import DataError
from ..diagnostics import RuleError
from ..output import csv_table
from ..render import composition_groups
from ..schema import ACCOUNT_KEY, BAND_LEVELS, LEAD_KEY
from ..service import listing
from ..service.bodies import BadRequest, read_body
from . import DIRECTORY, endpoints, views
from .session import COOKIE, CSRF_FIELD, Sessions

TEMPLATES, STATIC = DIRECTORY / "templates", DIRECTORY / "static"
LISTS = {"leads": "lead", "accounts": "account"}  # URL segment -> record kind
KEYS = {"lead": LEAD_KEY, "account": ACCOUNT_KEY}
LIST_COLUMNS = {"lead": ("title", "account_id", "icp_code", "icp_score", "icp_band", "persona_code", "persona_score",
                         "persona_band", "engagement_score", "stage"),
                "account": ("name", "icp_code", "icp_score", "icp_band")}
LABELS = {"title": "Title", "name": "Name", "account_id": "Account", "icp_code": "ICP", "icp_score": "ICP score",
          "icp_band": "ICP band", "persona_code": "Persona", "persona_score": "Persona score",
          "persona_band": "Persona band", "engagement_score": "Engagement", "stage": "Stage"}
PAGE_ONLY = ("q", "back")  # list parameters of the pages, not of `listing`
FIRST_PAGE = "~"  # in `back`, the first page (which has no cursor)
CSV_PAGE = listing.MAX_LIMIT
MEMBERS_SHOWN = 50
FORM_TYPE = "application/x-www-form-urlencoded"
HEADERS = {"Content-Security-Policy": endpoints.CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
NAV = (("leads", "Leads"), ("accounts", "Accounts"), ("tree", "Qualification"), ("audiences", "Audiences"),
       ("insights", "Insights"), ("rules", "Rules"))


def _call(params=None, body: dict | None = None, **path_params):
    """A `serve.Call`, as the API's handlers read a request, for the pages' use of them."""
    from ..serve import Call  # serve imports this package to mount it

    return Call(params if params is not None else QueryParams(), path_params,
                b"" if body is None else json.dumps(body).encode("utf-8"), "application/json" if body else "")


def _safe_next(target: str | None, default: str) -> str:
    """A same-site path to go to after a write (never another host: `//x`, `/\\x`, `http:`)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    return target


def _query(pairs) -> str:
    pairs = [(k, v) for k, v in pairs if v not in (None, "")]
    return "?" + urllib.parse.urlencode(pairs) if pairs else ""


class Pages:
    """The page routes over the serve app's `Service` (its workspace, its lock)."""

    def __init__(self, service, token: str, open_reads: bool, max_body: int):
        self.service = service
        self.sessions = Sessions.for_token(token)
        self.open_reads = open_reads
        self.max_body = max_body
        self.notes: dict[str, str] = {}  # session id -> what the last write did, said on the next page
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["stage"] = views.stage_label
        self.env.filters["percent"] = views.percent
        self.env.filters["count"] = lambda n: "—" if n is None else f"{n:,}"
        self.env.filters["shown"] = _shown

    # -- rendering
    def _render(self, request, template: str, context: dict, session: str | None, status: int = 200) -> Response:
        note = self.notes.pop(session, None) if session else None
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        html = self.env.get_template(template).render(
            **context, signed_in=session is not None, csrf=self.sessions.csrf(session) if session else "",
            csrf_field=CSRF_FIELD, note=note, here=here, nav=NAV)
        return HTMLResponse(html, status_code=status, headers=HEADERS)

    def _refusal(self, request, message: str, status: int, session: str | None) -> Response:
        return self._render(request, "error.html", {"page": "", "header": None, "message": message, "status": status},
                            session, status)

    def _session(self, request) -> str | None:
        return self.sessions.session_of(request.cookies.get(COOKIE))

    def signed_in(self, request) -> bool:
        return self._session(request) is not None

    def _unread(self, request) -> Response | None:
        """The refusal of a read without the session, on a server whose reads need the token."""
        if self.open_reads or self.signed_in(request):
            return None
        return self._refusal(request, "this server's pages need its token: sign in", 401, None)

    async def _locked(self, work, writes: bool = False):
        def run():
            with self.service.lock:
                try:
                    return work(self.service.workspace)
                finally:
                    if writes:
                        self.service.forget()

        return await run_in_threadpool(run)

    def _header(self, ws) -> dict:
        if ws.published is None:  # the Rules page publishes the first version
            return {"version": None, "as_of": ws.as_of}
        version, _, day = self.service.published()
        return {"version": version.number if version is not None else None, "as_of": day}

    def read(self, template: str, work):
        """A GET page: `work(ws, request)` gives the template's context, under the lock."""

        async def handle(request):
            session = self._session(request)
            if (refused := self._unread(request)) is not None:
                return refused
            try:
                context = await self._locked(lambda ws: {**work(ws, request), "header": self._header(ws)})
            except BadRequest as exc:
                return self._refusal(request, exc.message, exc.status, session)
            except DataError as exc:
                return self._refusal(request, str(exc), 400, session)
            return self._render(request, template, context, session)

        return handle

    def write(self, work):
        """A form POST: refused (401 / 403, nothing done) without the session and its CSRF token;
        `work(ws, form)` does the write under the lock and says what it did; then a redirect."""

        async def handle(request):
            session = self._session(request)
            try:
                form = await self._checked_form(request, session)
                said, target = await self._locked(lambda ws: work(ws, form), writes=True)
            except BadRequest as exc:
                return self._refusal(request, exc.message, exc.status, session)
            except DataError as exc:
                return self._refusal(request, str(exc), 400, session)
            self.notes[session] = said
            return RedirectResponse(target, status_code=303, headers=HEADERS)

        return handle

    async def _checked_form(self, request, session: str | None) -> dict[str, list[str]]:
        """The form of a POST that acts for a session: refused without the session (401) or
        without its CSRF token (403)."""
        form = await self._form(request)
        if session is None:
            raise BadRequest("writing needs the server's token: sign in (the address the server printed at start, "
                             "or the sign-in form)", status=401)
        if not self.sessions.csrf_matches(session, form.get(CSRF_FIELD, [""])[0]):
            raise BadRequest("this form's CSRF token is missing or not this session's: reload the page and try again",
                             status=403)
        return form

    async def _form(self, request) -> dict[str, list[str]]:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != FORM_TYPE:
            raise BadRequest(f"Content-Type {media!r}: the pages' forms send {FORM_TYPE}", status=415)
        body = await read_body(request, self.max_body)
        try:
            return urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise BadRequest("the form is not UTF-8 text") from None

    # -- signing in
    async def index(self, request):
        given = request.query_params.get("token")
        if given is None:
            return RedirectResponse("/leads", status_code=303, headers=HEADERS)
        return self._sign_in(request, given, "/leads")

    async def login(self, request):
        try:
            form = await self._form(request)
        except BadRequest as exc:
            return self._refusal(request, exc.message, exc.status, None)
        return self._sign_in(request, form.get("token", [""])[0], _safe_next(form.get("next", [""])[0], "/leads"))

    def _sign_in(self, request, given: str, target: str) -> Response:
        if not self.sessions.token_matches(given):
            return self._refusal(request, "wrong token", 403, None)
        response = RedirectResponse(target, status_code=303, headers=HEADERS)  # the token leaves the address bar
        self.sessions.set_cookie(response, self.sessions.new_cookie())
        return response

    # -- pages
    def records(self, ws, request) -> dict:
        segment = request.url.path.strip("/")
        kind = LISTS[segment]
        params = request.query_params
        listed = QueryParams([(k, v) for k, v in params.multi_items() if k not in PAGE_ONLY and v != ""])
        page = self._list(segment, listed)
        rows = _with_record_columns(ws, kind, page["items"])
        described = endpoints.describe(ws)
        search = endpoints.search(ws, kind, params["q"].strip())["items"] if params.get("q", "").strip() else None
        view = [(k, v) for k, v in listed.multi_items() if k != "cursor"]
        here = f"/{segment}"
        pager = _pager(here, view, params, page["next"], int(listed.get("limit", listing.DEFAULT_LIMIT)))
        sort = listed.get("sort", "-" + listing.SORTS[kind][0])
        shown = [c for c in LIST_COLUMNS[kind] if any(c in r for r in rows)] if rows else \
            [c for c in LIST_COLUMNS[kind] if c not in ("engagement_score", "stage")]
        sorts = {}
        for column in listing.SORTS[kind]:
            state = "descending" if sort == f"-{column}" else "ascending" if sort == column else None
            sorts[column] = {"state": state, "href": here + _query([*[(k, v) for k, v in view if k != "sort"],
                                                            ("sort", column if state == "descending" else f"-{column}")])}
        return {"page": segment, "kind": kind, "key": KEYS[kind], "rows": rows, "columns": shown, "labels": LABELS,
                "sorts": sorts, "sort": sort, "sort_choices": [s for c in listing.SORTS[kind] for s in (f"-{c}", c)],
                "view": dict(view), "described": described, "bands": BAND_LEVELS, "search": search,
                "q": params.get("q", ""), **pager, "csv": f"/{segment}.csv" + _query(view)}

    async def records_csv(self, request):
        """Every row of a list's view as CSV, page by page as the list reads them (the lock is
        taken per page, so a long download does not stop other requests)."""
        segment = request.url.path.strip("/").removesuffix(".csv")
        if (refused := self._unread(request)) is not None:
            return refused
        listed = [(k, v) for k, v in request.query_params.multi_items()
                  if k not in (*PAGE_ONLY, "cursor", "limit") and v != ""]
        try:
            first = await self._locked(lambda ws: self._list(segment, QueryParams([*listed, ("limit", str(CSV_PAGE))])))
        except BadRequest as exc:
            return self._refusal(request, exc.message, exc.status, self._session(request))
        except DataError as exc:
            return self._refusal(request, str(exc), 400, self._session(request))

        async def chunks():
            page, header = first, True
            while True:
                yield _csv(page["items"], header)
                header = False
                if not page["next"]:
                    return
                params = QueryParams([*listed, ("limit", str(CSV_PAGE)), ("cursor", page["next"])])
                page = await self._locked(lambda ws, params=params: self._list(segment, params))

        return StreamingResponse(chunks(), media_type="text/csv; charset=utf-8",
                                 headers={**HEADERS, "Content-Disposition": f'attachment; filename="{segment}.csv"'})

    def _list(self, segment: str, params: QueryParams) -> dict:
        """A page of a list, as `GET /api/leads` or `/api/accounts` answers it."""
        return getattr(self.service, f"list_{segment}")(_call(params))

    def record(self, ws, request) -> dict:
        segment = request.url.path.strip("/").split("/")[0]
        kind = LISTS[segment]
        reply, explanation = self.service.detail(kind, request.path_params["id"])
        drawer = request.query_params.get("drawer")
        if drawer not in (None, "icp", "persona"):
            raise BadRequest(f"parameter `drawer`: {drawer!r}; choose icp or persona", field="drawer")
        drawers = [_drawer(explanation, "icp")]
        if kind == "lead":
            drawers.append(_drawer(explanation, "persona"))
        fields = reply["fields"]
        history = reply["history"]
        return {"page": segment, "kind": kind, "id": reply["id"], "fields": fields,
                "title": fields.get("title") or fields.get("name") or "", "q": reply["qualification"] or {},
                "explanation": explanation, "drawers": drawers, "open_drawer": drawer,
                "engagement": explanation.engagement, "history": history,
                "history_columns": list(dict.fromkeys(k for row in history for k in row))}

    def tree(self, ws, request) -> dict:
        described = endpoints.describe(ws)
        counts = endpoints.qualification(ws)
        code = request.query_params.get("preview")
        preview = endpoints.draft_preview(ws, code) if code else None
        nodes = []
        for icp in described["icps"]:
            node = {"code": icp["code"], "name": icp["name"], "status": icp["status"], "personas": [], "preview": None}
            if icp["status"] == "live":
                node["bands"] = _bands(r for r in counts["accounts"] if r["icp_code"] == icp["code"])
                leads = [r for r in counts["leads"] if r["icp_code"] == icp["code"]]
                for persona in icp["personas"]:
                    node["personas"].append({"code": persona["code"], "name": persona["name"],
                                             "bands": _bands(r for r in leads if r["persona_code"] == persona["code"])})
                node["no_fit"] = _bands(r for r in leads if r["persona_code"] in ("no_persona_fit", None))
            else:
                node["personas"] = [{"code": p["code"], "name": p["name"], "bands": None} for p in icp["personas"]]
                if preview is not None and preview["code"] == icp["code"]:
                    node["preview"] = {**preview, "bands": _bands({"band": b["band"], "count": b["count"]}
                                                                   for b in preview["bands"])}
            nodes.append(node)
        unassigned = sum(r["count"] for r in counts["accounts"] if r["icp_code"] is None)
        return {"page": "tree", "nodes": nodes, "unassigned": unassigned, "bands": BAND_LEVELS}

    def audiences(self, ws, request) -> dict:
        described = endpoints.describe(ws)
        name = request.path_params.get("name")
        listed = []
        for audience in described["audiences"]:
            try:  # one audience that cannot be counted yet (it reads engagement, no signals) says why
                reply = self.service.audience(_call(QueryParams({"limit": "1"}), name=audience["code"]))
                listed.append({**audience, "members": reply["members"], "problem": None})
            except DataError as exc:
                listed.append({**audience, "members": None, "problem": str(exc)})
        if name is None:
            return {"page": "audiences", "audiences": listed, "open": None}
        params = request.query_params
        paging = [(k, v) for k, v in params.multi_items() if k == "cursor" and v]
        reply = self.service.audience(_call(QueryParams([("limit", str(MEMBERS_SHOWN)), *paging]), name=name))
        groups = composition_groups(ws.audience(name))
        for group in groups:
            group["charts"] = [views.histogram(bins, field, f"{field} of {group['label']}")
                               for field, bins in group["histograms"].items()]
        items = reply["page"]["items"]
        pager = _pager(f"/audiences/{urllib.parse.quote(name, safe='')}", [], params, reply["page"]["next"],
                       MEMBERS_SHOWN)
        kind = "lead" if items and LEAD_KEY in items[0] else "account"
        columns = [c for c in ("lead_id", "account_id", "icp_code", "icp_score", "persona_code", "persona_score")
                   if items and c in items[0]]
        return {"page": "audiences", "audiences": listed,
                "open": {"code": reply["code"], "name": reply["name"], "members": reply["members"], "groups": groups,
                         "items": items, "columns": columns, "kind": kind, **pager}}

    async def audience_csv(self, request):
        name = request.path_params["name"]
        if (refused := self._unread(request)) is not None:
            return refused

        def members(ws):
            if ws.published is None or ws.compiled.model.audience(name) is None:
                raise BadRequest(f"no audience {name!r} in the published rules", status=404)
            return ws.audience(name)

        try:
            table = await self._locked(members)
        except BadRequest as exc:
            return self._refusal(request, exc.message, exc.status, self._session(request))
        except DataError as exc:
            return self._refusal(request, str(exc), 400, self._session(request))
        return StreamingResponse(_csv_chunks(csv_table(table)), media_type="text/csv; charset=utf-8",
                                 headers={**HEADERS, "Content-Disposition": f'attachment; filename="{_file_name(name)}.csv"'})

    def insights(self, ws, request) -> dict:
        denominator = request.query_params.get("denominator", "scored")
        report = endpoints.insight_report(ws, denominator)
        groups = []
        for group in (report["overall"], *report["groups"]):
            jump = group["reply_jump"]
            groups.append({**group, "chart": views.rate_chart(group["by_bin"], "replied", jump["threshold"],
                                                              f"Reply rate by {group['score']} for {group['group']}")})
        return {"page": "insights", "report": report, "head": report["headline"], "groups": groups,
                "rates": views.RATES, "other": "scored" if report["headline"]["denominator"] == "contacted" else "contacted"}

    def rules(self, ws, request, draft: str | None = None) -> dict:
        described = endpoints.describe(ws)
        text = described["text"]
        draft = text if draft is None else draft
        return {"page": "rules", "version": described["version"], "tokens": views.highlight(text),
                "draft": draft, "diagnostics": endpoints.check(json.dumps({"rules": draft}).encode())["diagnostics"],
                "diff": None}

    # -- writes
    def requalify(self, ws, form) -> tuple[str, str]:
        kind = form.get("kind", [""])[0]
        if kind not in KEYS:
            raise BadRequest(f"field `kind`: {kind!r}; choose lead or account", field="kind")
        ids = [i for i in form.get("id", []) if i]
        if not ids:
            raise BadRequest("tick the records to re-qualify first", field="id")
        reply = self.service.requalify(_call(body={f"{kind}s": ids}))
        moved = len(reply["moved"])
        said = (f"Re-qualified {len(ids)} {kind}{'s' if len(ids) != 1 else ''}: {reply['summary']} "
                f"({moved} record{'s' if moved != 1 else ''} moved)")
        return said, _safe_next(form.get("next", [""])[0], "/leads")

    async def preview(self, request):
        """The rules page again, with what the draft would move (a dry run: nothing is applied)."""
        session = self._session(request)
        try:
            draft = _rule_text(await self._checked_form(request, session))

            def work(ws):
                context = self.rules(ws, request, draft=draft)
                if not any(d["severity"] == "error" for d in context["diagnostics"]):
                    report = ws.publish(draft, dry_run=True)
                    version = ws.published.number if ws.published is not None else None
                    context["diff"] = {"summary": f"The draft against version {version} over the stored records: "
                                       "nothing is applied until you publish.", "report": report.diff}
                return {**context, "header": self._header(ws)}

            context = await self._locked(work)
        except BadRequest as exc:
            return self._refusal(request, exc.message, exc.status, session)
        except (DataError, RuleError) as exc:
            return self._refusal(request, str(exc), 400, session)
        return self._render(request, "rules.html", context, session)

    def publish(self, ws, form) -> tuple[str, str]:
        draft = _rule_text(form)
        try:
            report = ws.publish(draft, message=form.get("message", [""])[0])
        except RuleError as exc:
            raise BadRequest(f"the rules do not check: {exc}") from None
        return f"Published: {report}", "/rules"

    def routes(self) -> list:
        return [
            Route("/", self.index, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/leads", self.read("records.html", self.records), methods=["GET"]),
            Route("/accounts", self.read("records.html", self.records), methods=["GET"]),
            Route("/leads.csv", self.records_csv, methods=["GET"]),
            Route("/accounts.csv", self.records_csv, methods=["GET"]),
            Route("/leads/{id:path}", self.read("record.html", self.record), methods=["GET"]),
            Route("/accounts/{id:path}", self.read("record.html", self.record), methods=["GET"]),
            Route("/tree", self.read("tree.html", self.tree), methods=["GET"]),
            Route("/audiences", self.read("audiences.html", self.audiences), methods=["GET"]),
            Route("/audiences/{name}/members.csv", self.audience_csv, methods=["GET"]),
            Route("/audiences/{name}", self.read("audiences.html", self.audiences), methods=["GET"]),
            Route("/insights", self.read("insights.html", self.insights), methods=["GET"]),
            Route("/rules", self.read("rules.html", self.rules), methods=["GET"]),
            Route("/rules/preview", self.preview, methods=["POST"]),
            Route("/rules/publish", self.write(self.publish), methods=["POST"]),
            Route("/requalify", self.write(self.requalify), methods=["POST"]),
            Mount("/static", Assets(directory=STATIC)),
        ]


class Assets(StaticFiles):
    """The pages' script, style and icon files, with the pages' security headers."""

    async def get_response(self, path: str, scope) -> Response:
        response = await super().get_response(path, scope)
        for name, value in HEADERS.items():
            if name != "Cache-Control":
                response.headers[name] = value
        return response


def _pager(here: str, view: list, params, following: str | None, size: int) -> dict:
    """Next and Previous for a cursor-paged view: `back` carries the cursors of the pages before
    (FIRST_PAGE for the first), so paging back needs nothing kept on the server."""
    trail = [c for c in params.get("back", "").split(".") if c]
    ahead = None
    if following:
        ahead = here + _query([*view, ("cursor", following), ("back", ".".join([*trail, params.get("cursor") or FIRST_PAGE]))])
    behind = None
    if trail:
        behind = here + _query([*view, ("cursor", None if trail[-1] == FIRST_PAGE else trail[-1]),
                                ("back", ".".join(trail[:-1]))])
    return {"next": ahead, "previous": behind, "first_row": len(trail) * size + 1}


def _shown(value) -> str:
    """A value as the terminal tables show it: unknown is "—", a set its members joined."""
    if value is None or value == "":
        return "—"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "; ".join(map(str, sorted(value) if isinstance(value, (set, frozenset)) else value)) or "none"
    return str(value)


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "members"


def _rule_text(form) -> str:
    """The draft from a form: browsers send a textarea's lines with CRLF; rule text, never a path
    (a line break makes the pipeline read it as text, so a page cannot make the server read files)."""
    text = form.get("rules", [""])[0].replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise BadRequest("the draft is empty", field="rules")
    return text if text.endswith("\n") else text + "\n"


def _bands(rows) -> dict:
    """Records per band, and their total: {"count", "bands": [(band, count)]}."""
    per = dict.fromkeys(BAND_LEVELS, 0)
    for row in rows:
        if row["band"] in per:
            per[row["band"]] += row["count"]
        else:
            per.setdefault(None, 0)
            per[None] += row["count"]
    return {"count": sum(per.values()), "bands": [(b, per[b]) for b in BAND_LEVELS]}


def _drawer(explanation, kind: str) -> dict:
    """A score's drawer: the assigned ICP (or Persona) as the seed's table, then every other one
    with why it lost; each with `explain.drawer_rows` and its normalization sentence."""
    breakdowns = explanation.icps if kind == "icp" else explanation.personas
    code = explanation.icp_code if kind == "icp" else explanation.persona_code
    assigned = next((b for b in breakdowns if b.code == code and b.qualifies), None)
    blocks = [{"b": b, "rows": explain.drawer_rows(b), "assigned": b is assigned} for b in breakdowns]
    blocks.sort(key=lambda block: not block["assigned"])
    return {"kind": kind, "word": "ICP" if kind == "icp" else "Persona", "assigned": assigned, "blocks": blocks,
            "score": explanation.icp_score if kind == "icp" else explanation.persona_score}


def _with_record_columns(ws, kind: str, items: list[dict]) -> list[dict]:
    """A list page's rows with the record's title (leads) or name (accounts), and a lead's
    engagement score and stage, for the page's ids only."""
    if not items:
        return items
    key = KEYS[kind]
    ids = pa.array([row[key] for row in items], pa.string())
    compiled = ws.compiled
    schema = compiled.model.schema
    records = ws.store.records(kind, ids, schema)
    words = "title" if kind == "lead" else "name"
    named = dict(zip(records.column(key).to_pylist(), records.column(words).to_pylist())) \
        if words in records.column_names else {}
    engaged = {}
    # Engagement as the stage filter and the drawer count it: from the stored signals, when there are any.
    if kind == "lead" and compiled.model.engagement is not None and ws.store.event_counts()["signals"]:
        owners = records.column(ACCOUNT_KEY).drop_null().unique().cast(pa.string())
        owners = owners.combine_chunks() if isinstance(owners, pa.ChunkedArray) else owners
        accounts = ws.store.records("account", owners, schema)
        result = compiled.score(accounts, records, as_of=ws.as_of, missing_columns="unknown")
        signals = ws.store.signals_of(accounts.column(ACCOUNT_KEY), records.column(LEAD_KEY))
        result.score_engagement(signals)
        table = result.leads
        if table is not None and "stage" in table.column_names:
            engaged = {i: (score, stage) for i, score, stage in zip(table.column(LEAD_KEY).to_pylist(),
                                                                    table.column("engagement_score").to_pylist(),
                                                                    table.column("stage").to_pylist())}
    out = []
    for row in items:
        extra = {words: named.get(row[key])} if words in records.column_names else {}
        if kind == "lead" and engaged:
            score, stage = engaged.get(row[key], (None, None))
            extra.update(engagement_score=score, stage=stage)
        out.append({**row, **extra})
    return out


def _csv_chunks(table: pa.Table):
    """A table as CSV, a slice of rows at a time (an audience may hold millions of members: the
    reply is written as it is read, never whole in memory twice)."""
    out = io.BytesIO()
    with pcsv.CSVWriter(out, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=CSV_PAGE):
            writer.write_batch(batch)
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    if out.tell():  # the header alone, for an audience with no members
        yield out.getvalue()


def _csv(items: list[dict], header: bool) -> bytes:
    if not items:
        return b""
    out = io.BytesIO()
    pcsv.write_csv(csv_table(pa.Table.from_pylist(items)), out, pcsv.WriteOptions(include_header=header))
    return out.getvalue()
