"""What a workspace's reads look like between `unstuck serve` and its client (service/client.py):
tables as Arrow IPC streams (every type kept: dictionaries, dates, timestamps), a ruleset's
declared fields as a query parameter, and the drawer as the JSON `Explanation.to_dict` gives,
read back into an `Explanation` that prints as the one it was made from."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pyarrow as pa

from ..explain import Breakdown, EngagementBreakdown, Explanation, ParamRow, SignalRow
from ..schema import RECORD_KINDS, TYPE_NAMES, Field, FieldType, Schema
from .bodies import BadRequest

ARROW_STREAM = "application/vnd.apache.arrow.stream"
_TRI = {"true": True, "false": False, "unknown": None}


# ---- tables ------------------------------------------------------------------------------------


def table_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def table_of(raw: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(raw)).read_all()


# ---- a ruleset's declared fields (how stored records are typed for it) -------------------------


def fields_param(schema: Schema) -> str:
    """The declared fields as `[[name, kind, type], ...]`: what `Store.records` converts by."""
    return json.dumps([[f.name, f.kind, f.type.name] for f in schema.fields], separators=(",", ":"))


def schema_of(text: str | None) -> Schema | None:
    """`fields_param` read back; anything else is a BadRequest (the types are from TYPE_NAMES only:
    they choose the SQL types stored values are converted to)."""
    if text is None:
        return None
    try:
        raw = json.loads(text)
        fields = tuple(Field(name, kind, FieldType(type_name)) for name, kind, type_name in raw)
        if not all(isinstance(f.name, str) and f.kind in RECORD_KINDS and f.type.name in TYPE_NAMES for f in fields):
            raise ValueError
    except (ValueError, TypeError):
        raise BadRequest("parameter `fields`: give [[name, kind, type], ...] with a kind of "
                         f"{', '.join(RECORD_KINDS)} and a type of {', '.join(TYPE_NAMES)}", field="fields") from None
    return Schema(fields)


# ---- the drawer --------------------------------------------------------------------------------


def _decimal(value) -> Decimal | None:
    # `to_dict` gives a Decimal as an int or a float; the float's shortest repr is the decimal it
    # came from (weights are short decimals written in the rules).
    return None if value is None else Decimal(value) if isinstance(value, int) else Decimal(repr(value))


def _breakdown(raw: dict) -> Breakdown:
    rows = tuple(ParamRow(p["parameter"], p["mode"], p["value"], _decimal(p["weight"]), _TRI[p["outcome"]],
                          p["result"]) for p in raw["parameters"])
    return Breakdown(raw["kind"], raw["code"], raw["name"], raw["status"], rows, raw["qualifies"],
                     _decimal(raw["earned"]), _decimal(raw["possible"]), raw["score"], raw["verdict"])


def explanation_of(raw: dict) -> Explanation:
    """`Explanation.to_dict` read back."""
    engagement = raw.get("engagement")
    if engagement is not None:
        engagement = EngagementBreakdown(
            tuple(SignalRow(s["signal"], dt.date.fromisoformat(s["date"]), s["age_days"], s["counts"])
                  for s in engagement["signals"]), engagement["engagement_score"], engagement["stage"])
    return Explanation(raw["record"], raw["id"], dt.date.fromisoformat(raw["as_of"]), raw["icp_code"],
                       raw["icp_score"], raw["persona_code"], raw["persona_score"],
                       tuple(_breakdown(b) for b in raw["icps"]), tuple(_breakdown(b) for b in raw["personas"]),
                       engagement, tuple(raw.get("preview", ())))
