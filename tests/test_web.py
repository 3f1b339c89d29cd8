"""The workspace in a browser: the pages `unstuck serve` renders at `/`, driven in Debian's
Chromium through Playwright, each scenario compared with the CLI on the same workspace (`unstuck
export`, `explain --json`, `audience --composition`, `diff`, `score --preview`), computed before the
server takes the file. One server on 127.0.0.1 and one browser per session; every page is checked
for console errors and dialogs (an injected script would raise one). Screenshots of each page go
to the session's temporary folder (with UNSTUCK_WRITE_DOCS_IMAGES=1 the drawer's also replaces
docs/images/web-drawer.png).

Below them, tests without a browser (Starlette's TestClient over the same app): a write without
the session cookie or its CSRF token is refused and changes nothing, no GET changes anything,
and record values are escaped in elements, attributes and SVG."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from unstuck_dsl import sample
from unstuck_dsl.web.session import COOKIE
from unstuck_dsl.workspace import Workspace

from cli_support import RULES, run
from test_serve import start as start_server

browser_test = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
TOKEN = "web-test-token"
AS_OF = dt.date(2026, 11, 26)
DOCS_IMAGE = Path(__file__).resolve().parent.parent / "docs" / "images" / "web-drawer.png"
HOSTILE = {"L000000000": "<img src=x onerror=alert(1)>", "L000000001": '"><script>alert(1)</script>',
           "L000000002": "{{ 7*7 }} ${7*7} <b>bold</b>"}
SEED_ACCOUNT = {"account_id": "SEED1", "industry": "software", "employees": 240, "country": "US",
                "tech_stack": ["Snowflake"], "funding_stage": "Series B", "hired_ciso_on": dt.date(2026, 3, 1),
                "is_competitor": False}
SNOWFLAKE, HEAVIER = 'score 5 "Uses Snowflake"', 'score 9 "Uses Snowflake"'
WAIT_MS = 20_000
COMPILE_WAIT_MS = 180_000  # a new ruleset (preview, publish) compiles its kernels: tens of seconds on a busy machine


def _with_row(table: pa.Table, row: dict) -> pa.Table:
    extra = pa.Table.from_pylist([{c: row.get(c) for c in table.column_names}], schema=table.schema)
    return pa.concat_tables([table, extra])


def _build(path: Path, accounts: int = 300, hostile: dict | None = None) -> None:
    """Sample accounts (and the seed's drawer account), their leads with hostile titles, signals and
    outcomes, published from rules/."""
    accounts, leads = sample.generate(accounts)
    accounts = _with_row(accounts, SEED_ACCOUNT)
    titles = leads.column("title").to_pylist()
    for i, text in enumerate((hostile or HOSTILE).values()):
        titles[i] = text
    leads = leads.set_column(leads.column_names.index("title"), "title", pa.array(titles, leads.schema.field("title").type))
    with Workspace(path) as ws:
        ws.publish(str(RULES), message="web test", as_of=AS_OF)
        ws.ingest(accounts=accounts, leads=leads, signals=sample.signals(leads))
        ws.ingest(outcomes=sample.outcomes(ws.export("lead")))


def _composition(output: str) -> tuple[int, dict]:
    """`unstuck audience --composition` read back: the member count, and per (ICP, Persona) group
    its member count and each score's ten bins."""
    total = int(re.search(r"audience \S+: (\d+) members", output).group(1))
    groups, group, field = {}, None, None
    for line in output.splitlines():
        heading = re.match(r"ICP (\S+) / Persona (\S+): (\d+) members", line)
        if heading:
            group = (heading.group(1), heading.group(2))
            groups[group] = {"members": int(heading.group(3))}
        elif line.strip() in ("icp_score", "persona_score"):
            field = line.strip()
            groups[group][field] = []
        elif re.match(r"\s*\d+–\d+\s+\d+", line) and group is not None:
            groups[group][field].append(int(line.split()[1]))
    return total, groups


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    """The sample workspace, then one account changed in the store without re-scoring (so
    re-qualifying it has something to fix); and what the tests compare with, from the CLI, read
    before the server takes the file."""
    folder = tmp_path_factory.mktemp("web")
    path = folder / "ws.duckdb"
    _build(path)
    explain = {}
    for kind, record in (("lead", "L000000384"), ("lead", "L000000140"), ("account", "SEED1")):
        result = run("explain", "--db", path, f"--{kind}", record, "--json")
        assert result.exit_code == 0, result.output
        explain[record] = json.loads(result.output)
    exported = run("export", "--db", path, "--out", folder / "leads.csv")
    assert exported.exit_code == 0, exported.output
    with open(folder / "leads.csv", newline="") as f:
        export = [{k: row[k] for k in ("lead_id", "icp_code", "icp_score", "persona_code", "persona_score",
                                       "persona_band")} for row in csv.DictReader(f)]
    for row in export:
        row["icp_score"] = int(row["icp_score"]) if row["icp_score"] else None
        row["persona_score"] = int(row["persona_score"]) if row["persona_score"] else None
    with duckdb.connect(str(path)) as db:
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
        heavier = ws.published.text.replace(SNOWFLAKE, HEAVIER, 1)
    assert SNOWFLAKE in ws.published.text
    composition = run("audience", "--db", path, "hot", "--composition")
    assert composition.exit_code == 0, composition.output
    (folder / "heavier.ust").write_text(heavier)
    diff = run("diff", RULES, folder / "heavier.ust", "--db", path, "--as-of", AS_OF.isoformat())
    assert diff.exit_code == 0, diff.output
    preview = run("score", RULES, "--db", path, "--preview", "ent_finserv", "--out", folder / "preview_leads.csv",
                  "--accounts-out", folder / "preview_accounts.csv", "--as-of", AS_OF.isoformat())
    assert preview.exit_code == 0, preview.output
    with open(folder / "preview_accounts.csv", newline="") as f:
        draft_takes = sum(1 for row in csv.DictReader(f) if row["preview_icp_code"] == "ent_finserv")
    return {"path": path, "folder": folder, "export": export, "explain": explain,
            "composition": _composition(composition.output), "stale_leads": stale_leads, "audiences": audiences,
            "draft_takes": draft_takes, "diff_changed": int(re.search(r"(\d+) of \d+ leads would change", diff.output).group(1))}


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
    """One page in a fresh context (its own cookies), signed in through the start-up address when
    `signed_in`, recording console errors and dialogs."""

    def __init__(self, browser, server, signed_in: bool, javascript: bool = True):
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True,
                                           java_script_enabled=javascript)
        self.page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.server = server
        self.problems: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("dialog", lambda d: (self.problems.append(f"dialog: {d.message}"), d.dismiss()))
        if signed_in:
            self.page.goto(f"{server}/?token={TOKEN}")
            assert "token=" not in self.page.url  # the token leaves the address bar

    def open(self, path: str, page: str | None = None):
        answer = self.page.goto(self.server + path)
        assert answer.status == 200, self.page.text_content("main")
        if page:
            assert self.page.get_attribute("main", "data-page") == page
        return self.page

    def rows(self) -> list[dict]:
        return self.page.eval_on_selector_all("#records tbody tr", """rows => rows.map(r => Object.fromEntries(
            [["id", r.dataset.id], ...[...r.querySelectorAll('td[data-col]')].map(td => [td.dataset.col, td.textContent.trim()])]))""")

    def close(self):
        self.context.close()


