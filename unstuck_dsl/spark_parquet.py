"""A bare Parquet scan read by the Spark engine's Python workers themselves, not by the JVM.

When an input DataFrame is nothing but Spark's read of Parquet files (`spark.read.parquet(...)`,
whatever columns it selects), the JVM would decode the Parquet pages into rows and then turn the
rows back into Arrow batches for the Python workers: at 10M accounts and 30M leads, two thirds
of the JVM's CPU time in a run. Here the workers read the files' row groups with pyarrow (as the
local engine reads Parquet), only the columns the rules declare, and Spark distributes only the
list of row groups: a DataFrame of one row per partition (`spark.range`), each naming the row
groups its task reads (Petastorm's pattern).

The outputs are exactly today's: the batches the workers read are cast to the Arrow types Spark
would have sent for the DataFrame's schema, so the engine sees the same values as through the
JVM. `plan` takes this path only where it can show that: the DataFrame's optimized plan is a
plain relation over Parquet files (`ParquetFileFormat` over a listed file index, no filter, no
expression, at most column pruning); no column read is a partition (directory) column; every
file's footer holds every column read with a type that casts to Spark's exactly (the same type,
or a dictionary, large or differently named list of it); a date or timestamp column's row
groups have statistics showing no value before 1900 (earlier ones Spark may rebase from the
Julian calendar, or refuse); and pyarrow opens the files' filesystem. Anything else: None, and
the JVM reads the DataFrame as before.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import math
import urllib.parse

import attrs
import pyarrow as pa

RELATION = "org.apache.spark.sql.execution.datasources.LogicalRelation"
PROJECT = "org.apache.spark.sql.catalyst.plans.logical.Project"
ATTRIBUTE = "org.apache.spark.sql.catalyst.expressions.AttributeReference"
PARQUET = "org.apache.spark.sql.execution.datasources.parquet.ParquetFileFormat"
LISTED_FILES = "org.apache.spark.sql.execution.datasources.InMemoryFileIndex"
# No date or timestamp before this is read by the workers: older ones Spark may rebase from the
# hybrid Julian calendar (`spark.sql.parquet.datetimeRebaseModeInRead`, INT96's switch is 1900).
EARLIEST = dt.date(1900, 1, 1)
ROW_GROUP_BATCH = 1 << 30  # no record limit per batch (Spark's maxRecordsPerBatch <= 0): a row group
FOOTER_THREADS = 16  # footers read at once on the driver (a remote store's latency, not CPU)


@attrs.frozen
class Piece:
    """One row group of one file."""

    path: str  # as the file's filesystem names it
    row_group: int
    rows: int
    size: int  # compressed bytes of the columns read


@attrs.frozen
class ParquetPieces:
    """What the Python workers read in place of the JVM: the partitions (each a tuple of row
    groups, in file order), the filesystem's URI, and the Arrow schema Spark would send, but for
    the string columns read as dictionaries (`dictionary`), as the local engine reads Parquet:
    their strings stay in Parquet's dictionary pages, each batch's column codes into them."""

    uri: str  # any file's URI: pyarrow.fs opens its filesystem in the worker
    partitions: tuple[tuple[Piece, ...], ...]
    schema: pa.Schema
    rows: int
    batch_rows: int  # records per batch read, as Spark's (spark.sql.execution.arrow.maxRecordsPerBatch)
    dictionary: frozenset[str] = frozenset()  # columns (text or lists of text) read dictionary-encoded

    def batches(self, tasks):
        """mapInArrow's input in the worker: `tasks`, the batches of partition numbers Spark hands
        it (one number here), become the Arrow batches of those partitions' row groups, each
        cast to Spark's types (the `dictionary` columns to dictionaries of them) and at most as
        long as Spark's batches. A batch spans no two row groups: Arrow cannot join a list
        column's dictionaries across them."""
        import pyarrow.fs as pafs
        import pyarrow.parquet as pq

        filesystem, _ = pafs.FileSystem.from_uri(self.uri)
        columns = self.schema.names
        schema = pa.schema([pa.field(f.name, _dictionary_of(f.type)) if f.name in self.dictionary else f
                            for f in self.schema])
        opened = None
        for task in tasks:
            for number in task.column(0).to_pylist():
                for piece in self.partitions[number]:
                    if opened is None or opened[0] != piece.path:
                        opened = (piece.path, _opened(pq.ParquetFile(piece.path, filesystem=filesystem),
                                                      piece.path, filesystem, self.dictionary))
                    for batch in opened[1].iter_batches(batch_size=self.batch_rows, row_groups=[piece.row_group],
                                                        columns=columns, use_threads=False):
                        yield batch.select(columns).cast(schema)

    def tasks(self, spark):
        """The DataFrame Spark distributes: partition k holds the one number k."""
        return spark.range(0, len(self.partitions), 1, len(self.partitions))


