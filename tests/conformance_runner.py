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


# ---- truth tables: one condition on one record, its three-valued answer -----------------------
#
# Each file `tests/conformance/truth/<table>.json` holds {"description", "as_of", "rows": [{"condition",
# "record", "expect", optional "as_of"}]} over the fields of `truth/fields.ust`; `expect` is true,
# false or null (unknown). A record names only the fields it gives: the others are unknown. A
# condition reading a lead field is a Persona's parameter, any other an ICP's.

TRUTH_DIR = CASES_DIR / "truth"


@attrs.frozen
class TruthRow:
    condition: str
    record: dict  # the reference convention (dates, frozensets)
    as_of: dt.date
    expect: bool | None
    is_lead: bool


@attrs.frozen
class TruthTable:
    name: str
    description: str
    fields_text: str
    rows: tuple[TruthRow, ...]


def truth_tables() -> list[Path]:
    return sorted(TRUTH_DIR.glob("*.json"))


def load_truth_table(path: str | Path) -> TruthTable:
    path = Path(path)
    fields_text = (TRUTH_DIR / "fields.ust").read_text(encoding="utf-8")
    schema = load_ruleset(fields_text + "\nicp t {\n}\n").schema
    lead_fields = {f.name for f in schema.of_kind("lead")}
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for row in data["rows"]:
        is_lead = bool(lead_fields & (set(row["record"]) | set(row["condition"].split())))
        record = convert_record(schema, "lead" if is_lead else "account", row["record"])
        rows.append(TruthRow(row["condition"], record, dt.date.fromisoformat(row.get("as_of", data["as_of"])),
                             row["expect"], is_lead))
    return TruthTable(path.stem, data.get("description", ""), fields_text, tuple(rows))


def _truth_rules(fields_text: str, account_conditions: list[str], lead_conditions: list[str]) -> str:
    """One ICP scoring every account condition, with one Persona scoring every lead condition
    (score parameters: they never disqualify, so every condition is evaluated on every record)."""
    lines = [fields_text, "icp t {"] + [f"  score 1: {c}" for c in account_conditions]
    if lead_conditions:
        lines += ["  persona p {"] + [f"    score 1: {c}" for c in lead_conditions] + ["  }"]
    return "\n".join(lines + ["}"]) + "\n"


def reference_truth(table: TruthTable) -> list[bool | None]:
    """The reference evaluator's answer per row."""
    answers = []
    for row in table.rows:
        ruleset = load_ruleset(_truth_rules(table.fields_text, [] if row.is_lead else [row.condition],
                                            [row.condition] if row.is_lead else []))
        param = ruleset.icps[0].personas[0].params[0] if row.is_lead else ruleset.icps[0].params[0]
        answers.append(reference.evaluate_condition(param.condition, row.record,
                                                    reference.Context(ruleset.schema, row.as_of, ruleset.titles)))
    return answers


def compiled_truth(table: TruthTable) -> list[bool | None]:
    """The compiled kernel's answer per row: every condition of the table as a parameter of one
    ruleset, each row a record scored through the product's reader (Arrow tables), its answer
    the kernel's own outcome for that parameter."""
    account_conditions = list(dict.fromkeys(r.condition for r in table.rows if not r.is_lead))
    lead_conditions = list(dict.fromkeys(r.condition for r in table.rows if r.is_lead))
    compiled = api.CompiledRules(load_ruleset(_truth_rules(table.fields_text, account_conditions, lead_conditions)))
    account_slots = [p.slot for p in compiled.program.icps.rules[0].params]
    lead_slots = [p.slot for p in compiled.program.personas[0].rules[0].params] if lead_conditions else []
    decode = {0: False, 1: None, 2: True}
    answers: dict[int, bool | None] = {}
    for as_of in sorted({r.as_of for r in table.rows}):
        numbered = [(k, r) for k, r in enumerate(table.rows) if r.as_of == as_of]
        # Each row its own account (a lead row's account gives no values: it only takes ICP t).
        accounts = [{**({} if r.is_lead else r.record), ACCOUNT_KEY: f"a{k}"} for k, r in numbered]
        leads = [{**r.record, LEAD_KEY: f"l{k}", ACCOUNT_KEY: f"a{k}"} for k, r in numbered if r.is_lead]
        result = compiled.score(arrow_table(accounts, compiled.model.schema, "account"),
                                arrow_table(leads, compiled.model.schema, "lead"), as_of=as_of, outcomes=True)
        lead_row = {lead[LEAD_KEY]: n for n, lead in enumerate(leads)}
        for n, (k, r) in enumerate(numbered):
            if r.is_lead:
                value = result.lead_outcomes[lead_row[f"l{k}"], lead_slots[lead_conditions.index(r.condition)]]
            else:
                value = result.account_outcomes[n, account_slots[account_conditions.index(r.condition)]]
            answers[k] = decode[int(value)]
    return [answers[k] for k in range(len(table.rows))]