@pytest.fixture
def tab(browser, server):
    tab = Tab(browser, server, signed_in=True)
    yield tab
    problems = tab.problems
    tab.close()
    assert not problems, problems


def _sorted(rows: list[dict], column: str, limit: int = 50) -> list[tuple]:
    """`unstuck export` sorted as the list sorts: highest first, unknown last, ties by id."""
    ranked = sorted(rows, key=lambda r: (-(r[column] if r[column] is not None else -1), r["lead_id"]))
    return [(r["lead_id"], r[column]) for r in ranked[:limit]]


def _shown(value: str):
    return None if value == "—" else int(value)


@browser_test
def test_leads_sorted_by_icp_score_equal_unstuck_export_and_page_forward_and_back(tab, workspace, shots):
    page = tab.open("/leads?sort=-icp_score", "leads")
    expected = _sorted(workspace["export"], "icp_score", 100)
    assert [(r["id"], _shown(r["icp_score"])) for r in tab.rows()] == expected[:50]
    row = tab.rows()[0]
    assert row["title"] and row["stage"] and row["engagement_score"] and row["icp_band"]  # the row's title, stage chip
    page.screenshot(path=shots / "leads.png")
    page.click("#next-page")
    page.wait_for_selector("#list-info:text-matches('^Rows 51')")
    assert [(r["id"], _shown(r["icp_score"])) for r in tab.rows()] == expected[50:100]
    page.click("#prev-page")
    page.wait_for_selector("#list-info:text-matches('^Rows 1–')")
    assert [(r["id"], _shown(r["icp_score"])) for r in tab.rows()] == expected[:50]
    assert page.locator("#prev-page").count() == 0


