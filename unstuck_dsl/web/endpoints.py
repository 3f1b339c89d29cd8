"""What the pages read beyond the workspace API, as routes the serve app appends (`routes(service,
max_body)`); the pages (`pages`) call the same functions: the published rules described (ICPs live and draft with display
names and Personas, audiences with member counts, the rule text), the qualification tree's
counts and what a draft would take, search by id or title, insights, and the checker for the draft editor. All are reads
(the checker is a POST only because it takes a ruleset as its body; it writes nothing). Each runs
under the service's lock, in a worker thread, as serve's own endpoints do."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow.compute as pc
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import Route

from .. import insights, pipeline
from ..diagnostics import RuleError
from ..service.bodies import BadRequest, json_object, read_body
from ..source import Source

SEARCH_LIMIT = 20
DENOMINATORS = ("scored", "contacted")
# The pages load scripts, styles and images from this server only; nothing inline, no frames.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                           "form-action 'self'")


def _json(content, status: int = 200) -> Response:
    text = json.dumps(content, default=lambda v: v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else str(v),
                      ensure_ascii=False, separators=(",", ":"))
    return Response(text, status_code=status, media_type="application/json")


def describe(ws) -> dict:
    """The published rules as the pages name things: every ICP (live and draft) with its Personas,
    every audience, the engagement stages, and the text with its version. Cheap at any size: no
    record is read (member counts come from the audience endpoint, one audience at a time)."""
    version = ws.published
    if version is None:
        return {"version": None, "text": "", "icps": [], "audiences": [], "stages": []}
    model = ws.compiled.model
    icps = [{"code": i.code, "name": i.name, "status": i.status,
             "personas": [{"code": p.code, "name": p.name} for p in i.personas]} for i in model.icps]
    audiences = [{"code": a.code, "name": a.name} for a in model.audiences]
    stages = list(model.engagement.stages) if model.engagement is not None else []
    return {"version": {"number": version.number, "hash": version.hash, "message": version.message,
                        "published_at": version.published_at.isoformat()},
            "text": version.text, "icps": icps, "audiences": audiences, "stages": stages}


def qualification(ws) -> dict:
    """Record counts per ICP by ICP band (accounts) and per ICP / Persona by Persona band (leads),
    counted in DuckDB."""
    db = ws.store.db
    accounts = db.execute("SELECT icp_code, icp_band, count(*) FROM account_scores GROUP BY ALL").fetchall()
    leads = db.execute("SELECT icp_code, persona_code, persona_band, count(*) FROM lead_scores GROUP BY ALL").fetchall()
    return {"accounts": [{"icp_code": c, "band": b, "count": n} for c, b, n in accounts],
            "leads": [{"icp_code": c, "persona_code": p, "band": b, "count": n} for c, p, b, n in leads]}


def draft_preview(ws, code: str) -> dict:
    """What a draft ICP would take if published: the stored records scored as if it were live
    (the preview_* columns), counted per band, and the live ICPs those accounts hold today."""
    icp = next((i for i in ws.compiled.model.icps if i.code == code), None) if ws.published is not None else None
    if icp is None or icp.status == "live":
        raise BadRequest(f"parameter `icp`: {code!r} is not a draft ICP of the published rules", field="icp")
    accounts = ws.compiled.score_dataset(ws.scored().dataset, ws.as_of, preview=frozenset({code})).accounts
    taken = accounts.filter(pc.equal(accounts.column("preview_icp_code"), code))
    bands = taken.group_by("preview_icp_band").aggregate([("account_id", "count")]).to_pylist()
    held = taken.group_by("icp_code").aggregate([("account_id", "count")]).to_pylist()
    return {"code": code, "accounts": taken.num_rows,
            "bands": [{"band": r["preview_icp_band"], "count": r["account_id_count"]} for r in bands],
            "from": [{"icp_code": r["icp_code"], "count": r["account_id_count"]} for r in held]}


def search(ws, kind: str, text: str) -> dict:
    """Records whose id starts with `text`, then (leads) those whose title or (accounts) name
    contains it (in any case). The id prefix is a range on the id (DuckDB skips the row groups
    outside it), so a search stays quick on millions of records."""
    table, key, words = ("leads", "lead_id", "title") if kind == "lead" else ("accounts", "account_id", "name")
    if not text:
        raise BadRequest("parameter `q`: give an id or words to look for", field="q")
    db = ws.store.db
    columns = {row[0] for row in db.execute(f"DESCRIBE {table}").fetchall()}
    shown = ", ".join(c for c in (key, words) if c in columns)
    found = db.execute(f"SELECT {shown} FROM {table} WHERE {key} >= $low AND {key} < $high ORDER BY {key} "
                       f"LIMIT {SEARCH_LIMIT}", {"low": text, "high": text + "\U0010ffff"}).fetchall()
    if words in columns and len(found) < SEARCH_LIMIT:
        literal = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")  # the text, not a pattern
        found += db.execute(f"SELECT {shown} FROM {table} WHERE {words} ILIKE $inside ESCAPE '\\' AND NOT "
                            f"({key} >= $low AND {key} < $high) ORDER BY {key} LIMIT {SEARCH_LIMIT - len(found)}",
                            {"inside": f"%{literal}%", "low": text, "high": text + "\U0010ffff"}).fetchall()
    names = [c for c in (key, words) if c in columns]
    return {"items": [dict(zip(names, row)) for row in found]}


def insight_report(ws, denominator: str) -> dict:
    if denominator not in DENOMINATORS:
        raise BadRequest(f"parameter `denominator`: {denominator!r}; choose {' or '.join(DENOMINATORS)}",
                         field="denominator")
    outcomes = ws.store.outcomes()
    if not outcomes.num_rows:
        raise BadRequest(f"{ws.path}: no outcomes yet; ingest them (POST /api/ingest with `outcomes`)", status=404)
    report = insights.analyse(ws.store.scores("lead"), outcomes, denominator=denominator,
                              ruleset=ws.compiled.model if ws.published is not None else None)
    return report.to_dict()


def check(body: bytes) -> dict:
    """The checker's diagnostics (errors and lint warnings) for a draft ruleset's text."""
    rules = json_object(body, {"rules": (str,)}, required=("rules",))["rules"]
    source = Source("<draft>", rules if rules.endswith("\n") else rules + "\n")
    try:
        _, diagnostics = pipeline.check_sources([source], lint=True)
    except RuleError as exc:
        diagnostics = exc.diagnostics
    return {"ok": not any(d.is_error for d in diagnostics), "diagnostics": [d.to_dict() for d in diagnostics]}


def routes(service, max_body: int, authorize) -> list:
    """The pages' extra reads; append them after the API's own routes. A body (the draft
    `/api/check` reads) is bounded by `max_body` bytes, as the API's are; `authorize(request)`
    refuses a request the server's reads do not let through (off loopback: no token, no session)."""

    def read(work):
        async def handle(request):
            authorize(request)
            params = request.query_params
            body = await read_body(request, max_body) if request.method == "POST" else b""

            def locked():
                with service.lock:
                    return work(service.workspace, params, body)

            return _json(await run_in_threadpool(locked))

        return handle

    def kind_of(params) -> str:
        kind = params.get("kind", "lead")
        if kind not in ("lead", "account"):
            raise BadRequest(f"parameter `kind`: {kind!r}; choose lead or account", field="kind")
        return kind

    return [
        Route("/api/rules", read(lambda ws, params, body: describe(ws)), methods=["GET"]),
        Route("/api/qualification", read(lambda ws, params, body: qualification(ws)), methods=["GET"]),
        Route("/api/qualification/preview", read(lambda ws, params, body: draft_preview(ws, params.get("icp", ""))),
              methods=["GET"]),
        Route("/api/search", read(lambda ws, params, body: search(ws, kind_of(params), params.get("q", "").strip())),
              methods=["GET"]),
        Route("/api/insights", read(lambda ws, params, body: insight_report(ws, params.get("denominator", "scored"))),
              methods=["GET"]),
        Route("/api/check", read(lambda ws, params, body: check(body)), methods=["POST"]),
    ]
