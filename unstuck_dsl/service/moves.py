"""What moved for the records a write touched: ICP, Persona, band, score, and audiences entered
and left, from a snapshot of those records before the write and one after.

A snapshot scores just the touched records (the accounts, their leads, the leads and their
accounts) with the published rules at the workspace's date, as the store does, and evaluates
every declared audience over them with the same kernels `Workspace.audience` uses: an audience's
condition reads one row, so membership over a subset is membership over the whole workspace."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ..ir import TRUE
from ..schema import ACCOUNT_KEY, LEAD_KEY

_SCORES = {"account": ("icp_code", "icp_score", "icp_band"),
           "lead": ("account_id", "icp_code", "icp_score", "icp_band", "persona_code", "persona_score", "persona_band")}
_KEYS = {"account": ACCOUNT_KEY, "lead": LEAD_KEY}


def _ids(values) -> pa.Array:
    return pa.array(sorted({str(v) for v in values}), pa.string())


def touched_leads(workspace, accounts, leads) -> list[str]:
    """The stored leads a change to these accounts and leads re-scores (theirs and these)."""
    return workspace.store.affected_lead_ids(_ids(accounts), _ids(leads))


def snapshot(workspace, accounts, leads) -> dict:
    """{(kind, id): {score columns..., "audiences": set}} for these stored accounts and leads (ids
    not stored are left out)."""
    schema = workspace.compiled.model.schema
    lead_ids = _ids(leads)
    # Only the declared fields: scoring and audiences read nothing else (as the ingest reads them).
    lead_records = workspace.store.records("lead", lead_ids, schema, read_by=schema) if len(lead_ids) else None
    return _snapshot(workspace, _ids(accounts), lead_ids, lead_records)[0]


def snapshot_touched(workspace, accounts, leads) -> tuple[dict, dict]:
    """`snapshot` of what an ingest of these accounts and leads touches (these accounts, their
    leads and these leads), and the stored records it read: {kind: table}, what the ingest right
    after need not read again (`Workspace.ingest(read_before=...)`)."""
    schema, store = workspace.compiled.model.schema, workspace.store
    account_ids = _ids(accounts)
    lead_records = store.affected_leads(account_ids, _ids(leads), schema=schema, read_by=schema)
    lead_ids = lead_records.column(LEAD_KEY).combine_chunks()
    return _snapshot(workspace, account_ids, lead_ids, lead_records if len(lead_ids) else None)


def _snapshot(workspace, account_ids: pa.Array, lead_ids: pa.Array, lead_records) -> tuple[dict, dict]:
    """`snapshot` of these ids, with the stored records of these leads read already (None: no
    leads), and the records read (only those read as the ingest reads them: see `snapshot_touched`)."""
    compiled, store = workspace.compiled, workspace.store
    schema = compiled.model.schema
    if not len(account_ids) and not len(lead_ids):
        return {}, {}
    owners = set(account_ids.to_pylist())
    if lead_records is not None:
        owners |= {a for a in lead_records.column(ACCOUNT_KEY).to_pylist() if a is not None}
    account_records = store.records("account", _ids(owners), schema, read_by=schema)
    # What the ingest reads (without converting): the same, when no field is stored with another type.
    read = {kind: records for kind, records in (("account", account_records), ("lead", lead_records))
            if records is not None and store.stored_as_declared(kind, schema)}
    if lead_records is None and store.count("lead"):  # audiences read leads
        lead_records = store.records("lead", pa.nulls(0, pa.string()), schema, read_by=schema)
    result = compiled.score(account_records, lead_records, as_of=workspace.as_of, missing_columns="unknown")
    return snapshot_of(workspace, result, account_ids, lead_ids), read


def snapshot_of(workspace, result, account_ids: pa.Array, lead_ids: pa.Array | None = None) -> dict:
    """`snapshot` of records scored already (`result`, an api.ScoreResult of stored records with
    the published rules at the workspace's date: a lead table when leads are stored), of these
    ids (leads: default every lead scored)."""
    compiled, store = workspace.compiled, workspace.store
    none = pa.nulls(0, pa.string())
    scored_leads = result.leads.column(LEAD_KEY) if result.leads is not None else none
    lead_ids = scored_leads if lead_ids is None else lead_ids
    if compiled.model.engagement is not None:
        signals = store.signals_of(result.accounts.column(ACCOUNT_KEY), scored_leads)
        if signals.num_rows:
            result.score_engagement(signals)
    table = result.table()
    row_kind = "lead" if LEAD_KEY in table.column_names else "account"
    members = {code: result.audience_membership(code) for code in (a.code for a in compiled.model.audiences)}
    found = {}
    for kind, scored in (("account", result.accounts), ("lead", result.leads)):
        if scored is None:
            continue
        wanted = pc.is_in(scored.column(_KEYS[kind]), value_set=account_ids if kind == "account" else lead_ids)
        scored = scored.select([_KEYS[kind], *_SCORES[kind]]).filter(wanted)
        columns = [_values(column) for column in scored.columns]
        for ident, *values in zip(*columns):
            found[(kind, ident)] = dict(zip(_SCORES[kind], values)) | {"audiences": set()}
    ids = table.column(_KEYS[row_kind])
    for code, membership in members.items():
        for ident in ids.filter(pa.array(membership == TRUE)).to_pylist():
            entry = found.get((row_kind, ident))
            if entry is not None:
                entry["audiences"].add(code)
    return found


def _values(column) -> list:
    """A column's values as Python objects; a dictionary-encoded one decoded first (its
    to_pylist takes a millisecond per thousand values)."""
    return (column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column).to_pylist()


def moves(before: dict, after: dict) -> list[dict]:
    """One entry per record that is new or whose scores or audiences changed, in kind and id order."""
    moved = []
    for kind, ident in sorted(after):
        new, old = after[(kind, ident)], before.get((kind, ident))
        if old is None:
            moved.append({**_entry(kind, ident, new), "new": True, "entered": sorted(new["audiences"]), "left": []})
            continue
        changed = {c: [old[c], new[c]] for c in new if c != "audiences" and old.get(c) != new[c]}
        entered, left = sorted(new["audiences"] - old["audiences"]), sorted(old["audiences"] - new["audiences"])
        if changed or entered or left:  # (the entry is made only for a record that moved)
            moved.append({**_entry(kind, ident, new), "new": False, "changed": changed, "entered": entered,
                          "left": left})
    return moved


def _entry(kind: str, ident: str, new: dict) -> dict:
    return {"kind": kind, "id": ident, **{c: v for c, v in new.items() if c != "audiences"},
            "audiences": sorted(new["audiences"])}