@browser_test
def test_sorting_by_persona_score_from_the_column_header(tab, workspace):
    page = tab.open("/leads", "leads")
    page.click("a[data-sort=persona_score]")
    page.wait_for_selector("th[aria-sort=descending] a[data-sort=persona_score]")
    assert [(r["id"], _shown(r["persona_score"])) for r in tab.rows()] == _sorted(workspace["export"], "persona_score")
    page.click("a[data-sort=persona_score]")
    page.wait_for_selector("th[aria-sort=ascending] a[data-sort=persona_score]")


@browser_test
def test_filters_by_icp_and_persona_band_are_a_bookmarkable_address(tab, workspace):
    page = tab.open("/leads", "leads")
    page.select_option("#filter-icp", "smb_saas")
    page.select_option("#filter-persona_band", "strong")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**persona_band=strong**")
    expected = sorted(((r["lead_id"], r["icp_score"]) for r in workspace["export"]
                       if r["icp_code"] == "smb_saas" and r["persona_band"] == "strong"), key=lambda r: (-r[1], r[0]))
    assert 0 < len(expected) <= 50
    assert [(r["id"], _shown(r["icp_score"])) for r in tab.rows()] == expected
    bookmarked = page.url
    page = tab.open(urllib.parse.urlsplit(bookmarked).path + "?" + urllib.parse.urlsplit(bookmarked).query, "leads")
    assert [(r["id"], _shown(r["icp_score"])) for r in tab.rows()] == expected
    assert page.eval_on_selector("#filter-persona_band", "s => s.value") == "strong"


@browser_test
def test_download_this_view_as_csv_holds_every_row_of_the_view(tab, workspace):
    page = tab.open("/leads?icp=mm_saas&sort=-persona_score", "leads")
    with page.expect_download() as download:
        page.click("#download-csv")
    rows = list(csv.DictReader(open(download.value.path(), newline="")))
    expected = _sorted([r for r in workspace["export"] if r["icp_code"] == "mm_saas"], "persona_score", limit=10_000)
    assert len(expected) > 50  # more than one page
    assert [(r["lead_id"], int(r["persona_score"]) if r["persona_score"] else None) for r in rows] == expected


