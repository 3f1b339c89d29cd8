"""The workspace in a browser: the pages `unstuck serve` mounts at `/`, driven in Debian's Chromium
through Playwright, each scenario compared with the workspace itself (its DuckDB tables, the
CLI's `explain --json`, `Workspace.audience`). One server on 127.0.0.1 and one browser per
session; every page is checked for console errors and dialogs (an injected script would raise
one). Screenshots of each page go to the session's temporary folder."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import urllib.error
import urllib.request

import duckdb
import pyarrow as pa
import pytest

from unstuck_dsl import sample
from unstuck_dsl.workspace import Workspace

from cli_support import RULES, run
from test_serve import start as start_server

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
TOKEN = "web-test-token"
AS_OF = dt.date(2026, 11, 26)
HOSTILE = {"L000000000": "<img src=x onerror=alert(1)>", "L000000001": '"><script>alert(1)</script>',
           "L000000002": "{{ 7*7 }} ${7*7} <b>bold</b>"}
SEED_ACCOUNT = {"account_id": "SEED1", "industry": "software", "employees": 240, "country": "US",
                "tech_stack": ["Snowflake"], "funding_stage": "Series B", "hired_ciso_on": dt.date(2026, 3, 1),
                "is_competitor": False}
WAIT_MS = 20_000
COMPILE_WAIT_MS = 180_000  # a new ruleset (preview, publish) compiles its kernels: tens of seconds on a busy machine


def _with_row(table: pa.Table, row: dict) -> pa.Table:
    extra = pa.Table.from_pylist([{c: row.get(c) for c in table.column_names}], schema=table.schema)
    return pa.concat_tables([table, extra])


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    """300 sample accounts (and the seed's drawer account), their leads with hostile titles,
    signals and outcomes, published from rules/; then one account changed in the store without
    re-scoring, so re-qualifying it has something to fix. Returns what the tests compare with,
    read before the server takes the file."""
    folder = tmp_path_factory.mktemp("web")
    path = folder / "ws.duckdb"
    accounts, leads = sample.generate(300)
    accounts = _with_row(accounts, SEED_ACCOUNT)
    titles = leads.column("title").to_pylist()
    for i, text in enumerate(HOSTILE.values()):
        titles[i] = text
    leads = leads.set_column(leads.column_names.index("title"), "title", pa.array(titles, leads.schema.field("title").type))
    with Workspace(path) as ws:
        ws.publish(str(RULES), message="web test", as_of=AS_OF)
        ws.ingest(accounts=accounts, leads=leads, signals=sample.signals(leads))
        ws.ingest(outcomes=sample.outcomes(ws.export("lead")))
        hot = ws.audience("hot")
    explain = {}
    for lead in ("L000000384", "L000000140"):
        result = run("explain", "--db", path, "--lead", lead, "--json")
        assert result.exit_code == 0, result.output
        explain[lead] = json.loads(result.output)
    seed = run("explain", "--db", path, "--account", "SEED1", "--json")
    assert seed.exit_code == 0, seed.output
    explain["SEED1"] = json.loads(seed.output)
    with duckdb.connect(str(path)) as db:
        lead_scores = db.execute("SELECT lead_id, icp_code, icp_score, persona_code, persona_score, persona_band "
                                 "FROM lead_scores").fetchall()
        # One account becomes a competitor in the store behind the workspace's back: its stored scores go stale.
        # (Not one in the first pages the list tests compare, nor the seed's.)
        scored = [r[0] for r in db.execute(
            "SELECT DISTINCT account_id FROM lead_scores WHERE icp_score IS NOT NULL AND account_id LIKE 'A%' "
            "AND account_id NOT IN (SELECT account_id FROM lead_scores ORDER BY coalesce(icp_score, -1) DESC, "
            "lead_id LIMIT 200) ORDER BY account_id").fetchall()]
        stale = scored[len(scored) // 2]
        db.execute("UPDATE accounts SET is_competitor = true WHERE account_id = ?", [stale])
        stale_leads = [r[0] for r in db.execute("SELECT lead_id FROM lead_scores WHERE account_id = ? ORDER BY lead_id",
                                                [stale]).fetchall()]
    with Workspace(path, read_only=True) as ws:
        audiences = {a.code: ws.audience(a.code).num_rows for a in ws.compiled.model.audiences}
    preview = run("score", RULES, "--db", path, "--preview", "ent_finserv", "--out", folder / "preview_leads.csv",
                  "--accounts-out", folder / "preview_accounts.csv", "--as-of", AS_OF.isoformat())
    assert preview.exit_code == 0, preview.output
    with open(folder / "preview_accounts.csv", newline="") as f:
        draft_takes = sum(1 for row in csv.DictReader(f) if row["preview_icp_code"] == "ent_finserv")
    return {"path": path, "folder": folder, "lead_scores": lead_scores, "explain": explain, "hot": hot,
            "stale_leads": stale_leads, "audiences": audiences, "draft_takes": draft_takes}


@pytest.fixture(scope="session")
def server(workspace):
    """`unstuck serve` on a free loopback port (as tests/test_serve.py starts it); the URL."""
    process, url = start_server(workspace["path"], token=TOKEN)
    yield url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright (never Playwright's own download). Skipped, saying
    why, only when Chromium is not installed or cannot start (`make test` installs it)."""
    from playwright.sync_api import Error, sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (make test installs it: apt-get install chromium)")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        except Error as exc:
            pytest.skip(f"Chromium at {CHROMIUM} cannot start: {str(exc).splitlines()[0]}")
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


class Tab:
    """One page in a fresh context (its own sessionStorage), recording console errors and dialogs."""

    def __init__(self, browser, server, token: bool):
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.server = server
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))
        if token:
            self.open(f"#token={TOKEN}")

    def open(self, fragment: str, ready: str | None = None):
        self.page.goto("about:blank")  # a full load each time (sessionStorage, the token, stays with the tab)
        self.page.goto(f"{self.server}/{fragment}")
        self.page.wait_for_selector("main[data-ready]")
        state = self.page.get_attribute("main", "data-ready")
        assert state != "error", self.page.text_content("#message")
        if ready:
            assert state == ready
        return self.page

    def rows(self) -> list[dict]:
        return self.page.eval_on_selector_all("#records tbody tr", """rows => rows.map(r => Object.fromEntries(
            [["id", r.dataset.id], ...[...r.querySelectorAll('td[data-col]')].map(td => [td.dataset.col, td.textContent])]))""")

    def close(self):
        self.context.close()


