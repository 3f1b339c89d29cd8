"""`unstuck serve` (issue 15): every endpoint against the local engine and the store, record by
record; the token rules; hostile and bad requests answered with a clear 4xx that changes
nothing; a real server process (its files, the line CLI writers get); and, in the slow set,
kill -9 during a stream of ingests. Loopback only, bounded requests and time."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient
from test_store import SCORE_COLUMNS, _plain
from test_workspace import assert_workspace_true

import unstuck_dsl
from unstuck_dsl import sample
from unstuck_dsl.data import DataError
from unstuck_dsl.serve import ENDPOINTS, Service, create_app, run
from unstuck_dsl.service import moves
from unstuck_dsl.service.holder import serve_file, token_file
from unstuck_dsl.workspace import Workspace

from cli_support import RULES

AS_OF = dt.date(2026, 11, 26)
TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LEAD_COLUMNS = ["lead_id", "account_id", "icp_code", "icp_score", "icp_band", "persona_code", "persona_score",
                "persona_band"]


@pytest.fixture(scope="module")
def rules():
    return unstuck_dsl.compile(RULES)


@pytest.fixture(scope="module")
def records():
    accounts, leads = sample.generate(200)
    return accounts, leads, sample.signals(leads, as_of=AS_OF)


@pytest.fixture(scope="module")
def built(tmp_path_factory, records):
    """A workspace of 200 sample accounts, their leads and signals, the example rules published."""
    path = tmp_path_factory.mktemp("serve") / "built.duckdb"
    accounts, leads, signals = records
    with Workspace(path) as ws:
        ws.publish(str(RULES), as_of=AS_OF)
        ws.ingest(accounts=accounts, leads=leads, signals=signals)
    return path


@pytest.fixture
def served(built, tmp_path):
    """A fresh copy of the workspace, open, and a client of the app over it."""
    path = tmp_path / "w.duckdb"
    shutil.copy(built, path)
    ws = Workspace(path)
    client = TestClient(create_app(ws, TOKEN), raise_server_exceptions=False)
    yield client, ws
    ws.close()


def _as_json(value):
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))


def _json_rows(table: pa.Table) -> list[dict]:
    return _as_json(table.to_pylist())


def fingerprint(ws: Workspace) -> dict:
    """Every table's rows, as a hash per table: equal fingerprints, equal workspaces."""
    tables = [t for (t,) in ws.store.db.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    return {t: ws.store.db.execute(f'SELECT count(*), sum(hash(x)) FROM (SELECT "{t}" AS x FROM "{t}")').fetchall()[0]
            for t in tables}


# ---- the endpoints equal the engine ------------------------------------------------------------


def test_score_equals_local_scoring_record_by_record(served, rules, records):
    client, ws = served
    accounts, leads, _ = records
    some_accounts = accounts.slice(0, 25)
    ids = set(some_accounts.column("account_id").to_pylist())
    some_leads = leads.filter(pa.array([a in ids for a in leads.column("account_id").to_pylist()]))
    before = fingerprint(ws)
    answer = client.post("/api/score", json={"accounts": _json_rows(some_accounts), "leads": _json_rows(some_leads)})
    assert answer.status_code == 200, answer.text
    expected = rules.score(some_accounts, some_leads, as_of=AS_OF)
    assert answer.json()["leads"] == _json_rows(expected.leads.select(LEAD_COLUMNS))
    assert answer.json()["accounts"] == _json_rows(expected.accounts)
    assert fingerprint(ws) == before  # nothing stored


def test_score_inline_account_and_stored_account(served, rules, records):
    client, ws = served
    accounts, leads, _ = records
    account = accounts.slice(3, 1).to_pylist()[0]
    lead = {"lead_id": "web-1", "title": "VP Sales", "seniority": "VP", "function": "Sales"}
    flat = {**lead, **{k: v for k, v in account.items() if v is not None}}
    inline = client.post("/api/score", json={"leads": [_as_json(flat)]})
    assert inline.status_code == 200, inline.text
    expected = rules.score(accounts.slice(3, 1), pa.Table.from_pylist([{**lead, "account_id": account["account_id"]}]),
                           as_of=AS_OF, missing_columns="unknown").leads.to_pylist()[0]
    got = inline.json()["leads"][0]
    assert {c: got[c] for c in LEAD_COLUMNS[2:]} == {c: expected[c] for c in LEAD_COLUMNS[2:]}
    # A lead naming a stored account is scored with it.
    stored = client.post("/api/score", json={"leads": [{**lead, "account_id": account["account_id"]}]})
    assert {c: stored.json()["leads"][0][c] for c in LEAD_COLUMNS[2:]} == {c: expected[c] for c in LEAD_COLUMNS[2:]}


def test_score_explain_is_the_drawer(served, rules, records):
    client, _ = served
    accounts, _, _ = records
    answer = client.post("/api/score?explain=1", json={"accounts": _json_rows(accounts.slice(0, 5))})
    assert answer.status_code == 200
    result = rules.score(accounts.slice(0, 5), as_of=AS_OF)
    for row in answer.json()["accounts"]:
        assert row["explanation"] == _as_json(result.explain(account_id=row["account_id"]).to_dict())


def _all_pages(client, url: str) -> list[dict]:
    items, cursor = [], None
    for _ in range(1000):
        answer = client.get(url + (f"&cursor={cursor}" if cursor else ""))
        assert answer.status_code == 200, answer.text
        items += answer.json()["items"]
        cursor = answer.json()["next"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


def test_lists_page_through_the_stored_scores(served):
    client, ws = served
    items = _all_pages(client, "/api/leads?icp=mm_saas&sort=-persona_score&limit=7")
    stored = ws.store.db.execute("SELECT lead_id, persona_score FROM lead_scores WHERE icp_code = 'mm_saas' "
                                 "ORDER BY coalesce(persona_score, -1) DESC, lead_id").fetchall()
    assert [(i["lead_id"], i["persona_score"]) for i in items] == stored
    accounts = _all_pages(client, "/api/accounts?sort=account_id&limit=50")
    assert _plain(pa.Table.from_pylist(accounts), "account_id", ["icp_code", "icp_score", "icp_band"]) == \
        _plain(ws.store.scores("account"), "account_id", ["icp_code", "icp_score", "icp_band"])
    strong = _all_pages(client, "/api/leads?band=strong&sort=icp_score&limit=13")
    assert {i["lead_id"] for i in strong} == {r[0] for r in ws.store.db.execute(
        "SELECT lead_id FROM lead_scores WHERE persona_band = 'strong'").fetchall()}
    assert [i["icp_score"] for i in strong] == sorted(i["icp_score"] for i in strong)


def test_audience_and_stage_filters_equal_the_workspace(served):
    client, ws = served
    members = _all_pages(client, "/api/leads?audience=hot&limit=5")
    assert sorted(i["lead_id"] for i in members) == sorted(ws.audience("hot").column("lead_id").to_pylist())
    leads = ws.scored().leads
    hot = [r["lead_id"] for r in leads.select(["lead_id", "stage"]).to_pylist() if r["stage"] == "hot"]
    assert sorted(i["lead_id"] for i in _all_pages(client, "/api/leads?stage=hot&limit=50")) == sorted(hot)
    audience = client.get("/api/audiences/hot?limit=3").json()
    assert audience["members"] == ws.audience("hot").num_rows
    assert audience["composition"] == _json_rows(ws.composition("hot"))
    names = [a["code"] for a in client.get("/api/audiences").json()["audiences"]]
    assert names == [a.code for a in ws.compiled.model.audiences]


def test_detail_is_the_workspace_drawer_and_history(served):
    client, ws = served
    lead_id = ws.store.db.execute("SELECT lead_id FROM lead_scores WHERE persona_score IS NOT NULL "
                                  "ORDER BY lead_id LIMIT 1").fetchall()[0][0]
    answer = client.get(f"/api/leads/{lead_id}").json()
    assert answer["drawer"] == _as_json(ws.explain(lead=lead_id).to_dict())
    stored = ws.store.db.execute("SELECT icp_code, icp_score, persona_code, persona_score FROM lead_scores "
                                 "WHERE lead_id = ?", [lead_id]).fetchall()[0]
    assert tuple(answer["qualification"][c] for c in SCORE_COLUMNS) == stored
    assert (answer["drawer"]["icp_score"], answer["drawer"]["persona_score"]) == (stored[1], stored[3])
    assert answer["history"] == _json_rows(ws.record_history("lead", lead_id))
    assert answer["engagement"] == answer["drawer"].get("engagement")
    account = client.get(f"/api/accounts/{answer['fields']['account_id']}").json()
    assert account["drawer"]["icp_code"] == stored[0]


def test_a_server_that_keeps_nothing_in_memory_answers_as_one_that_does(built, tmp_path, records):
    """`serve --no-in-memory` reads records, scores and history from DuckDB: through the same
    ingests, its replies and record pages equal those of a server keeping them in memory."""
    accounts, leads, _ = records
    account_ids, lead_ids = accounts.column("account_id").to_pylist(), leads.column("lead_id").to_pylist()
    answers = []
    for in_memory in (True, False):
        path = tmp_path / f"w-{in_memory}.duckdb"
        shutil.copy(built, path)
        with Workspace(path) as ws:
            client = TestClient(create_app(ws, TOKEN, service=Service(ws, in_memory)), raise_server_exceptions=False)
            assert bool(ws.store.kept) == in_memory
            said = [client.post("/api/ingest", json={"accounts": [{"account_id": a, "employees": 5000 + k}
                                                                  for k, a in enumerate(account_ids[:40])]},
                                headers=AUTH).json()["moved"]]
            pages = [client.get(f"/api/{kind}/{i}").json() for kind, ids in (("leads", lead_ids), ("accounts", account_ids))
                     for i in ids[:30:3]]
            for page in pages:  # (the two ingests ran at different times)
                page["history"] = [{k: v for k, v in change.items() if k != "changed_at"} for change in page["history"]]
            answers.append(said + pages)
    assert answers[0] == answers[1]
    assert answers[0][0] and all("drawer" in page for page in answers[0][1:])
    assert any(page["history"] for page in answers[0][1:])


def test_ingest_reply_lists_what_the_store_then_holds(served, rules, records):
    client, ws = served
    accounts, _, _ = records
    changed = [{"account_id": a, "industry": "software", "employees": 120, "tech_stack": ["Snowflake", "Okta"]}
               for a in accounts.column("account_id").to_pylist()[:15]]
    answer = client.post("/api/ingest", json={"accounts": changed}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    moved = answer.json()["moved"]
    assert moved and answer.json()["report"]["updated"] == 15
    for entry in moved:
        table = "lead_scores" if entry["kind"] == "lead" else "account_scores"
        columns = ["icp_code", "icp_score", "icp_band"] + (["persona_code", "persona_score", "persona_band"]
                                                           if entry["kind"] == "lead" else [])
        row = ws.store.db.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {entry['kind']}_id = ?",
                                  [entry["id"]]).fetchall()[0]
        assert tuple(entry[c] for c in columns) == row
        assert set(entry["audiences"]) == {code for code in ("hot", "mm_vp_sales", "strong_accounts", "engaged_fit")
                                           if entry["kind"] == "lead" and entry["id"] in
                                           set(ws.audience(code).column("lead_id").to_pylist())}
    assert any(e.get("changed") for e in moved)
    assert_workspace_true(ws, rules)


def test_ingest_moves_equal_snapshots_of_every_record_touched(served, records):
    """The reply's moves (the records after the write are those the ingest re-scored, not read
    again) equal the moves between snapshots of every record the body names and every lead it
    touches: a lead moved to another account, an unchanged account, a changed one, a new one."""

    client, ws = served
    accounts, leads, _ = records
    ids = accounts.column("account_id").to_pylist()
    lead = leads.filter(pa.array([a == ids[0] for a in leads.column("account_id").to_pylist()])).slice(0, 1)
    unchanged = accounts.slice(5, 1).to_pylist()[0]
    body = {"accounts": [_as_json({k: v for k, v in unchanged.items() if k in ("account_id", "employees")}),
                         {"account_id": ids[6], "employees": 99_999},
                         {"account_id": "BRAND-NEW", "employees": 500}],
            "leads": [{"lead_id": lead.column("lead_id")[0].as_py(), "account_id": ids[7], "title": "VP Sales"}]}
    account_ids = [a["account_id"] for a in body["accounts"]]
    lead_ids = [body["leads"][0]["lead_id"]]
    touched = moves.touched_leads(ws, account_ids, lead_ids)
    before = moves.snapshot(ws, account_ids, touched)
    answer = client.post("/api/ingest", json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    touched = sorted(set(touched) | set(lead_ids) | set(moves.touched_leads(ws, account_ids, [])))
    expected = moves.moves(before, moves.snapshot(ws, account_ids, touched))
    assert answer.json()["moved"] == _as_json(expected)
    assert {(m["kind"], m["id"]) for m in expected} >= {("account", ids[6]), ("account", "BRAND-NEW"),
                                                        ("lead", lead_ids[0])}


@settings(max_examples=int(os.environ.get("SERVE_EXAMPLES", "6")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 6), st.integers(0, 3), st.randoms()),
                      min_size=1, max_size=3))
def test_served_ingests_keep_the_workspace_true_and_report_every_move(built, rules, records, tmp_path_factory, steps):
    """Ingests through the server (records and scores read from what it keeps in memory, records
    handed from the reply's snapshot to the ingest), of few and of many accounts (more than
    store.FEW_IDS), leads moved to other accounts and new records: after each, every stored score
    is a full re-score's, and the reply's moves are those of snapshots of every record touched."""
    accounts, leads, _ = records
    account_ids, lead_ids = accounts.column("account_id").to_pylist(), leads.column("lead_id").to_pylist()
    path = tmp_path_factory.mktemp("steps") / "w.duckdb"
    shutil.copy(built, path)
    with Workspace(path) as ws:
        client = TestClient(create_app(ws, TOKEN), raise_server_exceptions=False)
        for step, (n_accounts, n_leads, n_new, rng) in enumerate(steps):
            changed = [{"account_id": a, "employees": rng.choice([10, 60, 240, 2000]),
                        "tech_stack": rng.choice([["Snowflake"], ["Okta", "dbt"], []])}
                       for a in rng.sample(account_ids, n_accounts)]
            changed += [{"account_id": f"NEW-{step}-{k}", "employees": 240, "tech_stack": ["Snowflake"]}
                        for k in range(n_new)]
            moved_leads = [{"lead_id": lead, "account_id": rng.choice(account_ids + [c["account_id"] for c in changed]),
                            "title": rng.choice(["VP Sales", "Engineer", "CEO"])} for lead in rng.sample(lead_ids, n_leads)]
            body = {k: v for k, v in (("accounts", changed), ("leads", moved_leads)) if v}
            if not body:
                continue
            ids = [c["account_id"] for c in changed]
            given_leads = [lead["lead_id"] for lead in moved_leads]
            touched = moves.touched_leads(ws, ids, given_leads)
            before = moves.snapshot(ws, ids, touched)
            answer = client.post("/api/ingest", json=body, headers=AUTH)
            assert answer.status_code == 200, answer.text
            touched = sorted(set(touched) | set(given_leads) | set(moves.touched_leads(ws, ids, [])))
            assert answer.json()["moved"] == _as_json(moves.moves(before, moves.snapshot(ws, ids, touched)))
            assert_workspace_true(ws, rules)


def test_ingest_csv_body_and_new_records(served, rules):
    client, ws = served
    answer = client.post("/api/ingest?section=accounts", content=b"account_id,industry,employees\nNEW1,software,80\n",
                         headers={**AUTH, "Content-Type": "text/csv"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["moved"][0]["new"] is True
    leads = client.post("/api/ingest", json={"leads": [{"lead_id": "NL1", "account_id": "NEW1", "title": "CEO"}]},
                        headers=AUTH)
    assert leads.status_code == 200, leads.text
    assert ws.store.count("account") == 201
    assert_workspace_true(ws, rules)


def test_requalify_publish_refresh(served, rules, tmp_path):
    client, ws = served
    assert client.post("/api/requalify", json={"accounts": ["A00000003"]}, headers=AUTH).status_code == 200
    text = "\n".join((RULES / name).read_text() for name in ("fields.ust", "icps.ust", "personas.ust"))
    before = fingerprint(ws)
    changed = text.replace('score 5 "Uses Snowflake"', 'score 9 "Uses Snowflake"')
    dry = client.post("/api/publish", json={"rules": changed, "dry_run": True}, headers=AUTH)
    assert dry.status_code == 200, dry.text
    assert dry.json()["published"] is None and dry.json()["diff"]["changed"] > 0
    assert fingerprint(ws) == before
    done = client.post("/api/publish", json={"rules": changed, "message": "Snowflake counts more"}, headers=AUTH)
    assert done.json()["published"]["number"] == 2
    refreshed = client.post("/api/refresh", json={"as_of": "2026-12-01"}, headers=AUTH)
    assert refreshed.json()["as_of"] == "2026-12-01"
    status = client.get("/api/status").json()
    assert status["version"]["number"] == 2 and status["as_of"] == "2026-12-01"
    assert_workspace_true(ws, unstuck_dsl.compile(changed))


def test_openapi_lists_every_endpoint(served):
    client, _ = served
    schema = client.get("/api/openapi.json").json()
    for endpoint in ENDPOINTS:
        assert endpoint.method.lower() in schema["paths"][endpoint.path]


# ---- tokens ------------------------------------------------------------------------------------


def test_writes_need_the_token_reads_on_loopback_do_not(served):
    client, ws = served
    body = {"accounts": [{"account_id": "A00000001", "employees": 5}]}
    before = fingerprint(ws)
    assert client.post("/api/ingest", json=body).status_code == 401
    assert client.post("/api/ingest", json=body, headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.post("/api/ingest", json=body, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 403
    for path in ("/api/publish", "/api/requalify", "/api/refresh"):
        assert client.post(path, json={}).status_code == 401
    assert fingerprint(ws) == before
    assert client.get("/api/status").status_code == 200
    assert client.post("/api/ingest", json=body, headers=AUTH).status_code == 200


def test_off_loopback_every_endpoint_needs_the_token(served):
    _, ws = served
    client = TestClient(create_app(ws, TOKEN, open_reads=False), raise_server_exceptions=False)
    assert client.get("/api/status").status_code == 401
    assert client.get("/api/status", headers=AUTH).status_code == 200
    with pytest.raises(DataError, match="--token"):
        run(ws.path, host="0.0.0.0", port=0)


# ---- hostile and bad requests ------------------------------------------------------------------

BAD = [
    ("malformed JSON", "POST", "/api/ingest", b'{"accounts": [', 400, None),
    ("not an object", "POST", "/api/ingest", b'[1, 2]', 400, None),
    ("NaN", "POST", "/api/ingest", b'{"accounts": [{"account_id": "A00000001", "arr_usd": NaN}]}', 400, None),
    ("unknown field", "POST", "/api/ingest", {"accounts": [{"account_id": "A00000001", "employes": 5}]}, 400, "employes"),
    ("unknown section", "POST", "/api/ingest", {"acounts": []}, 400, "acounts"),
    ("wrong type", "POST", "/api/ingest", {"accounts": [{"account_id": "A00000001", "employees": "ten"}]}, 400,
     "employees"),
    ("bad second record", "POST", "/api/ingest", {"accounts": [{"account_id": "A00000001", "employees": 7},
                                                               {"account_id": "A00000002", "employees": 1.5}]},
     400, "employees"),
    ("bad ordinal", "POST", "/api/ingest", {"accounts": [{"account_id": "A00000001", "funding_stage": "Series Z"}]},
     400, "funding_stage"),
    ("bad date", "POST", "/api/ingest", {"accounts": [{"account_id": "A00000001", "hired_ciso_on": "2026-13-01"}]},
     400, "hired_ciso_on"),
    ("repeated id", "POST", "/api/ingest", {"accounts": [{"account_id": "X", "employees": 1},
                                                         {"account_id": "X", "employees": 2}]}, 400, "account_id"),
    ("huge id", "POST", "/api/ingest", {"accounts": [{"account_id": "A" * 10_000}]}, 400, "account_id"),
    ("control character id", "POST", "/api/ingest", {"accounts": [{"account_id": "A\x00B"}]}, 400, "account_id"),
    ("mixed fields", "POST", "/api/ingest", {"accounts": [{"account_id": "A00000001", "employees": 5},
                                                          {"account_id": "A00000002"}]}, 400, "employees"),
    ("bad signal", "POST", "/api/ingest", {"signals": [{"lead_id": "L000000001", "signal": 5}]}, 400, "signal"),
    ("form body", "POST", "/api/score", ("a=1", "application/x-www-form-urlencoded"), 415, None),
    ("CSV without section", "POST", "/api/ingest", ("account_id\nA1\n", "text/csv"), 400, "section"),
    ("CSV unknown column", "POST", "/api/ingest?section=accounts", ("account_id,colour\nA1,red\n", "text/csv"), 400,
     "colour"),
    ("unknown parameter", "GET", "/api/leads?colour=red", None, 400, "colour"),
    ("bad band", "GET", "/api/leads?band=hot", None, 400, "band"),
    ("bad sort", "GET", "/api/leads?sort=title", None, 400, "sort"),
    ("bad limit", "GET", "/api/leads?limit=100000", None, 400, "limit"),
    ("forged cursor", "GET", "/api/leads?cursor=Zm9v", None, 400, "cursor"),
    ("unknown audience", "GET", "/api/leads?audience=nope", None, 400, "audience"),
    ("path traversal", "GET", "/api/leads/..%2F..%2Fetc%2Fpasswd", None, 404, None),
    ("dot dot", "GET", "/api/leads/..", None, 404, None),
    ("huge path id", "GET", "/api/leads/" + "L" * 5000, None, 400, "id"),
    ("unicode id", "GET", "/api/leads/L%C3%A9%F0%9F%98%80", None, 404, None),
    ("unknown account", "GET", "/api/accounts/nope", None, 404, None),
    ("unknown audience page", "GET", "/api/audiences/nope", None, 404, None),
    ("unknown route", "GET", "/api/nothing", None, 404, None),
    ("wrong method", "DELETE", "/api/leads", None, 405, None),
    ("publish a path", "POST", "/api/publish", {"rules": "/etc/passwd"}, 400, None),
    ("publish bad rules", "POST", "/api/publish", {"rules": "icp x {"}, 400, None),
    ("requalify unknown id", "POST", "/api/requalify", {"leads": ["nope"]}, 400, None),
    ("score nothing", "POST", "/api/score", {}, 400, None),
    ("score wrong type", "POST", "/api/score", {"leads": [{"lead_id": "x", "seniority": 3}]}, 400, "seniority"),
    ("score unknown flag", "POST", "/api/score?explain=yes", {"accounts": [{"account_id": "x"}]}, 400, "explain"),
    ("records of no kind", "GET", "/api/records?kind=contacts", None, 400, "kind"),
    ("records by an unknown type", "GET", '/api/records?kind=account&fields=[["employees","account","varchar;drop"]]',
     None, 400, "fields"),
    ("records by garbled fields", "GET", "/api/records?kind=account&fields=%7B", None, 400, "fields"),
    ("explain unknown lead", "GET", "/api/explain?lead=nope", None, 400, None),
    ("explain unknown preview", "GET", "/api/explain?lead=L000000001&preview=nope", None, 400, None),
    ("explain two records", "GET", "/api/explain?lead=L000000001&account=A00000001", None, 400, None),
    ("history of no kind", "GET", "/api/history?kind=contact&id=x", None, 400, None),
    ("export with an unknown extra", "GET", "/api/export?kind=lead&with=colour", None, 400, None),
    ("members of no audience", "GET", "/api/members?audience=nope", None, 400, None),
    ("unknown read parameter", "GET", "/api/export?kind=lead&colour=red", None, 400, "colour"),
]


@pytest.mark.parametrize(("name", "method", "path", "body", "status", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_requests_get_a_clear_4xx_and_change_nothing(served, name, method, path, body, status, field):
    client, ws = served
    before = fingerprint(ws)
    kwargs: dict = {"headers": dict(AUTH)}
    if isinstance(body, bytes):
        kwargs["content"] = body
        kwargs["headers"]["Content-Type"] = "application/json"
    elif isinstance(body, tuple):
        kwargs["content"] = body[0].encode()
        kwargs["headers"]["Content-Type"] = body[1]
    elif body is not None:
        kwargs["json"] = body
    answer = client.request(method, path, **kwargs)
    assert answer.status_code == status, answer.text
    payload = answer.json()
    assert payload["error"] and "Traceback" not in answer.text and "File \"" not in answer.text
    if field is not None:
        assert payload.get("field") == field, payload
    assert fingerprint(ws) == before


def test_oversized_bodies_are_refused_unread(served):
    _, ws = served
    client = TestClient(create_app(ws, TOKEN, max_body=1000), raise_server_exceptions=False)
    before = fingerprint(ws)
    big = {"accounts": [{"account_id": f"A{i}", "employees": i} for i in range(200)]}
    answer = client.post("/api/ingest", json=big, headers=AUTH)
    assert answer.status_code == 413 and "1,000" in answer.json()["error"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(100):
            yield b" " * 100

    assert client.post("/api/ingest", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
                       ).status_code == 413
    # The pages' own reads take the same bound: a draft sent to be checked.
    assert client.post("/api/check", content=b"icp x {}\n" * 200).status_code == 413
    assert client.post("/api/check", content=chunks()).status_code == 413
    assert fingerprint(ws) == before


def test_an_unexpected_failure_is_500_internal_error(served, monkeypatch):
    client, _ = served

    def broken(request):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(client.app.state.service, "status", broken)
    client = TestClient(create_app(client.app.state.service.workspace, TOKEN, service=client.app.state.service),
                        raise_server_exceptions=False)
    answer = client.get("/api/status")
    assert answer.status_code == 500
    assert answer.json() == {"error": "internal error"}


# ---- a real server process ---------------------------------------------------------------------


def start(path, token: str = TOKEN, timeout: float = 120) -> tuple[subprocess.Popen, str]:
    """`unstuck serve` on a free loopback port; (process, url) once it answers."""
    process = subprocess.Popen([sys.executable, "-m", "unstuck_dsl", "serve", "--db", str(path), "--port", "0",
                                "--token", token], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode())
        try:
            url = json.loads(serve_file(path).read_text())["url"]
            with urllib.request.urlopen(url + "/api/status", timeout=10) as answer:
                if answer.status == 200:
                    return process, url
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    process.kill()
    raise AssertionError("the server did not answer in time")


def call(url: str, path: str, body=None, token: str = TOKEN, timeout: float = 30) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method="POST" if body is not None else "GET",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_server_process_names_itself_to_cli_writers_and_cleans_up(built, tmp_path):
    path = tmp_path / "w.duckdb"
    shutil.copy(built, path)
    process = subprocess.Popen([sys.executable, "-m", "unstuck_dsl", "serve", "--db", str(path), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not token_file(path).exists() or not serve_file(path).exists():
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
            time.sleep(0.05)
        token = token_file(path).read_text().strip()
        assert oct(token_file(path).stat().st_mode & 0o777) == "0o600"
        url = json.loads(serve_file(path).read_text())["url"]
        assert url.startswith("http://127.0.0.1:")
        while True:
            try:
                assert call(url, "/api/status")[0] == 200
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert call(url, "/api/ingest", {"accounts": [{"account_id": "P1", "employees": 3}]}, token="wrong")[0] == 403
        assert call(url, "/api/ingest", {"accounts": [{"account_id": "P1", "employees": 3}]}, token=token)[0] == 200
        env = dict(os.environ, UNSTUCK_BUSY_WAIT="30")
        writer = subprocess.run([sys.executable, "-m", "unstuck_dsl", "refresh", "--db", str(path)], env=env,
                                capture_output=True, text=True, timeout=120)
        assert writer.returncode == 1
        lines = writer.stderr.strip().splitlines()
        assert len(lines) == 1 and url in lines[0] and "unstuck serve" in lines[0], writer.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert not serve_file(path).exists() and not token_file(path).exists()
    with Workspace(path) as ws:  # the acknowledged ingest is there
        assert ws.store.existing_ids("account", pa.array(["P1"])).to_pylist() == ["P1"]


@pytest.mark.slow
def test_kill_9_during_ingests_loses_nothing_acknowledged(built, tmp_path, rules):
    """At least 20 kills at random moments during a stream of ingests: after each restart every
    acknowledged ingest is there, none that was not is half there, and scores equal a full score."""
    path = tmp_path / "w.duckdb"
    shutil.copy(built, path)
    rng = random.Random(15)
    acknowledged, sent = set(), set()
    batch = 0
    kills = 0
    started = time.monotonic()
    while kills < 20 and time.monotonic() - started < 600:
        process, url = start(path)
        stop = threading.Event()

        def stream(url: str, stop: threading.Event) -> None:
            nonlocal batch
            while not stop.is_set():
                batch += 1
                k = batch
                sent.add(k)
                # three new accounts, one existing one changed, and a lead: all or nothing
                body = {"accounts": [{"account_id": f"K{k}-{i}", "industry": "software", "employees": 10 + k}
                                     for i in range(3)],
                        "leads": [{"lead_id": f"KL{k}", "account_id": f"K{k}-0", "title": "VP Sales"}]}
                try:
                    status, _ = call(url, "/api/ingest", body, timeout=30)
                except (OSError, ValueError, http.client.HTTPException):  # (a reply cut short by the kill)
                    return
                if status == 200:
                    acknowledged.add(k)

        thread = threading.Thread(target=stream, args=(url, stop))
        thread.start()
        time.sleep(rng.uniform(0.05, 0.8))
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        kills += 1
        stop.set()
        thread.join(timeout=60)
    assert kills >= 20
    with Workspace(path) as ws:
        stored = set(ws.store.db.execute("SELECT account_id FROM accounts WHERE account_id LIKE 'K%'").fetchall())
        stored = {a for (a,) in stored}
        leads = {lead for (lead,) in ws.store.db.execute("SELECT lead_id FROM leads WHERE lead_id LIKE 'KL%'").fetchall()}
        for k in sent:
            present = [f"K{k}-{i}" in stored for i in range(3)] + [f"KL{k}" in leads]
            assert all(present) or not any(present), (k, present)
            if k in acknowledged:
                assert all(present), k
        assert acknowledged, "no ingest was acknowledged"
        assert_workspace_true(ws, rules)


# ---- readers keep working while a server holds the workspace -----------------------------------

READS = (  # every command that reads a workspace, as `unstuck ARGS --db W`; {out} is a folder for files
    ("status",), ("status", "--json"),
    ("history",), ("history", "--lead", "{lead}"), ("history", "--account", "{account}"),
    ("history", "--lead", "no-such-lead"),
    ("explain", "--lead", "{lead}"), ("explain", "--lead", "{lead}", "--json"),
    ("explain", "--account", "{account}", "--preview", "ent_finserv"), ("explain", RULES, "--account", "{account}"),
    ("explain", "--lead", "no-such-lead"),
    ("audience", "hot"), ("audience", "engaged_fit", "--composition"), ("audience", "hot", "--out", "{out}/hot.parquet"),
    ("audience", "no_such_audience"),
    ("export", "--out", "{out}/leads.csv"),
    ("export", "--table", "accounts", "--with", "engagement", "--out", "{out}/accounts.parquet"),
    ("export", "--with", "fields,engagement", "--out", "{out}/leads.parquet", "--accounts-out", "{out}/accounts.csv"),
    ("export", "--audience", "mm_vp_sales", "--out", "{out}/members.jsonl"),
    ("insights",), ("suggest", "--json"),
    ("score", RULES, "--out", "{out}/scores.parquet"), ("diff", RULES, RULES, "--out", "{out}/diff.csv"),
)


def _read_everything(path, out, lead: str, account: str) -> list:
    """Every command of READS: its exit code, what it printed, and the files it wrote (then removed)."""
    from cli_support import run as cli

    answers = []
    for command in READS:
        args = [str(a).format(out=out, lead=lead, account=account) for a in command] + ["--db", str(path)]
        result = cli(*args)
        written = {f.name: f.read_bytes() for f in sorted(out.iterdir())}
        for f in out.iterdir():
            f.unlink()
        # (a run's elapsed time, the one thing that may differ)
        answers.append((command, result.exit_code, re.sub(r"\b\d+\.\d+s\b", "T", result.output), written))
    return answers


def test_readers_print_the_same_while_a_server_holds_the_workspace(built, tmp_path, rules, records):
    """Each read command prints (and writes) exactly what it does without a server, answered
    through the server holding the workspace; a writer still gets the one line naming it."""
    path, out = tmp_path / "w.duckdb", tmp_path / "out"
    out.mkdir()
    shutil.copy(built, path)
    accounts, leads, _ = records
    lead, account = leads.column("lead_id")[0].as_py(), leads.column("account_id")[0].as_py()
    with Workspace(path) as ws:  # outcomes (for insights and suggest) and a score change (for history)
        ws.ingest(outcomes=sample.outcomes(ws.export("lead"), as_of=AS_OF))
        ws.ingest(accounts=pa.table({"account_id": [account], "employees": [40_000]}))
    alone = _read_everything(path, out, lead, account)
    assert all(code == 0 for command, code, _, _ in alone if "no-such-lead" not in command
               and "no_such_audience" not in command), [a[:3] for a in alone if a[1]]
    process, url = start(path)
    try:
        served = _read_everything(path, out, lead, account)
        from cli_support import run as cli

        writer = cli("refresh", "--db", str(path))
        assert writer.exit_code == 1 and url in writer.output and len(writer.output.strip().splitlines()) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    for (command, *without), (_, *with_server) in zip(alone, served):
        assert with_server == without, command