@browser_test
def test_bulk_requalify_from_a_selection(tab):
    page = tab.open("/leads", "leads")
    assert page.is_disabled("#bulk-requalify")
    boxes = page.locator("#records tbody input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    assert page.text_content("#bulk-requalify") == "Re-qualify selected (2)"
    chosen = [boxes.nth(i).get_attribute("value") for i in (0, 1)]
    page.click("#bulk-requalify")
    page.wait_for_selector("#message:has-text('Re-qualified 2 leads')")
    assert urllib.parse.urlsplit(page.url).path == "/leads"  # back on the list (the form redirected)
    page.check("#select-all")
    assert page.text_content("#bulk-requalify") == "Re-qualify selected (50)"
    assert chosen[0] != chosen[1]


@browser_test
def test_the_drawer_equals_unstuck_explain_row_for_row(tab, workspace, shots):
    for lead in ("L000000384", "L000000140"):
        page = tab.open(f"/leads/{lead}", "leads")
        for kind in ("icp", "persona"):
            page.click(f"#{kind}-score")
            page.wait_for_selector(f"#drawer-{kind}:not([hidden])")
            assert urllib.parse.urlsplit(page.url).path == f"/leads/{lead}"  # opened in place, not loaded
            blocks = page.eval_on_selector_all(f"#drawer-{kind} .breakdown", """bs => bs.map(b => ({code: b.dataset.code,
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
                if os.environ.get("UNSTUCK_WRITE_DOCS_IMAGES") == "1":
                    shutil.copy(shots / "drawer.png", DOCS_IMAGE)
            page.keyboard.press("Escape")
            page.wait_for_selector(f"#drawer-{kind}", state="hidden")
            assert page.evaluate("() => document.activeElement.id") == f"{kind}-score"  # focus back where it was
    page = tab.open("/accounts/SEED1", "accounts")
    page.click("#icp-score")
    assert page.text_content("#drawer-icp .breakdown .normalization") == \
        "17 / 20 normalizes to 85 / 100 on the ICP score field."
    assert page.text_content("#drawer-icp .breakdown tr.subtotal") == "Subtotal2017 / 20"
    assert workspace["explain"]["SEED1"]["icps"][0]["score"] == 85


@browser_test
def test_pages_read_without_javascript(browser, server, workspace):
    """The drawer is a page of its own (?drawer=icp) and the list pages by links: no script needed."""
    tab = Tab(browser, server, signed_in=False, javascript=False)
    try:
        page = tab.open("/leads/L000000384", "leads")
        assert page.is_hidden("#drawer-icp")
        page.click("#icp-score")
        page.wait_for_url("**drawer=icp")
        assert page.is_visible("#drawer-icp")
        assert page.text_content("#drawer-icp .breakdown .normalization").endswith("on the ICP score field.")
        page.click("#drawer-icp [data-close]")
        page.wait_for_selector("#drawer-icp", state="hidden")
        page = tab.open("/leads?sort=-icp_score", "leads")
        page.click("#next-page")
        page.wait_for_selector("#list-info:text-matches('^Rows 51')")
        assert [r["id"] for r in tab.rows()] == [r[0] for r in _sorted(workspace["export"], "icp_score", 100)[50:]]
        assert not tab.problems, tab.problems
    finally:
        tab.close()


@browser_test
def test_audience_member_count_and_histograms_equal_unstuck_audience_composition(tab, workspace, shots):
    page = tab.open("/audiences/hot", "audiences")
    total, groups = workspace["composition"]
    assert page.get_attribute("#audience .member-count", "data-count") == str(total)
    shown = page.eval_on_selector_all("#audience .composition", """cs => cs.map(c => ({icp: c.dataset.icp,
        persona: c.dataset.persona, members: Number(c.querySelector('h4').textContent.match(/: (\\d+) members/)[1]),
        fields: Object.fromEntries([...c.querySelectorAll('figure')].map(f => [f.dataset.field,
            [...f.querySelectorAll('text.count')].map(t => Number(t.textContent))]))}))""")
    assert {(g["icp"], g["persona"]): {"members": g["members"], **g["fields"]} for g in shown} == groups
    assert page.eval_on_selector_all("#audience table.members tbody tr", "rs => rs.length") == min(total, 50)
    page.screenshot(path=shots / "audiences.png", full_page=True)
    with page.expect_download() as download:
        page.click("#audience .download-members")
    assert len(list(csv.DictReader(open(download.value.path(), newline="")))) == total


@browser_test
def test_every_audience_shows_its_member_count(tab, workspace):
    page = tab.open("/audiences", "audiences")
    for code, members in workspace["audiences"].items():
        assert page.get_attribute(f"tr[data-name={code}] .count", "data-count") == str(members)


@browser_test
def test_a_draft_icp_shows_what_it_would_take_if_published(tab, workspace):
    page = tab.open("/tree", "tree")
    page.click("li[data-code=ent_finserv] .preview-link")
    page.wait_for_selector("#preview-ent_finserv .count")
    assert workspace["draft_takes"] > 0
    assert page.get_attribute("#preview-ent_finserv .count", "data-count") == str(workspace["draft_takes"])


@browser_test
def test_hostile_record_text_shows_as_text(tab, workspace):
    for lead, title in HOSTILE.items():
        page = tab.open(f"/leads/{lead}", "leads")
        assert page.text_content("h1 .subtitle") == f" · {title}"
        assert page.eval_on_selector_all("main img, main script, main b", "els => els.length") == 0
    page = tab.open("/leads?q=L00000000", "leads")
    assert [li.strip() for li in page.locator("#search-results li").all_text_contents()][:3] == \
        [f"{lead} · {title}" for lead, title in HOSTILE.items()]
    page = tab.open("/leads?q=" + urllib.parse.quote("<img"), "leads")
    assert page.text_content("#search-results li").strip() == "L000000000 · <img src=x onerror=alert(1)>"
    assert page.input_value("#search") == "<img"
    assert page.eval_on_selector_all("main img, main script, main b", "els => els.length") == 0


@browser_test
def test_pages_carry_a_content_security_policy_and_reads_are_not_writes(server):
    for path in ("/leads", "/rules", "/static/drawer.js"):
        with urllib.request.urlopen(server + path, timeout=10) as response:
            policy = response.headers["Content-Security-Policy"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    for path in ("/leads", "/rules", "/api/rules", "/api/qualification"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(server + path, method="POST", data=b"{}",
                                                          headers={"Content-Type": "application/json"}), timeout=10)
        assert refused.value.code == 405


@browser_test
def test_pages_load_without_errors_and_are_screenshotted(tab, shots):
    for path, name in (("/tree", "tree"), ("/accounts", "accounts"), ("/insights", "insights"),
                       ("/rules", "rules"), ("/leads/L000000384", "lead")):
        page = tab.open(path)
        page.screenshot(path=shots / f"{name}.png", full_page=True)
    page = tab.open("/tree", "tree")
    assert page.text_content("li[data-code=mm_saas] > .tree-row .tree-title") == "Mid-market SaaS (ICP)"
    assert "draft" in page.text_content("li[data-code=ent_finserv]")
    assert page.locator("li.no-fit").count() == 2
    page = tab.open("/insights", "insights")
    assert page.locator("svg.rates circle.point").count() > 0
    assert page.text_content("#suggested-threshold").startswith("Suggested threshold: persona_score >= ")


@browser_test
def test_the_qualification_tree_counts_equal_unstuck_export(tab, workspace):
    page = tab.open("/tree", "tree")
    for persona in ("founder", "vp_sales"):
        expected = sum(1 for r in workspace["export"] if r["icp_code"] == "mm_saas" and r["persona_code"] == persona)
        shown = page.get_attribute(f"li[data-code=mm_saas] li[data-code={persona}] .count", "data-count")
        assert shown == str(expected)


@browser_test
def test_a_write_without_the_session_or_its_csrf_token_is_refused_and_changes_nothing(browser, server, workspace):
    lead = workspace["stale_leads"][0]
    post = """([id, csrf]) => fetch('/requalify', {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'},
        body: new URLSearchParams({kind: 'lead', id, next: '/leads', ...(csrf === null ? {} : {csrf})}), redirect: 'manual'})
        .then(r => r.status)"""
    stranger = Tab(browser, server, signed_in=False)
    signed = Tab(browser, server, signed_in=True)
    try:
        page = stranger.open(f"/leads/{lead}", "leads")
        assert page.is_visible("#token-note") and page.locator("#requalify").count() == 0
        before = page.text_content("#icp-score")
        assert page.evaluate(post, [lead, None]) == 401
        assert page.evaluate(post, [lead, "0" * 64]) == 401  # a CSRF token without the session is nothing
        page = signed.open(f"/leads/{lead}", "leads")
        assert page.evaluate(post, [lead, None]) == 403
        assert page.evaluate(post, [lead, "0" * 64]) == 403
        page = signed.open(f"/leads/{lead}", "leads")
        assert page.text_content("#icp-score") == before
        for tab in (stranger, signed):
            tab.problems = [p for p in tab.problems if "401" not in p and "403" not in p]  # the browser logs refusals
            assert not tab.problems, tab.problems
    finally:
        stranger.close()
        signed.close()


@browser_test
def test_requalify_this_lead_updates_the_stored_score_after_the_data_changed(tab, workspace):
    lead = workspace["stale_leads"][0]
    page = tab.open(f"/leads/{lead}", "leads")
    assert page.text_content("#icp-score") != "—"
    page.click("#requalify")
    page.wait_for_selector("#message:has-text('Re-qualified 1 lead')")
    assert urllib.parse.urlsplit(page.url).path == f"/leads/{lead}"
    # The competitor is now excluded from every ICP: the stored qualification says so.
    assert page.locator(".qualification a.score#icp-score").count() == 0
    assert "No ICP fit" in page.text_content(".qualification")


@browser_test
def test_rules_editor_diagnostics_preview_equal_to_unstuck_diff_then_publish(tab, workspace, shots):
    """Last: publishing re-scores every record."""
    page = tab.open("/rules", "rules")
    page.wait_for_selector("#diagnostics p.ok")
    text = page.input_value("#draft")
    assert SNOWFLAKE in text
    page.fill("#draft", text.replace('tech_stack has "Snowflake"', 'tech_stak has "Snowflake"', 1))
    page.wait_for_selector("#diagnostics li.diag.error")
    assert "tech_stak" in page.text_content("#diagnostics li.diag.error")
    page.fill("#draft", text.replace(SNOWFLAKE, HEAVIER, 1))
    page.wait_for_selector("#diagnostics p.ok")
    with page.expect_navigation(timeout=COMPILE_WAIT_MS):
        page.click("#preview-button")
    assert int(page.text_content("#preview-changed")) == workspace["diff_changed"] > 0
    page.screenshot(path=shots / "rules-preview.png", full_page=True)
    mover = page.locator("table.diff-movers tbody tr").first
    lead, new_score = mover.get_attribute("data-id"), mover.get_attribute("data-new-icp-score")
    page.fill("#publish-message", "Snowflake counts more")
    with page.expect_navigation(timeout=COMPILE_WAIT_MS):
        page.click("#publish-button")
    page.wait_for_selector("#message:has-text('Published')")
    assert page.text_content("#status").startswith("ruleset v2")
    assert "Snowflake counts more" in page.text_content("main")
    icp = next(r["icp_code"] for r in workspace["export"] if r["lead_id"] == lead)
    page = tab.open(f"/leads?icp={icp}&limit=1000", "leads")
    row = next(r for r in tab.rows() if r["id"] == lead)
    assert row["icp_score"] == new_score != str(next(r["icp_score"] for r in workspace["export"] if r["lead_id"] == lead))


# ---- without a browser: the app through Starlette's TestClient ------------------------------------------

HOSTILE_ID = 'L"><b>x</b>'


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A small workspace with hostile titles and a lead whose id is markup; its stale account."""
    path = tmp_path_factory.mktemp("web-unit") / "ws.duckdb"
    _build(path, accounts=40)
    with Workspace(path) as ws:
        lead = ws.export("lead").slice(0, 1).to_pylist()[0]
        fields = [f.name for f in ws.compiled.model.schema.of_kind("lead")]
        ws.ingest(leads=pa.Table.from_pylist([{**{k: lead.get(k) for k in ("lead_id", "account_id", *fields)},
                                               "lead_id": HOSTILE_ID, "title": "<svg onload=alert(1)>"}]))
    with duckdb.connect(str(path)) as db:
        stale = db.execute("SELECT account_id FROM lead_scores WHERE icp_score IS NOT NULL AND account_id LIKE 'A%' "
                           "ORDER BY account_id LIMIT 1").fetchall()[0][0]
        db.execute("UPDATE accounts SET is_competitor = true WHERE account_id = ?", [stale])
    return path, stale


@pytest.fixture
def client(built, tmp_path):
    from starlette.testclient import TestClient

    from unstuck_dsl.serve import create_app

    path = tmp_path / "ws.duckdb"
    shutil.copy(built[0], path)
    workspace = Workspace(path)
    with TestClient(create_app(workspace, TOKEN), base_url="http://127.0.0.1") as client:
        client.stale = built[1]
        client.workspace = workspace
        yield client
    workspace.close()


def _state(client) -> tuple:
    """Everything a write could change: versions, stored scores, history, the workspace's date."""
    db = client.workspace.store.db
    return tuple(db.execute(sql).fetchall() for sql in (
        "SELECT count(*) FROM versions" if _has(db, "versions") else "SELECT 0",
        "SELECT * FROM lead_scores ORDER BY lead_id", "SELECT * FROM account_scores ORDER BY account_id",
        "SELECT count(*) FROM (SELECT * FROM lead_history UNION ALL SELECT * FROM account_history)"
        if _has(db, "lead_history") else "SELECT 0"))


def _has(db, table: str) -> bool:
    return bool(db.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]).fetchall()[0][0])


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]{64})"', html).group(1)