@pytest.fixture
def tab(browser, server):
    tab = Tab(browser, server, token=True)
    yield tab
    problems = tab.problems
    tab.close()
    assert not problems, problems


def _sorted(scores, column: int, limit: int = 50):
    """The store's order for a score: highest first, unknown last, ties by id (as the API sorts)."""
    ranked = sorted(scores, key=lambda r: (-(r[column] if r[column] is not None else -1), r[0]))
    return [(r[0], r[column]) for r in ranked[:limit]]


def _shown(value: str):
    return None if value == "—" else int(value)


def test_leads_sorted_by_icp_score_equal_the_store_and_page_forward_and_back(tab, workspace, shots):
    page = tab.open("#/leads?sort=-icp_score", "leads")
    expected = _sorted(workspace["lead_scores"], 2, 100)
    first = [(r["id"], _shown(r["icp_score"])) for r in tab.rows()]
    assert first == expected[:50]
    page.screenshot(path=shots / "leads.png")
    page.click("#next-page")
    page.wait_for_selector("#list-info:text-matches('^Rows 51')")
    assert [(r["id"], _shown(r["icp_score"])) for r in tab.rows()] == expected[50:100]
    page.click("#prev-page")
    page.wait_for_selector("#list-info:text-matches('^Rows 1–')")
    assert [(r["id"], _shown(r["icp_score"])) for r in tab.rows()] == expected[:50]


