"""Result files written as parts encoded on every core (`file_parts`): the file a reader opens
is the one Arrow's own writer makes of the same table, row group by row group, for Parquet
readers other than Arrow too, and CSV is byte for byte the single-threaded writer's."""

from __future__ import annotations

import io

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unstuck_dsl import file_parts
from unstuck_dsl.output import _parquet_options, write_table


def _table(rows: int, seed: int = 0) -> pa.Table:
    codes = ["", "ent", "mid,market", 'say "hi"', "=SUM(A1)", None]
    return pa.table({
        "lead_id": pa.array([f"l{seed}-{i}" for i in range(rows)], pa.string()),
        "account_id": pa.array([f"a{i % 97}" if i % 11 else None for i in range(rows)], pa.string()).dictionary_encode(),
        "icp_code": pa.array([codes[(i * 7 + seed) % len(codes)] for i in range(rows)], pa.string()).dictionary_encode(),
        "icp_score": pa.array([None if i % 13 == 0 else (i * 31 + seed) % 100 for i in range(rows)], pa.int32()),
        "weight": pa.array([None if i % 5 == 0 else i / 7 for i in range(rows)], pa.float64()),
        "matched": pa.array([None if i % 17 == 0 else i % 3 == 0 for i in range(rows)], pa.bool_()),
        "stack": pa.array([[f"t{i % 4}", f"t{i % 9}"] if i % 6 else None for i in range(rows)], pa.list_(pa.string())),
    })


def _plain(table: pa.Table) -> pa.Table:
    """Values as a reader sees them: dictionary columns decoded (each row group has its own)."""
    return pa.table({name: column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column
                     for name, column in zip(table.column_names, table.columns)})


def _footer(path) -> bytes:
    data = open(path, "rb").read()
    size = int.from_bytes(data[-8:-4], "little")
    return data[-8 - size:-8]


def test_the_footer_codec_reencodes_arrows_footer_byte_for_byte(tmp_path):
    """Decoding and encoding a footer Arrow wrote (statistics, dictionary pages, nested lists,
    booleans, key-value metadata, several row groups) gives back its exact bytes."""
    path = tmp_path / "t.parquet"
    pq.write_table(_table(1000), path, row_group_size=300)
    footer = _footer(path)
    decoded = file_parts.decode_struct(footer)
    assert file_parts.encode_struct(decoded) == footer
    assert decoded[file_parts.FileMetaData.NUM_ROWS][1] == 1000


@pytest.mark.parametrize("part_rows", [1, 7, 256, 5000])
def test_a_parquet_file_in_parts_reads_as_the_table(tmp_path, monkeypatch, part_rows):
    monkeypatch.setattr(file_parts, "PART_ROWS", part_rows)
    pieces = [_table(1000, seed=1), _table(0, seed=2), _table(333, seed=3)]
    path = tmp_path / "t.parquet"
    file_parts.write_parquet(pieces, str(path), _parquet_options)
    whole = pa.concat_tables(pieces)
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_rows == 1333
    assert parquet.metadata.num_row_groups == -(-1000 // part_rows) + -(-333 // part_rows)
    assert parquet.schema_arrow == whole.schema  # dictionary types come back (Arrow's schema is kept)
    assert _plain(pq.read_table(path)).equals(_plain(whole))
    # Each row group is where the footer says: read alone, it holds its own slice, statistics and all.
    start = 0
    for group in range(parquet.metadata.num_row_groups):
        read = parquet.read_row_group(group)
        assert _plain(read).equals(_plain(whole.slice(start, read.num_rows)))
        scores = parquet.metadata.row_group(group).column(3).statistics
        assert (scores.min, scores.max) == _min_max(whole.slice(start, read.num_rows)["icp_score"])
        start += read.num_rows
    assert start == 1333


def _min_max(column) -> tuple:
    found = pc.min_max(column)
    return found["min"].as_py(), found["max"].as_py()


def test_another_reader_reads_a_file_in_parts(tmp_path, monkeypatch):
    """DuckDB's Parquet reader (not Arrow's) finds every row, in order, with its values."""
    monkeypatch.setattr(file_parts, "PART_ROWS", 64)
    table = _table(1000)
    path = tmp_path / "t.parquet"
    file_parts.write_parquet([table], str(path), _parquet_options)
    read = duckdb.sql(f"SELECT lead_id, account_id, icp_code, icp_score, weight, matched, stack "
                      f"FROM read_parquet('{path}', file_row_number=true) ORDER BY file_row_number").arrow()
    read = read.read_all() if hasattr(read, "read_all") else read
    assert read.to_pylist() == _plain(table).to_pylist()


def test_a_table_of_no_rows_keeps_its_schema(tmp_path):
    path = tmp_path / "t.parquet"
    file_parts.write_parquet([_table(0)], str(path), _parquet_options)
    read = pq.read_table(path)
    assert read.num_rows == 0 and read.schema == _table(0).schema


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(0, 40), min_size=1, max_size=5), part_rows=st.integers(1, 50))
def test_csv_in_parts_is_the_single_writers_bytes(sizes, part_rows):
    """Whatever the pieces and parts, the CSV is byte for byte Arrow's one-pass writing of the
    whole table: one header, every line once, in order."""
    pieces = [_table(n, seed=k).drop(["stack"]) for k, n in enumerate(sizes)]
    sink = io.BytesIO()
    original = file_parts.PART_ROWS
    file_parts.PART_ROWS = part_rows
    try:
        file_parts.write_csv(pieces, sink)
    finally:
        file_parts.PART_ROWS = original
    whole = io.BytesIO()
    pcsv.write_csv(pa.concat_tables(pieces).combine_chunks(), whole)
    assert sink.getvalue() == whole.getvalue()


def test_an_error_in_one_part_leaves_no_file(tmp_path, monkeypatch):
    """A part that fails to encode fails the write; the destination keeps what it had."""
    monkeypatch.setattr(file_parts, "PART_ROWS", 10)
    path = tmp_path / "t.parquet"
    path.write_bytes(b"before")
    calls = []

    def failing(table, schema, **options):
        calls.append(table.num_rows)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return encode(table, schema, **options)

    encode = file_parts.encode_part
    monkeypatch.setattr(file_parts, "encode_part", failing)
    with pytest.raises(Exception, match="could not be written"):
        write_table(_table(100), path)
    assert path.read_bytes() == b"before"