def _sign_in(client) -> str:
    answer = client.get(f"/?token={TOKEN}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/leads"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    return _csrf(client.get("/leads").text)


def _stale_lead(client) -> str:
    return client.workspace.store.db.execute("SELECT min(lead_id) FROM lead_scores WHERE account_id = ?",
                                             [client.stale]).fetchall()[0][0]


def test_a_form_post_without_the_session_or_its_csrf_token_is_refused_and_changes_nothing(client):
    lead = _stale_lead(client)
    form = {"kind": "lead", "id": lead, "next": f"/leads/{lead}"}
    before = _state(client)
    assert client.post("/requalify", data=form, follow_redirects=False).status_code == 401
    assert client.post("/rules/publish", data={"rules": "x\n"}, follow_redirects=False).status_code == 401
    csrf = _sign_in(client)
    for wrong in ({}, {"csrf": ""}, {"csrf": "0" * 64}, {"csrf": csrf[:-1] + ("0" if csrf[-1] != "0" else "1")}):
        answer = client.post("/requalify", data={**form, **wrong}, follow_redirects=False)
        assert answer.status_code == 403 and "CSRF" in answer.text
        assert client.post("/rules/preview", data={"rules": "x\n", **wrong}).status_code == 403
        assert client.post("/rules/publish", data={"rules": "x\n", **wrong}).status_code == 403
    # Another session's token is not this one's; a forged cookie is no session.
    first = client.cookies.get(COOKIE)
    _sign_in(client)  # a second sign-in: a new session, whose forms carry another token
    assert client.cookies.get(COOKIE) != first
    assert client.post("/requalify", data={**form, "csrf": csrf}, follow_redirects=False).status_code == 403
    client.cookies.clear()
    client.cookies.set(COOKIE, first.split(".")[0] + "." + "0" * 64)
    assert client.post("/requalify", data={**form, "csrf": csrf}, follow_redirects=False).status_code == 401
    assert client.get("/?token=wrong", follow_redirects=False).status_code == 403
    assert _state(client) == before
    # The real thing re-scores the stale account's lead.
    _sign_in(client)
    csrf = _csrf(client.get("/leads").text)
    answer = client.post("/requalify", data={**form, "csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/leads/{lead}"
    assert "Re-qualified 1 lead" in client.get(f"/leads/{lead}").text
    assert _state(client) != before


def test_a_form_is_only_ever_sent_to_this_site_after_a_write(client):
    csrf = _sign_in(client)
    lead = _stale_lead(client)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        answer = client.post("/requalify", data={"kind": "lead", "id": lead, "next": target, "csrf": csrf},
                             follow_redirects=False)
        assert answer.headers["location"] == "/leads"


def test_no_get_changes_anything(client):
    paths = ["/", f"/?token={TOKEN}", "/?token=wrong", "/leads", "/leads?sort=persona_score&icp=mm_saas",
             "/accounts", "/leads.csv", "/accounts.csv", f"/leads/{_stale_lead(client)}?drawer=icp",
             f"/accounts/{client.stale}", "/tree", "/tree?preview=ent_finserv", "/audiences", "/audiences/hot",
             "/audiences/hot/members.csv", "/insights", "/rules", "/requalify", "/rules/publish", "/rules/preview",
             "/login"]
    _sign_in(client)
    before = _state(client)
    for path in paths:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code in (200, 303, 403, 405), (path, answer.status_code)
    assert client.get("/requalify").status_code == client.get("/rules/publish").status_code == 405
    assert _state(client) == before


def test_record_values_are_escaped_in_elements_attributes_and_svg(client):
    quoted = urllib.parse.quote(HOSTILE_ID, safe="")
    pages = {"/leads?q=L": None, f"/leads/{quoted}?drawer=icp": None, "/leads?q=" + urllib.parse.quote("<svg"): None,
             "/leads?q=" + urllib.parse.quote('"><b>'): None, "/audiences/hot": None}
    for path in pages:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text)
        html = answer.text
        assert "<b>" not in html and "<svg onload" not in html and "<img src=x" not in html and "<script>alert" not in html
        assert not re.search(r"<script(?![^>]*\bsrc=\"/static/[a-z]+\.js\")", html)  # no inline script at all
        assert answer.headers["Content-Security-Policy"].startswith("default-src 'self'")
    detail = client.get(f"/leads/{quoted}").text
    assert "&lt;svg onload=alert(1)&gt;" in detail and "L&#34;&gt;&lt;b&gt;x&lt;/b&gt;" in detail
    titled = client.get("/leads?q=L000000002").text
    assert "{{ 7*7 }} ${7*7} &lt;b&gt;bold&lt;/b&gt;" in titled and ">49<" not in titled
    # In an attribute: the hostile id in a data-id, a link and a hidden form field stays one quoted value.
    listing = client.get("/leads?q=" + urllib.parse.quote('L"><b>')).text
    assert 'href="/leads/L%22%3E%3Cb%3Ex%3C/b%3E"' in listing
    assert 'value="L&#34;&gt;&lt;b&gt;"' in listing  # the search box keeps the text, quoted


def test_pages_on_an_address_other_than_loopback_need_the_session(built, tmp_path):
    from starlette.testclient import TestClient

    from unstuck_dsl.serve import create_app

    path = tmp_path / "ws.duckdb"
    shutil.copy(built[0], path)
    with Workspace(path) as workspace, TestClient(create_app(workspace, TOKEN, open_reads=False)) as client:
        assert client.get("/leads").status_code == 401
        assert client.get("/leads.csv").status_code == 401
        assert client.get("/audiences/hot/members.csv").status_code == 401
        # The pages' own reads under /api are held to the same rule: the token, or the session.
        for path in ("/api/rules", "/api/qualification", "/api/insights", "/api/search?q=a"):
            assert client.get(path).status_code == 401, path
        assert client.post("/api/check", content=b"icp x {}").status_code == 401
        assert client.get("/api/rules", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        answer = client.post("/login", data={"token": TOKEN, "next": "/tree"}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/tree"
        assert client.get("/tree").status_code == 200
        assert client.get("/api/rules").status_code == 200  # the signed-in browser's check.js reads it


def test_an_audience_that_cannot_be_counted_yet_says_why_and_the_others_are_counted(tmp_path):
    from starlette.testclient import TestClient

    from unstuck_dsl.serve import create_app

    accounts, leads = sample.generate(20)
    with Workspace(tmp_path / "ws.duckdb") as workspace:
        workspace.publish(str(RULES), as_of=AS_OF)
        workspace.ingest(accounts=accounts, leads=leads)  # no signals: engagement is unknown
        counts = {a.code: workspace.audience(a.code).num_rows for a in workspace.compiled.model.audiences
                  if a.code != "engaged_fit"}
        with TestClient(create_app(workspace, TOKEN)) as client:
            answer = client.get("/audiences")
    assert answer.status_code == 200
    assert re.search(r'<tr data-name="engaged_fit">.*?<td class="problem">audience `engaged_fit` reads `stage`, which '
                     r"is unknown without signals", answer.text, re.S)
    for code, members in counts.items():
        assert re.search(rf'<tr data-name="{code}">.*?data-count="{members}"', answer.text, re.S)