def test_sorting_by_persona_score_from_the_column_header(tab, workspace):
    page = tab.open("#/leads", "leads")
    page.click("a[data-sort=persona_score]")
    page.wait_for_selector("a[data-sort=persona_score][aria-sort=descending]")
    assert [(r["id"], _shown(r["persona_score"])) for r in tab.rows()] == _sorted(workspace["lead_scores"], 4)


def test_filters_by_icp_and_persona_band(tab, workspace):
    page = tab.open("#/leads", "leads")
    page.select_option("#filter-icp", "smb_saas")
    page.select_option("#filter-persona_band", "strong")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**persona_band=strong**")
    page.wait_for_selector("#filter-persona_band option[value=strong][selected]", state="attached")
    page.wait_for_selector("#list-info:text-matches('^Rows')")
    expected = sorted(((r[0], r[2]) for r in workspace["lead_scores"] if r[1] == "smb_saas" and r[5] == "strong"),
                      key=lambda r: (-r[1], r[0]))
    assert 0 < len(expected) <= 50
    assert [(r["id"], _shown(r["icp_score"])) for r in tab.rows()] == expected


def test_download_this_view_as_csv_holds_every_row_of_the_view(tab, workspace):
    page = tab.open("#/leads?icp=mm_saas&sort=-persona_score", "leads")
    with page.expect_download() as download:
        page.click("#download-csv")
    rows = list(csv.DictReader(open(download.value.path(), newline="")))
    expected = _sorted([r for r in workspace["lead_scores"] if r[1] == "mm_saas"], 4, limit=10_000)
    assert len(expected) > 50  # more than one page
    assert [(r["lead_id"], int(r["persona_score"]) if r["persona_score"] else None) for r in rows] == expected