def _opened(parquet, path: str, filesystem, dictionary: frozenset[str]):
    """The file opened again to read the text leaves of the `dictionary` columns as dictionaries
    (data._read_parquet's way), or as it is when it has none."""
    import pyarrow.parquet as pq

    leaves = [parquet.schema.column(i) for i in range(parquet.metadata.num_columns)]
    read_dictionary = [leaf.path for leaf in leaves
                       if leaf.path.split(".")[0] in dictionary and leaf.physical_type == "BYTE_ARRAY"]
    if not read_dictionary:
        return parquet
    return pq.ParquetFile(path, filesystem=filesystem, read_dictionary=read_dictionary, pre_buffer=False,
                          buffer_size=1 << 20)


def _dictionary_of(type_: pa.DataType) -> pa.DataType:
    """A text type, or a list of it, as pyarrow reads it from dictionary pages."""
    if pa.types.is_list(type_) or pa.types.is_large_list(type_):
        make = pa.large_list if pa.types.is_large_list(type_) else pa.list_
        return make(type_.value_field.with_type(_dictionary_of(type_.value_type)))
    return pa.dictionary(pa.int32(), type_) if pa.types.is_string(type_) or pa.types.is_large_string(type_) else type_


def plan(df, columns: list[str], dictionary: tuple[str, ...] = ()) -> ParquetPieces | None:
    """The row groups of `df.select(*columns)` for the Python workers to read (the `dictionary`
    columns' text as dictionaries), or None (the JVM reads it): see the module's docstring."""
    from pyspark.sql.utils import is_remote

    if is_remote():  # Spark Connect: no plan objects to inspect, and the JVM is the server's
        return None
    spark = df.sparkSession
    if not _bare_parquet_scan(df.select(*columns), columns):
        return None
    try:
        import pyarrow.fs as pafs
        import pyarrow.parquet as pq
        from pyspark.sql.pandas.types import to_arrow_schema

        files = df.inputFiles()
        if not files or len({urllib.parse.urlsplit(f)[:2] for f in files}) != 1:  # one filesystem
            return None
        filesystem, _ = pafs.FileSystem.from_uri(files[0])
        paths = [pafs.FileSystem.from_uri(f)[1] for f in files]
        large = spark.conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false") == "true"
        schema = to_arrow_schema(df.select(*columns).schema, timezone=spark.conf.get("spark.sql.session.timeZone"),
                                 prefers_large_types=large)
        with concurrent.futures.ThreadPoolExecutor(FOOTER_THREADS) as pool:
            footers = list(pool.map(lambda path: pq.ParquetFile(path, filesystem=filesystem).metadata, paths))
        pieces = []
        for path, footer in zip(paths, footers):
            found = _pieces(path, footer, schema)
            if found is None:
                return None
            pieces += found
    except Exception:  # noqa: BLE001 - a filesystem pyarrow cannot open, a footer it cannot read: the JVM reads
        return None
    if not pieces:
        return None
    batch_rows = int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch"))
    return ParquetPieces(files[0], _partitions(spark, pieces), schema, sum(p.rows for p in pieces),
                         batch_rows if batch_rows > 0 else ROW_GROUP_BATCH, frozenset(dictionary))


def _bare_parquet_scan(selected, columns: list[str]) -> bool:
    """The optimized plan of `selected` is a Parquet relation over listed files, or a projection
    of its columns (attributes only), and no column is a partition column."""
    node = selected._jdf.queryExecution().optimizedPlan()
    if node.getClass().getName() == PROJECT:
        projected = node.projectList()
        if any(projected.apply(i).getClass().getName() != ATTRIBUTE for i in range(projected.size())):
            return False
        node = node.child()
    if node.getClass().getName() != RELATION:
        return False
    relation = node.relation()
    if not relation.getClass().getName().endswith("HadoopFsRelation"):
        return False
    if relation.fileFormat().getClass().getName() != PARQUET or relation.location().getClass().getName() != LISTED_FILES:
        return False
    partition_columns = {name.lower() for name in relation.partitionSchema().fieldNames()}
    return not partition_columns & {c.lower() for c in columns}


