"""`unstuck check --format json|sarif`: the JSON report matches docs/diagnostics.schema.json, and
the SARIF 2.1.0 log has what code-scanning services need to annotate a pull request."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cli_support import RULES, run

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "diagnostics.schema.json").read_text(encoding="utf-8"))

# An error (a misspelt field, on a line with a non-ASCII name before it) and a warning (W001).
BAD = ('account fields {\n  employees: int\n}\n'
       'icp quiet "Quiet" {\n  filter: employees > 1\n}\n'
       'icp loud "Zürich" { score 1: employes > 3 }\n')


# ---- a validator for the part of JSON Schema the schema uses ------------------------------------

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


def schema_errors(value, schema: dict, where: str = "$") -> list[str]:
    if "$ref" in schema:
        schema = SCHEMA["$defs"][schema["$ref"].removeprefix("#/$defs/")]
    errors = []
    kind = schema.get("type")
    if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        return [f"{where}: not an integer"]
    if kind in _TYPES and not isinstance(value, _TYPES[kind]):
        return [f"{where}: not of type {kind}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: not one of {schema['enum']}")
    if "minimum" in schema and value < schema["minimum"]:
        errors.append(f"{where}: below {schema['minimum']}")
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{where}: does not match {schema['pattern']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [f"{where}: missing {key}" for key in schema.get("required", []) if key not in value]
        if schema.get("additionalProperties") is False:
            errors += [f"{where}: unexpected {key}" for key in value if key not in properties]
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for number, item in enumerate(value):
            errors += schema_errors(item, schema["items"], f"{where}[{number}]")
    return errors


def test_the_validator_finds_what_breaks_the_schema():
    good = {"version": 1, "ok": True, "stopped_at_error_limit": False, "diagnostics": [],
            "summary": {"errors": 0, "warnings": 0, "text": "0 errors, 0 warnings"}}
    assert schema_errors(good, SCHEMA) == []
    problem = {"severity": "fatal", "code": "X1", "message": "m", "file": "f", "line": 0, "column": 1,
               "end_line": 1, "end_column": "2", "label": "", "hint": "", "extra": 1}
    bad = {**good, "version": 2, "diagnostics": [problem]}
    bad["summary"] = {"errors": True, "warnings": 0}
    assert sorted(schema_errors(bad, SCHEMA)) == sorted([
        "$.version: not 1", "$.summary: missing text", "$.summary.errors: not an integer",
        "$.diagnostics[0]: unexpected extra", "$.diagnostics[0].severity: not one of ['error', 'warning']",
        "$.diagnostics[0].code: does not match ^[EW][0-9]{3}$", "$.diagnostics[0].line: below 1",
        "$.diagnostics[0].end_column: not an integer"])


# ---- json -------------------------------------------------------------------------------------------


@pytest.fixture
def bad_rules(tmp_path, monkeypatch):
    """A rule file at a relative path with a space in it, as CI runs `check` from the repository."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my rules").mkdir()
    (tmp_path / "my rules" / "bad.ust").write_text(BAD, encoding="utf-8")
    return "my rules/bad.ust"


def test_json_has_every_diagnostic_with_its_range_and_a_summary(bad_rules):
    result = run("check", bad_rules, "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert schema_errors(report, SCHEMA) == []
    assert report["ok"] is False and report["summary"] == {"errors": 1, "warnings": 1, "text": "1 error, 1 warning"}
    error, warning = report["diagnostics"]
    assert error == {"severity": "error", "code": "E012", "message": "unknown field `employes`", "file": bad_rules,
                     "line": 7, "column": 30, "end_line": 7, "end_column": 38,
                     "label": "not a declared account field", "hint": "did you mean `employees`?"}
    assert (warning["severity"], warning["code"], warning["line"]) == ("warning", "W001", 4)


def test_json_of_clean_rules_and_of_unreadable_rules_match_the_schema(tmp_path):
    good = json.loads(run("check", RULES, "--format", "json").stdout)
    assert schema_errors(good, SCHEMA) == []
    assert (good["ok"], good["files"], good["icps"], good["diagnostics"]) == (True, 5, 3, [])  # with 2 of tests
    missing = run("check", tmp_path / "nope", "--format", "json")
    assert missing.exit_code == 1
    report = json.loads(missing.stdout)
    assert schema_errors(report, SCHEMA) == []
    assert report["ok"] is False and "no such file or directory" in report["error"]


def test_the_json_flag_is_the_json_format(bad_rules):
    assert run("check", bad_rules, "--json").stdout == run("check", bad_rules, "--format", "json").stdout
    both = run("check", bad_rules, "--json", "--format", "sarif")
    assert both.exit_code == 1 and "give one" in both.output


def test_text_stays_the_default(bad_rules):
    assert run("check", bad_rules).stdout == run("check", bad_rules, "--format", "text").stdout
    assert "my rules/bad.ust:7:30: error[E012]: unknown field `employes`" in run("check", bad_rules).stdout


# ---- sarif ------------------------------------------------------------------------------------------


def test_sarif_has_what_a_code_scanning_service_needs(bad_rules):
    result = run("check", bad_rules, "--format", "sarif")
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    [sarif_run] = log["runs"]
    driver = sarif_run["tool"]["driver"]
    assert driver["name"] == "unstuck" and driver["version"]
    assert [r["id"] for r in driver["rules"]] == ["E012", "W001"]
    assert all(r["shortDescription"]["text"] for r in driver["rules"])
    assert sarif_run["columnKind"] == "unicodeCodePoints"
    assert sarif_run["invocations"] == [{"executionSuccessful": True}]
    error, warning = sarif_run["results"]
    assert error["ruleId"] == "E012" and driver["rules"][error["ruleIndex"]]["id"] == "E012"
    assert error["level"] == "error" and warning["level"] == "warning"
    assert error["message"]["text"] == "unknown field `employes`\nhint: did you mean `employees`?"
    [location] = error["locations"]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "my%20rules/bad.ust"
    assert location["physicalLocation"]["region"] == {"startLine": 7, "startColumn": 30, "endLine": 7, "endColumn": 38}


def test_sarif_places_match_the_json_places(bad_rules):
    report = json.loads(run("check", bad_rules, "--format", "json").stdout)
    log = json.loads(run("check", bad_rules, "--format", "sarif").stdout)
    places = [(d["code"], d["line"], d["column"], d["end_line"], d["end_column"]) for d in report["diagnostics"]]
    regions = [(r["ruleId"], *r["locations"][0]["physicalLocation"]["region"].values()) for r in log["runs"][0]["results"]]
    assert regions == places


def test_sarif_of_clean_rules_and_of_unreadable_rules(tmp_path):
    clean = run("check", RULES, "--format", "sarif")
    assert clean.exit_code == 0
    assert json.loads(clean.stdout)["runs"][0]["results"] == []
    missing = run("check", tmp_path / "nope", "--format", "sarif")
    assert missing.exit_code == 1
    [invocation] = json.loads(missing.stdout)["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert "no such file or directory" in invocation["toolExecutionNotifications"][0]["message"]["text"]


def test_an_absolute_path_is_a_file_uri(tmp_path):
    (tmp_path / "bad.ust").write_text(BAD, encoding="utf-8")
    log = json.loads(run("check", tmp_path / "bad.ust", "--format", "sarif").stdout)
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == (tmp_path / "bad.ust").as_uri()
