"""`unstuck lsp` end to end: the server runs as a subprocess speaking JSON-RPC over a pipe, as
an editor starts it, and every exchange is bounded in time. A misspelt field in an open (unsaved)
document gets the diagnostic `unstuck check` gives; hover, definition, references, completion,
formatting and rename answer from the workspace folder's files."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pygls.uris import from_fs_path

from unstuck_dsl.lsp import Index, _code_points, _utf16

from cli_support import RULES, run

TIMEOUT = 60  # seconds for any one answer (the first check imports and parses the grammar)


class Client:
    """A minimal LSP client over the server's stdin / stdout."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen([sys.executable, "-m", "unstuck_dsl", "lsp", *args], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
        self.messages: queue.Queue = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            headers = {}
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                key, _, value = line.decode().partition(":")
                headers[key.strip().lower()] = value.strip()
            self.messages.put(json.loads(stream.read(int(headers["content-length"]))))

    def send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.process.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: dict):
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        message = self.wait(lambda m: m.get("id") == self.next_id and "method" not in m)
        assert "error" not in message, message
        return message["result"]

    def wait(self, matches):
        while True:
            message = self.messages.get(timeout=TIMEOUT)
            if matches(message):
                return message

    def diagnostics(self, uri: str) -> list[dict]:
        return self.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                         and m["params"]["uri"] == uri)["params"]["diagnostics"]

    def close(self) -> None:
        try:
            self.request("shutdown", {})
            self.notify("exit", {})
            self.process.wait(timeout=TIMEOUT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
                stream.close()


@pytest.fixture
def folder(tmp_path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


@pytest.fixture
def client(folder):
    c = Client()
    c.request("initialize", {"processId": None, "rootUri": from_fs_path(str(folder)), "capabilities": {}})
    c.notify("initialized", {})
    yield c
    c.close()


def open_document(client: Client, path: Path, text: str | None = None) -> str:
    uri = from_fs_path(str(path))
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "unstuck", "version": 1,
                                                            "text": path.read_text() if text is None else text}})
    return uri


def at(uri: str, line: int, character: int) -> dict:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}


MISSPELT = ("  filter \"Employee count\": employees between 51 and 2000",
            "  filter \"Employee count\": employes between 51 and 2000")


def test_a_misspelt_field_in_an_unsaved_document_gets_the_diagnostic_check_gives(client, folder, tmp_path):
    path = folder / "icps.ust"
    text = path.read_text().replace(*MISSPELT)
    uri = open_document(client, path, text)  # not saved: the file on disk is still right
    published = client.diagnostics(uri)
    # `check` on the same text, saved in another copy of the workspace.
    other = tmp_path / "saved"
    shutil.copytree(folder, other)
    (other / "icps.ust").write_text(text)
    report = json.loads(run("check", "--format", "json", other).output)
    expected = [d for d in report["diagnostics"] if d["file"].endswith("icps.ust")]
    assert [d["code"] for d in expected] == ["E012"]
    assert [(d["code"], d["message"]) for d in published] == [(d["code"], d["message"]) for d in expected]
    d, e = published[0], expected[0]
    assert d["range"] == {"start": {"line": e["line"] - 1, "character": e["column"] - 1},
                          "end": {"line": e["end_line"] - 1, "character": e["end_column"] - 1}}
    assert d["severity"] == 1 and d["source"] == "unstuck"
    assert d["relatedInformation"][0]["message"] == f"hint: {e['hint']}"  # did you mean `employees`?
    # Fixed in the editor: the diagnostic goes away.
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                             "contentChanges": [{"text": path.read_text()}]})
    assert client.diagnostics(uri) == []


def test_a_lint_warning_is_published_for_another_file_of_the_workspace(client, folder):
    fields = folder / "fields.ust"
    uri = open_document(client, fields, fields.read_text().replace("  is_competitor: bool\n",
                                                                   "  is_competitor: bool\n  unused_thing: int\n"))
    warnings = client.diagnostics(uri)
    assert [(d["code"], d["severity"]) for d in warnings] == [("W009", 2)]


