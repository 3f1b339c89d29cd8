"""Request bodies and query strings, read and checked before anything is applied.

Every record is checked against the published rules' declared fields: a field the rules do not
declare, a value of the wrong JSON type, an id that is empty, too long or holds control
characters is a `BadRequest` naming the field and the record (`leads[3] (lead_id 'L9')`). Only
checked records become Arrow tables, typed as the store keeps them, so a request is applied
whole or not at all."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import tempfile
from pathlib import Path

import pyarrow as pa

from ..data import DataError, read_table
from ..schema import ACCOUNT_KEY, LEAD_KEY, arrow_type

MAX_ID_LENGTH = 256  # characters; longer ids are refused (no workspace needs them, a hostile one might send MBs)
RECORD_KINDS = {"accounts": "account", "leads": "lead"}  # body section -> record kind
EVENT_SECTIONS = ("signals", "outcomes")
EVENT_COLUMNS = {"signals": ("lead_id", "account_id", "signal", "timestamp", "source"),
                 "outcomes": ("lead_id", "outcome", "timestamp")}
_INT64 = (-(2**63), 2**63 - 1)
_CONTROL = re.compile("[\x00-\x1f\x7f]")


class BadRequest(Exception):
    """A request the service refuses: an HTTP status, one line, and where (field, record)."""

    def __init__(self, message: str, field: str | None = None, record: str | None = None, status: int = 400):
        super().__init__(message)
        self.message, self.field, self.record, self.status = message, field, record, status

    def to_dict(self) -> dict:
        where = {k: v for k, v in (("field", self.field), ("record", self.record)) if v is not None}
        return {"error": self.message, **where}


def parse_json(raw: bytes) -> object:
    """The body as JSON; malformed JSON names the line and column."""
    if not raw.strip():
        raise BadRequest("empty body: send a JSON object")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BadRequest("malformed JSON: nested too deeply") from None


def _no_constant(name: str):
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


def json_object(raw: bytes, allowed: dict[str, tuple[type, ...]], required: tuple[str, ...] = ()) -> dict:
    """The body as one JSON object whose keys are among `allowed`, each of one of its types."""
    body = parse_json(raw)
    return checked_object(body, allowed, required, "the body")


def checked_object(body, allowed: dict[str, tuple[type, ...]], required: tuple[str, ...], where: str) -> dict:
    if not isinstance(body, dict):
        raise BadRequest(f"{where} must be a JSON object, not {_json_type(body)}")
    for key, value in body.items():
        if key not in allowed:
            raise BadRequest(f"{where}: unknown field `{key}`; expected one of {', '.join(allowed)}", field=key)
        if not isinstance(value, allowed[key]) or (isinstance(value, bool) and bool not in allowed[key]):
            names = " or ".join(_TYPE_NAMES[t] for t in allowed[key])
            raise BadRequest(f"{where}: field `{key}` must be {names}, not {_json_type(value)}", field=key)
    missing = [key for key in required if key not in body]
    if missing:
        raise BadRequest(f"{where}: missing field `{missing[0]}`", field=missing[0])
    return body


_TYPE_NAMES = {str: "a string", bool: "true or false", int: "an integer", float: "a number", list: "a list",
               dict: "an object", type(None): "null"}


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def record_id(value, what: str = "id") -> str:
    """An id as the store keeps it (text): a non-empty string or an integer, at most
    MAX_ID_LENGTH characters, no control characters."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadRequest(f"{what} must be a string or an integer, not {_json_type(value)}")
    text = str(value)
    if not text:
        raise BadRequest(f"{what} is empty")
    if len(text) > MAX_ID_LENGTH:
        raise BadRequest(f"{what} is {len(text):,} characters long; ids are at most {MAX_ID_LENGTH}")
    if _CONTROL.search(text):
        raise BadRequest(f"{what} holds a control character")
    return text


class _Wrong(Exception):
    """A value a field cannot take: what the field takes, or the whole complaint."""

    def __init__(self, expected: str, message: str | None = None):
        super().__init__(expected)
        self.expected, self.message = expected, message


def _exactly(value, python_type: type, expected: str):
    """`value` when it is of `python_type` (exactly: a JSON true is no integer)."""
    if type(value) is not python_type:
        raise _Wrong(expected)
    return value