def _pieces(path: str, footer, schema: pa.Schema) -> list[Piece] | None:
    """A file's row groups, or None when a column read is not in it or does not read as Spark
    reads it."""
    file_schema = footer.schema.to_arrow_schema()
    leaves = {}  # top-level column -> its leaf columns' indices in the footer
    for i in range(footer.num_columns):
        leaves.setdefault(footer.schema.column(i).path.split(".")[0], []).append(i)
    for field in schema:  # (a name with a dot in it is not among `leaves`: left to the JVM)
        if field.name not in leaves or file_schema.get_field_index(field.name) < 0 \
                or not _reads_as(file_schema.field(field.name).type, field.type):
            return None
    dated = [leaves[f.name][0] for f in schema if pa.types.is_date(f.type) or pa.types.is_timestamp(f.type)]
    read = [i for f in schema for i in leaves[f.name]]
    pieces = []
    for k in range(footer.num_row_groups):
        group = footer.row_group(k)
        if not group.num_rows:  # (Arrow writes an empty table as one row group of none)
            continue
        if any(not _dates_after_earliest(group.column(i).statistics, group.num_rows) for i in dated):
            return None
        pieces.append(Piece(path, k, group.num_rows, sum(group.column(i).total_compressed_size for i in read)))
    return pieces


def _dates_after_earliest(statistics, rows: int) -> bool:
    """Whether a row group's date or timestamp column shows, by its statistics, no value
    before EARLIEST (all null, or its minimum after it)."""
    if statistics is None:
        return rows == 0
    if not statistics.has_min_max:
        return statistics.has_null_count and statistics.null_count == rows
    least = statistics.min
    return (least.date() if isinstance(least, dt.datetime) else least) >= EARLIEST


def _reads_as(found: pa.DataType, wanted: pa.DataType) -> bool:
    """Whether a file's column type casts exactly to Spark's: equal, or a dictionary or a
    large or small variant of it, or a list of such whose field is named otherwise."""
    if pa.types.is_dictionary(found):
        found = found.value_type
    if pa.types.is_large_string(found) or pa.types.is_string(found):
        return pa.types.is_string(wanted) or pa.types.is_large_string(wanted)
    if pa.types.is_list(found) or pa.types.is_large_list(found):
        return (pa.types.is_list(wanted) or pa.types.is_large_list(wanted)) and _reads_as(found.value_type, wanted.value_type)
    if pa.types.is_timestamp(found):  # the unit and whether it is UTC (Spark's TIMESTAMP or TIMESTAMP_NTZ)
        return (pa.types.is_timestamp(wanted) and found.unit == wanted.unit
                and (found.tz is None) == (wanted.tz is None))
    return found == wanted


def _partitions(spark, pieces: list[Piece]) -> tuple[tuple[Piece, ...], ...]:
    """The row groups in partitions of consecutive row groups, as Spark splits files (about
    min(maxPartitionBytes, the bytes per core) each, at least openCostInBytes), but as many as a
    multiple of the cores, of about equal bytes, so that the cores end together (3 partitions
    on 2 cores leave one core idle for the last third)."""
    conf = spark.conf
    cores = max(1, spark.sparkContext.defaultParallelism)
    total = sum(p.size for p in pieces) or 1
    split = min(_bytes(conf.get("spark.sql.files.maxPartitionBytes")),
                max(_bytes(conf.get("spark.sql.files.openCostInBytes")), total / cores))
    count = min(len(pieces), cores * math.ceil(math.ceil(total / split) / cores))
    partitions: list[list[Piece]] = [[] for _ in range(count)]
    before = 0
    for piece in pieces:  # each in the partition its middle byte falls in
        partitions[min(count - 1, int((before + piece.size / 2) / total * count))].append(piece)
        before += piece.size
    return tuple(tuple(partition) for partition in partitions if partition)


def _bytes(setting: str) -> int:
    """A Spark size setting ('128MB', '4194304b', '134217728') in bytes."""
    text = setting.strip().lower().rstrip("b")
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    return int(float(text[:-1]) * units[text[-1]]) if text and text[-1] in units else int(text)