def test_hover_shows_a_fields_type_and_a_parameters_share(client, folder):
    uri = open_document(client, folder / "icps.ust")
    client.diagnostics(uri)
    lines = (folder / "icps.ust").read_text().split("\n")
    row = next(k for k, line in enumerate(lines) if '"Uses Snowflake"' in line)
    field = client.request("textDocument/hover", at(uri, row, lines[row].index("tech_stack") + 2))
    assert field["contents"]["value"].startswith("account field `tech_stack`: open set")
    assert "declared at fields.ust:9:3" in field["contents"]["value"]
    param = client.request("textDocument/hover", at(uri, row, 4))
    assert param["contents"]["value"] == ('score "Uses Snowflake" of ICP mm_saas: weight 5 of 20 possible points '
                                          "(25% of the score)")


def test_definition_and_references_of_a_region_and_a_template(client, folder):
    uri = open_document(client, folder / "icps.ust")
    client.diagnostics(uri)
    lines = (folder / "icps.ust").read_text().split("\n")
    row = next(k for k, line in enumerate(lines) if "country in north_america" in line)
    where = at(uri, row, lines[row].index("north_america") + 1)
    definition = client.request("textDocument/definition", where)
    assert definition["uri"] == from_fs_path(str(folder / "fields.ust"))
    region = (folder / "fields.ust").read_text().split("\n").index('region north_america "North America" { US, CA }')
    assert definition["range"]["start"] == {"line": region, "character": 7}
    references = client.request("textDocument/references", {**where, "context": {"includeDeclaration": True}})
    places = sorted((Path(r["uri"]).name, r["range"]["start"]["line"]) for r in references)
    assert len(places) == 4 and ("fields.ust", region) in places  # declared once, used three times in icps.ust
    row = next(k for k, line in enumerate(lines) if "persona founder from founder" in line)
    template = client.request("textDocument/definition", at(uri, row, lines[row].rindex("founder") + 1))
    assert template["uri"].endswith("personas.ust") and template["range"]["start"]["line"] == 2


def test_references_of_an_icp_include_audiences_and_tests(client, folder):
    uri = open_document(client, folder / "icps.ust")
    client.diagnostics(uri)
    lines = (folder / "icps.ust").read_text().split("\n")
    row = next(k for k, line in enumerate(lines) if line.startswith("icp mm_saas"))
    references = client.request("textDocument/references", {**at(uri, row, 5), "context": {"includeDeclaration": False}})
    files = {Path(r["uri"]).name for r in references}
    assert files == {"icps.ust", "icps.test.ust", "personas.test.ust"}  # the mm_vp_sales audience, and tests


def test_completion_offers_keywords_fields_levels_regions_and_sample_values(folder, tmp_path):
    sample = tmp_path / "accounts.csv"
    sample.write_text("account_id,industry\n1,software\n2,fintech\n3,software\n")
    c = Client("--sample", str(sample))
    try:
        c.request("initialize", {"processId": None, "rootUri": from_fs_path(str(folder)), "capabilities": {}})
        c.notify("initialized", {})
        path = folder / "icps.ust"
        text = path.read_text().replace('  exclude "Competitor": is_competitor\n\n  persona founder',
                                        '  exclude "Competitor": is_competitor\n  score 1: \n  score 2: industry == \n'
                                        '  score 3: funding_stage >= \n  score 4: country in \n\n  persona founder', 1)
        uri = open_document(c, path, text)
        c.diagnostics(uri)
        lines = text.split("\n")

        def labels(marker: str) -> list[str]:
            row = lines.index(marker)
            found = c.request("textDocument/completion", at(uri, row, len(marker)))
            return [item["label"] for item in found["items"]]

        general = labels("  score 1: ")
        assert {"employees", "tech_stack", "title", "north_america", "between", "resembles"} <= set(general)
        assert labels("  score 2: industry == ")[:2] == ['"software"', '"fintech"']  # most frequent first
        assert labels("  score 3: funding_stage >= ")[:3] == ['"Pre-seed"', '"Seed"', '"Series A"']
        assert {"north_america", "europe"} <= set(labels("  score 4: country in "))
    finally:
        c.close()


def test_formatting_returns_the_formatted_document(client, folder):
    path = folder / "icps.ust"
    messy = path.read_text().replace('score 5 "Uses Snowflake": tech_stack has "Snowflake"',
                                     'score   5  "Uses Snowflake"  :tech_stack has "Snowflake"')
    uri = open_document(client, path, messy)
    client.diagnostics(uri)
    edits = client.request("textDocument/formatting", {"textDocument": {"uri": uri},
                                                       "options": {"tabSize": 2, "insertSpaces": True}})
    assert len(edits) == 1 and edits[0]["newText"] == path.read_text()
    assert edits[0]["range"]["start"] == {"line": 0, "character": 0}