def _string(value, field):
    return _exactly(value, str, "a string")


def _bool(value, field):
    return _exactly(value, bool, "true or false")


def _level(value, field):
    if _exactly(value, str, "a string") not in field.type.levels:
        raise _Wrong("", f"{value!r} is not one of {', '.join(repr(v) for v in field.type.levels)}")
    return value


def _int(value, field):
    if not _INT64[0] <= _exactly(value, int, "an integer") <= _INT64[1]:
        raise _Wrong("", f"{value} is out of range (64-bit integers)")
    return value


def _number(value, field):
    if type(value) is float:
        if math.isfinite(value):
            return value
        raise _Wrong("a finite number")
    if type(value) is int:
        return float(value)
    raise _Wrong("a number")


def _date(value, field):
    if type(value) is str and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise _Wrong('a date as "YYYY-MM-DD"')


def _set(value, field):
    if type(value) is list and all(type(m) is str for m in value):
        return value
    raise _Wrong("a list of strings")


# Field type -> the JSON value it takes, converted as its Arrow column holds it (schema.TYPE_NAMES).
_CONVERT = {"category": _string, "text": _string, "ordinal": _level, "bool": _bool, "int": _int, "number": _number,
            "date": _date, "set": _set}


def _value(field, value, where: str):
    """One JSON value of a declared field as the Arrow column takes it (None: unknown)."""
    if value is None:
        return None
    try:
        return _CONVERT[field.type.name](value, field)
    except _Wrong as wrong:
        message = wrong.message or (f"({field.type.describe()}) must be {wrong.expected}, not {_json_type(value)} "
                                    f"{json.dumps(value)[:60]}")
        raise BadRequest(f"{where}: field `{field.name}` {message}" if wrong.message is None else
                         f"{where}: field `{field.name}`: {message}", field=field.name) from None


def records_table(rows, section: str, schema, extra_fields=(), same_fields: bool = False) -> pa.Table:
    """A body's records of one kind (`section`: "accounts" or "leads") as an Arrow table typed as
    the store keeps them: ids as text, declared fields as their types. `extra_fields` (Fields)
    may appear too (a lead's account, inline). `same_fields`: every record must carry the same
    fields (an upsert sets each column it is given: an absent field must not mean unknown in
    some records and unchanged in others)."""
    if not isinstance(rows, list):
        raise BadRequest(f"`{section}` must be a list of records, not {_json_type(rows)}", field=section)
    kind = RECORD_KINDS[section]
    key = ACCOUNT_KEY if kind == "account" else LEAD_KEY
    keys = (key, ACCOUNT_KEY) if kind == "lead" else (key,)
    fields = {f.name: f for f in (*schema.of_kind(kind), *extra_fields)}
    columns: dict[str, list] = {k: [] for k in keys}
    seen: dict[str, int] = {}
    first_fields = None
    for i, row in enumerate(rows):
        where = f"{section}[{i}]"
        if not isinstance(row, dict):
            raise BadRequest(f"{where} must be a JSON object, not {_json_type(row)}", record=where)
        if key not in row:
            raise BadRequest(f"{where}: missing field `{key}`; every {kind} record needs an id", field=key, record=where)
        try:
            ident = record_id(row[key], f"field `{key}`")
        except BadRequest as exc:
            raise BadRequest(f"{where}: {exc.message}", field=key, record=where) from None
        where = f"{section}[{i}] ({key} {ident!r})"
        if ident in seen:
            raise BadRequest(f"{where}: {key} {ident!r} appears twice (also {section}[{seen[ident]}])", field=key,
                             record=where)
        seen[ident] = i
        columns[key].append(ident)
        if kind == "lead":
            owner = row.get(ACCOUNT_KEY)
            try:
                columns[ACCOUNT_KEY].append(None if owner is None else record_id(owner, f"field `{ACCOUNT_KEY}`"))
            except BadRequest as exc:
                raise BadRequest(f"{where}: {exc.message}", field=ACCOUNT_KEY, record=where) from None
        present = [name for name in row if name not in keys]
        for name in present:
            if name not in fields:
                declared = ", ".join(f.name for f in schema.of_kind(kind))
                raise BadRequest(f"{where}: unknown field `{name}`; the published rules declare {kind} fields "
                                 f"{declared}", field=name, record=where)
            if name not in columns:
                columns[name] = [None] * i
            columns[name].append(_value(fields[name], row[name], where))
        if same_fields:
            if first_fields is None:
                first_fields = set(present)
            elif set(present) != first_fields:
                odd = sorted(set(present) ^ first_fields)[0]
                raise BadRequest(f"{where}: every record in `{section}` must carry the same fields ({section}[0] "
                                 f"{'has' if odd in first_fields else 'lacks'} `{odd}`); send null to clear a value",
                                 field=odd, record=where)
        for name in columns:
            if len(columns[name]) < i + 1:
                columns[name].append(None)
    arrays = {}
    for name, values in columns.items():
        arrays[name] = pa.array(values, pa.string() if name in keys else arrow_type(fields[name].type))
    return pa.table(arrays)


