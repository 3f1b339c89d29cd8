"""The records one explanation needs, read from the inputs without encoding the rest.

`unstuck explain` explains one record. Scoring every record to explain one costs the whole load
(seconds at a million accounts); the drawer of a lead depends only on the lead and its account,
and that of an account on the account alone (with engagement, also on the account's leads,
whose signals count for it). So the inputs are read twice, lazily: first only the id column,
to find the record's row (an id in two rows is refused, as a full load refuses it), then the
record's columns up to that row. The rows found are encoded by `data.encode` like any input,
under the input's own name, so their values, checks and messages are a full run's; the other
rows are neither encoded nor checked (a bad value elsewhere in the file does not stop the
explanation of a good record).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .data import DICTIONARY_TYPES, DataError, Dataset, _describe, account_rows, encode, read_batches
from .schema import ACCOUNT_KEY, LEAD_KEY, Schema


def _as_text(column) -> pa.Array:
    """An id column as strings, as `data` keys records (integer ids are their decimal text)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    value_type = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if pa.types.is_dictionary(column.type) or not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)):
        column = column.cast(pa.string())
    return column


def rows_with_id(source, key: str, record_id: str, name: str, null_values: Sequence[str] = ()) -> np.ndarray:
    """Every row (in input order) whose `key` column holds `record_id`, reading only that column
    (of a Parquet file, only in the row groups whose statistics allow the id)."""
    _, batches, _ = read_batches(source, [key], name, null_values=null_values)  # checks the input, reads lazily
    parquet = _parquet_file(source)
    numbered = _numbered(batches) if parquet is None else _parquet_id_batches(parquet, key, str(record_id))
    found = []
    for base, batch in numbered:
        hits = pc.equal(_as_text(batch.column(0)), pa.scalar(str(record_id), pa.string())).fill_null(False)
        found.append(np.flatnonzero(hits.to_numpy(zero_copy_only=False)) + base)
    return np.concatenate(found).astype(np.int64, copy=False) if found else np.zeros(0, np.int64)


def _numbered(batches) -> Iterator[tuple[int, pa.RecordBatch]]:
    """Batches with the input row of their first row (as the Parquet readers below give them)."""
    base = 0
    for batch in batches:
        yield base, batch
        base += batch.num_rows


def _only_row(rows: np.ndarray, key: str, record_id: str, name: str) -> np.ndarray:
    """The record's row; an id in two rows is refused with the message a full load gives."""
    if len(rows) > 1:
        raise DataError(f"{name}: column `{key}`: id {str(record_id)!r} appears more than once "
                        f"(rows {rows[0] + 1} and {rows[1] + 1})")
    return rows


def read_rows(source, needed: list[str], rows: np.ndarray, name: str, null_values: Sequence[str] = (),
              optional: Sequence[str] = (), known: dict[str, str] | None = None, dictionary_columns=()) -> pa.Table:
    """The needed columns of the given rows (rows of the input, in the order given), reading the
    input only up to the last of them (of a Parquet file, only the row groups holding them).
    `known` names columns whose value is the same in every row asked for (the id they were
    found by): a Parquet file's are not read again but filled in as text, the form ids are
    keyed by. `dictionary_columns` (text and set fields) are read from Parquet's dictionary
    pages, which decodes a list of strings about twice as fast; every column comes back decoded
    (one record needs no dictionary)."""
    present, batches, _ = read_batches(source, needed, name, null_values=null_values, optional=optional)
    targets = np.unique(np.asarray(rows, np.int64))  # sorted, each once
    parquet = _parquet_file(source, dictionary_columns)
    known = {c: v for c, v in (known or {}).items() if c in present} if parquet is not None else {}
    numbered = _numbered(batches) if parquet is None else \
        _parquet_row_batches(parquet, [c for c in present if c not in known], targets)
    pieces, schema = [], None
    for base, batch in numbered:
        if schema is None:
            schema = _decoded(batch.slice(0, 0)).schema
        if not len(targets) or base > targets[-1]:
            break
        inside = targets[(targets >= base) & (targets < base + batch.num_rows)]
        if len(inside):
            pieces.append(_decoded(batch.take(pa.array(inside - base))))
    if schema is None:  # no rows were wanted, or the input has none
        types = parquet.schema_arrow if parquet is not None else None
        schema = pa.schema([types.field(c) if types is not None else (c, pa.string()) for c in present
                            if c not in known])
    table = pa.Table.from_batches(pieces, schema=schema)
    table = table.take(pa.array(np.searchsorted(targets, np.asarray(rows, np.int64)), pa.int64()))
    for column, value in known.items():
        table = table.append_column(column, pa.array([str(value)] * table.num_rows, pa.string()))
    return table.select(present)


# ---- Parquet: row groups are the unit a reader can skip ----------------------------------------
PARQUET_BATCH_ROWS = 65_536  # within a row group, reading stops after the batch holding the last row


def _parquet_file(source, dictionary_columns=()):
    """A Parquet input, opened (the strings of `dictionary_columns` read as dictionaries), or
    None for any other input."""
    if not isinstance(source, (str, Path)) or Path(source).suffix.lower() != ".parquet":
        return None
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(source)
    leaves = [parquet.schema.column(i) for i in range(parquet.metadata.num_columns)]
    dictionary = [leaf.path for leaf in leaves
                  if leaf.path.split(".")[0] in dictionary_columns and leaf.physical_type == "BYTE_ARRAY"]
    return pq.ParquetFile(source, read_dictionary=dictionary) if dictionary else parquet


def _group_starts(parquet) -> np.ndarray:
    sizes = [parquet.metadata.row_group(g).num_rows for g in range(parquet.metadata.num_row_groups)]
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])