def test_bulk_requalify_from_a_selection(tab):
    page = tab.open("#/leads", "leads")
    assert page.is_disabled("#bulk-requalify")
    boxes = page.locator("#records tbody input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    assert page.text_content("#bulk-requalify") == "Re-qualify selected (2)"
    page.click("#bulk-requalify")
    page.wait_for_selector("#message.info:has-text('Re-qualified 2 leads')")


def test_the_drawer_equals_unstuck_explain_row_for_row(tab, workspace, shots):
    for lead in ("L000000384", "L000000140"):
        page = tab.open(f"#/lead/{lead}", "lead")
        for kind in ("icp", "persona"):
            page.click(f"#{kind}-score")
            page.wait_for_selector("#drawer:not([hidden])")
            blocks = page.eval_on_selector_all("#drawer .breakdown", """bs => bs.map(b => ({code: b.dataset.code,
                rows: [...b.querySelectorAll('tbody tr')].map(tr => [...tr.children].map(c => c.textContent)),
                sentence: b.querySelector('.normalization').textContent}))""")
            explained = workspace["explain"][lead][f"{kind}s"]
            assert [b["code"] for b in blocks] == [b["code"] for b in explained]
            for block, breakdown in zip(blocks, explained):
                parameters = [row for row in block["rows"] if row[0] != "Subtotal" or row[1] != ""]
                assert parameters == [[p["parameter"], p["mode"], p["value"],
                                       str(p["weight"]) if p["mode"] == "Score" else "—", p["result"]]
                                      for p in breakdown["parameters"]]
                subtotal = [row for row in block["rows"] if row[0] == "Subtotal" and row[1] == ""]
                assert subtotal == [["Subtotal", "", "", str(breakdown["possible"]),
                                     f"{breakdown['earned']} / {breakdown['possible']}"]]
            if kind == "icp" and lead == "L000000384":
                page.screenshot(path=shots / "drawer.png")
            page.keyboard.press("Escape")
            page.wait_for_selector("#drawer", state="hidden")
            assert page.evaluate("() => document.activeElement.id") == f"{kind}-score"  # focus back where it was
    page = tab.open("#/account/SEED1", "account")
    page.click("#icp-score")
    assert page.text_content("#drawer .breakdown .normalization") == "17 / 20 normalizes to 85 / 100 on the ICP score field."
    assert page.text_content("#drawer .breakdown tr.subtotal") == "Subtotal2017 / 20"


def test_audience_member_count_and_histograms_equal_the_workspace(tab, workspace, shots):
    page = tab.open("#/audiences/hot", "audiences")
    page.wait_for_selector("details[data-name=hot] .member-count")
    hot = workspace["hot"].to_pylist()
    assert page.get_attribute("details[data-name=hot] .member-count", "data-count") == str(len(hot))
    groups = {}
    for row in hot:
        groups.setdefault((row["icp_code"], row["persona_code"]), []).append(row)
    for (icp, persona), members in groups.items():
        for field in ("icp_score", "persona_score"):
            bins = [0] * 10
            for row in members:
                bins[min(row[field] // 10, 9)] += 1
            shown = page.eval_on_selector_all(
                f"details[data-name=hot] .composition[data-icp='{icp}'][data-persona='{persona}'] "
                f"figure[data-field={field}] text.count", "ts => ts.map(t => Number(t.textContent))")
            assert shown == bins, (icp, persona, field)
    assert page.eval_on_selector_all("details[data-name=hot] table.members tbody tr", "rs => rs.length") == len(hot)
    page.screenshot(path=shots / "audiences.png", full_page=True)


def test_every_audience_shows_its_member_count(tab, workspace):
    page = tab.open("#/audiences", "audiences")
    for code, members in workspace["audiences"].items():
        page.wait_for_selector(f"details[data-name={code}] summary .count[data-count]")
        assert page.get_attribute(f"details[data-name={code}] summary .count", "data-count") == str(members)


def test_a_draft_icp_shows_what_it_would_take_if_published(tab, workspace):
    page = tab.open("#/tree", "tree")
    page.click("li[data-code=ent_finserv] button")
    page.wait_for_selector("#preview-ent_finserv .count")
    assert workspace["draft_takes"] > 0
    assert page.get_attribute("#preview-ent_finserv .count", "data-count") == str(workspace["draft_takes"])


def test_hostile_record_text_shows_as_text(tab, workspace):
    for lead, title in HOSTILE.items():
        page = tab.open(f"#/lead/{lead}", "lead")
        assert page.text_content("h1 .subtitle") == f" · {title}"
        assert page.eval_on_selector_all("main img, main script, main b", "els => els.length") == 0
    page = tab.open("#/leads", "leads")
    page.fill("#search", "<img")
    page.click("form.search button")
    page.wait_for_selector("#search-results li a")
    assert page.text_content("#search-results li") == "L000000000 · <img src=x onerror=alert(1)>"
    assert page.eval_on_selector_all("main img", "els => els.length") == 0


def test_pages_carry_a_content_security_policy_and_reads_change_nothing(server):
    with urllib.request.urlopen(server + "/", timeout=10) as response:
        policy = response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    for path in ("/api/rules", "/api/qualification", "/api/search?kind=lead&q=L0000"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(server + path, method="POST", data=b"{}",
                                                          headers={"Content-Type": "application/json"}), timeout=10)
        assert refused.value.code == 405


def test_pages_load_without_errors_and_are_screenshotted(tab, shots):
    for fragment, name in (("#/tree", "tree"), ("#/accounts", "accounts"), ("#/insights", "insights"),
                           ("#/rules", "rules"), ("#/lead/L000000384", "lead")):
        page = tab.open(fragment, name)
        page.screenshot(path=shots / f"{name}.png", full_page=True)
    page = tab.open("#/tree", "tree")
    assert page.text_content("li[data-code=mm_saas] > .tree-row .tree-title") == "Mid-market SaaS (ICP)"
    assert "draft" in page.text_content("li[data-code=ent_finserv]")
    assert page.locator("li.no-fit").count() == 2


def test_the_qualification_tree_counts_equal_the_store(tab, workspace):
    page = tab.open("#/tree", "tree")
    for persona in ("founder", "vp_sales"):
        expected = sum(1 for r in workspace["lead_scores"] if r[1] == "mm_saas" and r[3] == persona)
        shown = page.get_attribute(f"li[data-code=mm_saas] li[data-code={persona}] .count", "data-count")
        assert shown == str(expected)


def test_a_write_without_the_token_is_refused_and_changes_nothing(browser, server, workspace):
    tab = Tab(browser, server, token=False)
    try:
        lead = workspace["stale_leads"][0]
        page = tab.open(f"#/lead/{lead}", "lead")
        assert page.is_visible("#token-note")
        assert page.is_disabled("#requalify")
        before = page.text_content("#icp-score")
        status = page.evaluate("""id => fetch('/api/requalify', {method: 'POST', headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({leads: [id]})}).then(r => r.status)""", lead)
        assert status == 401
        page = tab.open(f"#/lead/{lead}", "lead")
        assert page.text_content("#icp-score") == before
        tab.problems = [p for p in tab.problems if "401" not in p]  # the refused fetch is logged by the browser
        assert not tab.problems, tab.problems
    finally:
        tab.close()


def test_requalify_this_lead_updates_the_stored_score_after_the_data_changed(tab, workspace):
    lead = workspace["stale_leads"][0]
    page = tab.open(f"#/lead/{lead}", "lead")
    before = page.text_content("#icp-score")
    assert before != "—"
    page.click("#requalify")
    page.wait_for_selector("#message.info")
    page.wait_for_selector("main[data-ready=lead]")
    page.wait_for_selector(".qualification:has-text('No ICP fit')")
    # The competitor is now excluded from every ICP: the stored qualification says so.
    assert page.locator("#icp-score").count() == 0
    assert "No ICP fit" in page.text_content(".qualification")


def test_rules_editor_diagnostics_preview_equal_to_a_dry_run_then_publish(tab, server):
    """Last: publishing re-scores every record."""
    page = tab.open("#/rules", "rules")
    page.wait_for_selector("#diagnostics p.ok, #diagnostics ul")
    text = page.input_value("#draft")
    misspelt = text.replace("tech_stack has \"Snowflake\"", "tech_stak has \"Snowflake\"", 1)
    assert misspelt != text
    page.fill("#draft", misspelt)
    page.wait_for_selector("#diagnostics li.diag.error")
    assert "tech_stak" in page.text_content("#diagnostics li.diag.error")
    heavier = text.replace('score 5 "Uses Snowflake"', 'score 9 "Uses Snowflake"', 1)
    page.fill("#draft", heavier)
    page.wait_for_selector("#diagnostics p.ok")
    page.click("#preview-button")
    page.wait_for_selector("#preview-changed", timeout=COMPILE_WAIT_MS)
    request = urllib.request.Request(server + "/api/publish", method="POST",
                                     data=json.dumps({"rules": heavier, "dry_run": True}).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    dry_run = json.loads(urllib.request.urlopen(request, timeout=COMPILE_WAIT_MS / 1000).read())
    assert int(page.text_content("#preview-changed")) == dry_run["diff"]["changed"] > 0
    mover = page.locator("table.diff-movers tbody tr").first
    lead, new_score = mover.get_attribute("data-id"), mover.get_attribute("data-new-icp-score")
    page.fill("#publish-message", "Snowflake counts more")
    page.click("#publish-button")
    page.wait_for_selector("#message.info:has-text('Published')", timeout=COMPILE_WAIT_MS)
    page = tab.open(f"#/lead/{lead}", "lead")
    assert page.text_content("#icp-score") == new_score
    page.wait_for_selector("#status:has-text('ruleset v2')")
