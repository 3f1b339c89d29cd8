"""List pages of stored scores (`GET /api/leads`, `/api/accounts`, an audience's members),
filtered, sorted and paged in DuckDB: Python sees one page. Paging is by cursor (keyset): a
cursor names the last row's sort value and id, so a page is found by the index of the sort, not
by skipping rows, and rows written between two pages neither repeat nor vanish from the rest.

A filter on an audience or an engagement stage, which no SQL column holds, arrives as the ids
of the records that meet it (`members`), joined in DuckDB."""

from __future__ import annotations

import base64
import json

import attrs
import pyarrow as pa

from ..schema import ACCOUNT_KEY, BAND_LEVELS, LEAD_KEY
from .bodies import BadRequest

DEFAULT_LIMIT, MAX_LIMIT = 50, 1000
_TABLES = {"lead": ("lead_scores", LEAD_KEY), "account": ("account_scores", ACCOUNT_KEY)}
# Sortable scores per kind; `-` before one sorts highest first (the default: best fit first).
SORTS = {"lead": ("icp_score", "persona_score"), "account": ("icp_score",)}
# Query parameter -> score column it filters on equal values.
FILTERS = {"lead": {"icp": "icp_code", "persona": "persona_code", "icp_band": "icp_band",
                    "persona_band": "persona_band", "band": "persona_band"},
           "account": {"icp": "icp_code", "icp_band": "icp_band", "band": "icp_band"}}
MEMBER_FILTERS = ("audience", "stage")  # met by ids the workspace computes
PAGING = ("sort", "limit", "cursor")
COLUMNS = {"lead": ("lead_id", "account_id", "icp_code", "icp_score", "icp_band", "persona_code", "persona_score",
                    "persona_band", "ruleset_version", "as_of"),
           "account": ("account_id", "icp_code", "icp_score", "icp_band", "ruleset_version", "as_of")}


@attrs.frozen
class ListQuery:
    kind: str  # "lead" | "account"
    equals: tuple[tuple[str, str], ...]  # (column, value)
    sort: str  # a score column, or the id column
    descending: bool
    limit: int
    after: tuple | None  # (sort value, id) of the last row of the page before
    audience: str | None = None
    stage: str | None = None


def parse(kind: str, params, stages=()) -> ListQuery:
    """A list query from the URL's parameters; an unknown parameter or value is a BadRequest."""
    key = _TABLES[kind][1]
    allowed = (*FILTERS[kind], *MEMBER_FILTERS, *PAGING)
    for name in params:
        if name not in allowed:
            raise BadRequest(f"unknown parameter `{name}`; expected one of {', '.join(allowed)}", field=name)
        if len(params.getlist(name)) > 1:
            raise BadRequest(f"parameter `{name}` given more than once", field=name)
    equals = []
    for name, column in FILTERS[kind].items():
        if name in params:
            value = params[name]
            if column.endswith("_band") and value not in BAND_LEVELS:
                raise BadRequest(f"parameter `{name}`: {value!r} is not a band ({', '.join(BAND_LEVELS)})", field=name)
            equals.append((column, value))
    stage = params.get("stage")
    if stage is not None and stage not in stages:
        known = ", ".join(stages) if stages else "none: the published rules declare no engagement"
        raise BadRequest(f"parameter `stage`: {stage!r} is not a stage ({known})", field="stage")
    sort = params.get("sort", "-" + SORTS[kind][0])
    descending = sort.startswith("-")
    column = sort.lstrip("-")
    if column not in (*SORTS[kind], key):
        raise BadRequest(f"parameter `sort`: {sort!r}; sort by {', '.join((*SORTS[kind], key))} "
                         "(a leading - for highest first)", field="sort")
    try:
        limit = int(params.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise BadRequest("parameter `limit` must be an integer", field="limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"parameter `limit` must be between 1 and {MAX_LIMIT}", field="limit")
    after = _cursor(params["cursor"], sort) if "cursor" in params else None
    return ListQuery(kind, tuple(equals), column, descending, limit, after, params.get("audience"), stage)


def _cursor(text: str, sort: str) -> tuple:
    try:
        raw = json.loads(base64.urlsafe_b64decode(text.encode("ascii") + b"==").decode("utf-8"))
        cursor_sort, value, last = raw
        if cursor_sort != sort or not isinstance(last, str) or not isinstance(value, (int, str)):
            raise ValueError
    except (ValueError, TypeError, UnicodeError):
        raise BadRequest("parameter `cursor`: not a cursor this list gave (repeat the query's other parameters "
                         "as they were)", field="cursor") from None
    return value, last


def _encode(sort: str, value, last: str) -> str:
    text = json.dumps([sort, value, last], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def page(store, query: ListQuery, members: pa.Array | None = None) -> dict:
    """One page: {"items": [...], "next": cursor or None}. `members`, when given, are the only
    ids the list may hold (an audience's, a stage's)."""
    table, key = _TABLES[query.kind]
    # Unknown scores sort below every score (a record with no ICP has no score).
    order_value = key if query.sort == key else f"coalesce({query.sort}, -1)"
    where, values = ["TRUE"], {}
    for i, (column, value) in enumerate(query.equals):
        where.append(f"{column} = $f{i}")
        values[f"f{i}"] = value
    if query.after is not None:
        after_value, values["after_id"] = query.after
        if query.sort == key:
            where.append(f"{key} {'<' if query.descending else '>'} $after_id")
        else:
            values["after_value"] = after_value
            beyond = "<" if query.descending else ">"
            where.append(f"({order_value} {beyond} $after_value OR ({order_value} = $after_value AND {key} > $after_id))")
    if members is not None:
        where.append(f"{key} IN (SELECT id FROM page_members)")
    direction = "DESC" if query.descending else "ASC"
    tie = f", {key} ASC" if query.sort != key else ""
    stamp, stamp_values = store.stamp_select(present=("ruleset_version", "as_of"))
    columns = ", ".join(stamp.get(c, c) for c in COLUMNS[query.kind])
    values |= stamp_values
    sql = (f"SELECT {columns}, {order_value} AS sort_value FROM {table} WHERE {' AND '.join(where)} "
           f"ORDER BY {order_value} {direction}{tie} LIMIT {query.limit + 1}")
    if members is not None:
        with store.registered("page_members", pa.table({"id": members})):
            rows = store.db.execute(sql, values).fetchall()
    else:
        rows = store.db.execute(sql, values).fetchall()
    names = (*COLUMNS[query.kind], "sort_value")
    items = [dict(zip(names, row)) for row in rows[:query.limit]]
    following = None
    if len(rows) > query.limit:
        last = items[-1]
        following = _encode(("-" if query.descending else "") + query.sort, last["sort_value"], last[key])
    for item in items:
        del item["sort_value"]
        if item.get("as_of") is not None:
            item["as_of"] = item["as_of"].isoformat()
    return {"items": items, "next": following}
