"""Engine-neutral conformance cases: rules, records and the expected scores, as data.

Each case is a directory `tests/conformance/<case>/` holding `rules.ust` and `case.json`:

    {"description": "...", "as_of": "YYYY-MM-DD",
     "accounts": [{"account_id": ..., <field>: <value>, ...}, ...],
     "leads": [{"lead_id": ..., "account_id": ..., <field>: <value>, ...}, ...],
     "expect": {"accounts": [{"account_id", "icp_code", "icp_score", "icp_band"}, ...],
                "leads": [{"lead_id", "account_id", "icp_code", "icp_score", "icp_band",
                           "persona_code", "persona_score", "persona_band"}, ...]}}

In JSON, dates are ISO strings and sets are lists; `load_case` converts them by the declared
field types. Expected rows are in input order. The expectations were worked out by hand from
SPEC.md section 5, not by running an engine.

An engine is a function `(ruleset, accounts, leads, as_of) -> (account_rows, lead_rows)` with rows
shaped like the expected ones, in input order.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import attrs
import pyarrow as pa

from unstuck_dsl import api, reference
from unstuck_dsl.model import Ruleset
from unstuck_dsl.pipeline import load_ruleset
from unstuck_dsl.schema import ACCOUNT_KEY, LEAD_KEY, Schema, arrow_type

CASES_DIR = Path(__file__).resolve().parent / "conformance"

ACCOUNT_COLUMNS = ("account_id", "icp_code", "icp_score", "icp_band")
LEAD_COLUMNS = ("lead_id", "account_id", "icp_code", "icp_score", "icp_band",
                "persona_code", "persona_score", "persona_band")


@attrs.frozen
class Case:
    name: str
    path: Path
    description: str
    rules_text: str
    ruleset: Ruleset
    as_of: dt.date
    accounts: list[dict]
    leads: list[dict]
    expect_accounts: list[dict]
    expect_leads: list[dict]


def case_dirs() -> list[Path]:
    return sorted(p for p in CASES_DIR.iterdir() if (p / "case.json").is_file())


def convert_record(schema: Schema, kind: str, raw: dict) -> dict:
    """JSON values to the reference convention: dates as datetime.date, sets as frozensets."""
    fields = {f.name: f for f in schema.of_kind(kind)}
    out = {}
    for name, value in raw.items():
        field = fields.get(name)
        if field is not None and value is not None:
            if field.type.name == "date" and isinstance(value, str):
                value = dt.date.fromisoformat(value)
            elif field.type.name == "set":
                value = frozenset(value)
        out[name] = value
    return out


def load_case(path: str | Path) -> Case:
    path = Path(path)
    rules_text = (path / "rules.ust").read_text(encoding="utf-8")
    data = json.loads((path / "case.json").read_text(encoding="utf-8"))
    ruleset = load_ruleset(path / "rules.ust")
    return Case(
        name=path.name,
        path=path,
        description=data.get("description", ""),
        rules_text=rules_text,
        ruleset=ruleset,
        as_of=dt.date.fromisoformat(data["as_of"]),
        accounts=[convert_record(ruleset.schema, "account", r) for r in data["accounts"]],
        leads=[convert_record(ruleset.schema, "lead", r) for r in data["leads"]],
        expect_accounts=data["expect"]["accounts"],
        expect_leads=data["expect"]["leads"],
    )


def reference_engine(ruleset: Ruleset, accounts: list[dict], leads: list[dict], as_of: dt.date):
    """The reference evaluator as a conformance engine."""
    account_rows = []
    results = {}
    for account in accounts:
        r = reference.evaluate_account(ruleset, account, as_of)
        results[account[ACCOUNT_KEY]] = account
        account_rows.append({"account_id": account[ACCOUNT_KEY], "icp_code": r.icp_code,
                             "icp_score": r.icp_score, "icp_band": r.icp_band})
    lead_rows = []
    for lead in leads:
        account = results.get(lead[ACCOUNT_KEY])
        r = reference.evaluate_lead(ruleset, lead, account, as_of)
        lead_rows.append({"lead_id": lead[LEAD_KEY], "account_id": lead[ACCOUNT_KEY], "icp_code": r.icp_code,
                          "icp_score": r.icp_score, "icp_band": r.icp_band, "persona_code": r.persona_code,
                          "persona_score": r.persona_score, "persona_band": r.persona_band})
    return account_rows, lead_rows


def arrow_table(records: list[dict], schema: Schema, kind: str) -> pa.Table:
    """Records in the reference convention as an Arrow table typed by the declared fields."""
    keys = [ACCOUNT_KEY] if kind == "account" else [LEAD_KEY, ACCOUNT_KEY]
    columns = {k: pa.array([r[k] for r in records], pa.string()) for k in keys}
    for field in schema.of_kind(kind):
        values = [r.get(field.name) for r in records]
        if field.type.name == "set":
            values = [None if v is None else sorted(v) for v in values]
        columns[field.name] = pa.array(values, arrow_type(field.type))
    return pa.table(columns)


def compiled_engine(ruleset: Ruleset, accounts: list[dict], leads: list[dict], as_of: dt.date,
                    compiled: api.CompiledRules | None = None):
    """The compiled numba kernel as a conformance engine."""
    compiled = compiled or api.CompiledRules(ruleset)
    result = compiled.score(arrow_table(accounts, ruleset.schema, "account"),
                            arrow_table(leads, ruleset.schema, "lead"), as_of=as_of)
    return result.accounts.to_pylist(), result.leads.to_pylist()