def test_rename_a_field_across_files(client, folder):
    uri = open_document(client, folder / "fields.ust")
    client.diagnostics(uri)
    lines = (folder / "fields.ust").read_text().split("\n")
    row = next(k for k, line in enumerate(lines) if line.startswith("  employees"))
    edit = client.request("textDocument/rename", {**at(uri, row, 4), "newName": "headcount"})
    changes = edit["changes"]
    assert set(Path(u).name for u in changes) == {"fields.ust", "icps.ust", "icps.test.ust", "personas.test.ust"}
    # Applied, the workspace checks and its tests still pass.
    for file_uri, edits in changes.items():
        path = Path(file_uri.removeprefix("file://"))
        text_lines = path.read_text().split("\n")
        for e in sorted(edits, key=lambda e: (e["range"]["start"]["line"], e["range"]["start"]["character"]), reverse=True):
            start, end = e["range"]["start"], e["range"]["end"]
            assert start["line"] == end["line"]
            line = text_lines[start["line"]]
            assert line[start["character"]:end["character"]] == "employees"
            text_lines[start["line"]] = line[:start["character"]] + e["newText"] + line[end["character"]:]
        path.write_text("\n".join(text_lines))
    assert run("check", "--strict", folder).exit_code == 0
    assert "headcount" in (folder / "icps.ust").read_text() and "employees" not in (folder / "icps.ust").read_text()


# ---- the analysis beneath, directly ---------------------------------------------------------------


def test_positions_convert_between_code_points_and_utf16():
    line = 'score 1 "𝔘ses": x'  # one character outside the BMP: two UTF-16 units
    assert _utf16(line, line.index("x") + 1) == line.index("x") + 1
    assert _code_points(line, _utf16(line, line.index("x") + 1)) == line.index("x") + 1


def test_an_unsaved_document_overrides_the_file_on_disk():
    path = str((RULES / "icps.ust").resolve())
    text = (RULES / "icps.ust").read_text().replace(*MISSPELT)
    index = Index(RULES.resolve(), {path: text})
    assert [d.code for d in index.diagnostics] == ["E012"]
    assert [d.code for d in Index(RULES.resolve(), {}).diagnostics] == []


def test_completion_in_a_test_offers_the_declared_codes():
    path = str((RULES / "icps.test.ust").resolve())
    text = 'test "new" {\n  as_of 2026-11-26\n  expect persona \n  expect not audience \n  expect icp \n}\n'
    index = Index(RULES.resolve(), {path: text})
    assert [c[0] for c in index.completions(path, 3, 18)] == ["founder", "vp_sales", "no_persona_fit"]
    assert [c[0] for c in index.completions(path, 4, 23)] == ["hot", "mm_vp_sales", "strong_accounts", "engaged_fit"]
    assert [c[0] for c in index.completions(path, 5, 14)] == ["mm_saas", "smb_saas", "ent_finserv"]


def test_a_template_and_a_region_rename_everywhere_they_are_used():
    index = Index(RULES.resolve(), {})
    personas = str((RULES / "personas.ust").resolve())
    template = next(o for o in index.occurrences if o.definition and o.name == "vp_sales" and o.file == personas)
    uses = {(Path(o.file).name, o.line) for o in index.references(template, include_declaration=False)}
    lines = (RULES / "icps.ust").read_text().split("\n")
    written = {("icps.ust", k + 1) for k, line in enumerate(lines) if "from vp_sales" in line}
    assert len(written) == 2 and uses == written  # `persona vp_sales from vp_sales`, in two ICPs
    assert all(Path(o.file).name != "icps.test.ust" for o in index.references(template))  # not the Persona code
    fields = str((RULES / "fields.ust").resolve())
    row = (RULES / "fields.ust").read_text().split("\n").index(next(
        line for line in (RULES / "fields.ust").read_text().split("\n") if line.startswith("region europe"))) + 1
    region = index.at(fields, row, 10)
    assert (region.kind, region.name, region.definition) == ("region", "europe", True)
    assert sorted(Path(f).name for f in index.by_file(region)) == ["fields.ust", "icps.ust"]