def _parquet_id_batches(parquet, key: str, record_id: str) -> Iterator[tuple[int, pa.RecordBatch]]:
    """The key column of each row group that may hold the id: one whose text statistics put the
    id outside [min, max] cannot."""
    leaf = next(i for i in range(parquet.metadata.num_columns) if parquet.schema.column(i).path == key)
    starts = _group_starts(parquet)
    for g in range(parquet.metadata.num_row_groups):
        stats = parquet.metadata.row_group(g).column(leaf).statistics
        if stats is not None and stats.has_min_max and isinstance(stats.min, str) and isinstance(stats.max, str) \
                and not stats.min <= record_id <= stats.max:
            continue
        base = int(starts[g])
        for batch in parquet.read_row_group(g, columns=[key]).to_batches():
            yield base, batch
            base += batch.num_rows


def _parquet_row_batches(parquet, columns: list[str], targets: np.ndarray) -> Iterator[tuple[int, pa.RecordBatch]]:
    """The batches of the row groups holding the target rows, each group read only up to its
    last target."""
    starts = _group_starts(parquet)
    for g in np.unique(np.searchsorted(starts, targets, side="right") - 1):
        base = int(starts[g])
        last = int(targets[targets < starts[g + 1]].max())
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=[int(g)], columns=columns):
            yield base, batch
            base += batch.num_rows
            if base > last:
                break


def _decoded(batch: pa.RecordBatch) -> pa.RecordBatch:
    def plain(column: pa.Array) -> pa.Array:
        if pa.types.is_dictionary(column.type):
            return column.cast(column.type.value_type)
        if pa.types.is_list(column.type) and pa.types.is_dictionary(column.type.value_type):
            return column.cast(pa.list_(column.type.value_type.value_type))
        return column

    return pa.RecordBatch.from_arrays([plain(c) for c in batch.columns], names=batch.schema.names)


def explained_records(schema: Schema, account_fields: list[str], lead_fields: list[str], accounts=None, leads=None,
                      account_id: str | None = None, lead_id: str | None = None, leads_of_account: bool = False,
                      null_values: Sequence[str] = (), missing_columns: str = "error") -> Dataset:
    """The records explaining `lead_id` (the lead and its account) or `account_id` (the account,
    and with `leads_of_account` its leads) needs, encoded as a Dataset. A record that is not in
    the input is left out, so that explaining it reports an unknown id."""
    if accounts is None and leads is None:
        raise DataError("no input: give accounts, leads, or both")
    flat = accounts is None
    lead_name = _describe(leads) if leads is not None else ""
    account_name = lead_name if flat else _describe(accounts)
    account_source = leads if flat else accounts
    optional_all = missing_columns == "unknown"

    def read(source, kind_keys: list[str], fields: list[str], rows: np.ndarray, name: str,
             known: dict[str, str] | None = None) -> pa.Table:
        wanted = list(dict.fromkeys(kind_keys + fields))
        optional = [c for c in wanted if c not in kind_keys] if optional_all else ()
        strings = [f for f in fields if schema.get(f).type.name in DICTIONARY_TYPES]
        return read_rows(source, wanted, rows, name, null_values, optional, known, strings)

    def account_rows_of(record_id: str) -> np.ndarray:
        found = rows_with_id(account_source, ACCOUNT_KEY, record_id, account_name, null_values)
        # In a flat lead table an account is its first lead row; a table of accounts names each once.
        return found[:1] if flat else _only_row(found, ACCOUNT_KEY, record_id, account_name)

    def account_table(rows: np.ndarray, record_id: str | None) -> pa.Table:
        known = {ACCOUNT_KEY: record_id} if record_id is not None else None
        if flat:
            return read(leads, [ACCOUNT_KEY, LEAD_KEY], [*account_fields, *lead_fields], rows, lead_name, known)
        return read(accounts, [ACCOUNT_KEY], account_fields, rows, account_name, known)

    if lead_id is not None:
        if leads is None:
            raise DataError("no leads were given")
        rows = _only_row(rows_with_id(leads, LEAD_KEY, lead_id, lead_name, null_values), LEAD_KEY, lead_id, lead_name)
        lead_rows = read(leads, [LEAD_KEY, ACCOUNT_KEY], [*account_fields, *lead_fields] if flat else lead_fields,
                         rows, lead_name, {LEAD_KEY: lead_id})
        owner = _as_text(lead_rows.column(ACCOUNT_KEY))[0].as_py() if lead_rows.num_rows else None
        found = account_rows_of(owner) if owner is not None else np.zeros(0, np.int64)
        account_rows_table = account_table(found, owner)
    else:
        account_rows_table = account_table(account_rows_of(account_id), account_id)
        lead_rows = None
        if leads is not None and leads_of_account:
            rows = rows_with_id(leads, ACCOUNT_KEY, account_id, lead_name, null_values)
            lead_rows = read(leads, [LEAD_KEY, ACCOUNT_KEY], [*account_fields, *lead_fields] if flat else lead_fields,
                             rows, lead_name, {ACCOUNT_KEY: account_id})
    account_encoded = encode(account_rows_table, schema, "account", account_fields, account_name,
                             missing_columns=missing_columns)
    if lead_rows is None:
        return Dataset(account_encoded, None, None)
    lead_encoded = encode(lead_rows, schema, "lead", lead_fields, lead_name, (ACCOUNT_KEY,),
                          missing_columns=missing_columns)
    return Dataset(account_encoded, lead_encoded, account_rows(lead_encoded.account_ids, account_encoded.ids))