def event_rows(rows, section: str) -> pa.Table:
    """Signals or outcomes as text columns (their values are checked where they are applied)."""
    if not isinstance(rows, list):
        raise BadRequest(f"`{section}` must be a list of records, not {_json_type(rows)}", field=section)
    allowed = EVENT_COLUMNS[section]
    columns: dict[str, list] = {c: [] for c in allowed}
    for i, row in enumerate(rows):
        where = f"{section}[{i}]"
        if not isinstance(row, dict):
            raise BadRequest(f"{where} must be a JSON object, not {_json_type(row)}", record=where)
        for name, value in row.items():
            if name not in allowed:
                raise BadRequest(f"{where}: unknown field `{name}`; {section} have {', '.join(allowed)}",
                                 field=name, record=where)
            if value is not None and not isinstance(value, str):
                if name in ("lead_id", "account_id") and isinstance(value, int) and not isinstance(value, bool):
                    value = str(value)
                else:
                    raise BadRequest(f"{where}: field `{name}` must be a string, not {_json_type(value)}",
                                     field=name, record=where)
            if name in ("lead_id", "account_id") and value is not None:
                try:
                    record_id(value, f"field `{name}`")
                except BadRequest as exc:
                    raise BadRequest(f"{where}: {exc.message}", field=name, record=where) from None
        for name in allowed:
            columns[name].append(row.get(name))
    present = [c for c in allowed if any(v is not None for v in columns[c])]
    return pa.table({c: pa.array(columns[c], pa.string()) for c in present})


def csv_table(raw: bytes, section: str, schema) -> pa.Table:
    """A CSV body of one section, read as the CLI reads a CSV file (only an empty cell is
    unknown); its columns must be ids or declared fields (events: their columns)."""
    if not raw.strip():
        raise BadRequest("empty body: send a CSV header line and records")
    with tempfile.TemporaryDirectory(prefix="unstuck-serve-") as folder:
        path = Path(folder) / f"{section}.csv"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        try:
            table = read_table(path)
        except DataError as exc:
            raise BadRequest(str(exc).replace(str(path), "the CSV body")) from None
    if section in EVENT_SECTIONS:
        allowed = set(EVENT_COLUMNS[section])
    else:
        kind = RECORD_KINDS[section]
        allowed = {f.name for f in schema.of_kind(kind)} | {ACCOUNT_KEY} | ({LEAD_KEY} if kind == "lead" else set())
    for name in table.column_names:
        if name not in allowed:
            raise BadRequest(f"the CSV body: unknown column `{name}`; expected some of {', '.join(sorted(allowed))}",
                             field=name)
        if name in (ACCOUNT_KEY, LEAD_KEY):
            ids = table.column(name).to_pylist()
            for row, value in enumerate(ids):
                if value is not None:
                    try:
                        record_id(value, f"column `{name}`")
                    except BadRequest as exc:
                        raise BadRequest(f"the CSV body: {exc.message} (row {row + 1})", field=name,
                                         record=f"row {row + 1}") from None
    return table


async def read_body(request, limit: int) -> bytes:
    """The body, refused past `limit` bytes whether or not the client said how long it is."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest("Content-Length is not a number")
        if int(declared) > limit:
            raise BadRequest(f"the body is {int(declared):,} bytes; this server takes at most {limit:,} "
                             "(unstuck serve --max-body)", status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequest(f"the body is over {limit:,} bytes, the most this server takes (unstuck serve "
                             "--max-body)", status=413)
        chunks.append(chunk)
    return b"".join(chunks)
