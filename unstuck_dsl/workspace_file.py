"""A workspace's DuckDB file, opened: a process holding it waited for, a damaged file named, and
every stored block read once, beside the command, so that nothing is committed to a workspace not
known to be whole. Apart from store.py (the SQL over the file) and light: a command opens its
workspace, and the reading through starts, before the data libraries load (pyarrow, the store,
the kernels), which then load while DuckDB reads."""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from pathlib import Path

from .data_error import DataError
from .service.holder import held_by

BUSY_WAIT_VARIABLE, BUSY_WAIT_DEFAULT = "UNSTUCK_BUSY_WAIT", 10.0  # seconds to wait for another process
# What DuckDB says when another process holds the file, and when it reads a truncated or garbled one.
_BUSY_SIGNS = ("could not set lock", "conflicting lock")
_DAMAGE_SIGNS = ("not a valid duckdb database", "checksum", "could not read enough bytes", "corrupt")
# DuckDB's file: three 4 KiB headers, then blocks, each starting with the checksum (8 bytes) of
# the rest: its 8-byte words each multiplied by this number (wrapping at 64 bits), XORed together
# and with 5381 (duckdb/common/checksum.cpp). What DuckDB checks of a block as it reads it.
_HEADERS, _CHECKSUM_SEED, _CHECKSUM_MULTIPLIER = 3 * 4096, 5381, 0xBF58476D1CE4E5B9
_BLOCKS_AT_ONCE = 8  # (2 MiB read and checked at a time: in the processor's cache)


class WorkspaceBusy(Exception):
    """Another process holds the workspace."""


class WorkspaceDamaged(DataError):
    """The workspace file is truncated or garbled: DuckDB cannot read it."""


def busy_wait() -> float:
    """How long to wait for another process to release the workspace, from UNSTUCK_BUSY_WAIT."""
    raw = os.environ.get(BUSY_WAIT_VARIABLE)
    if raw is None:
        return BUSY_WAIT_DEFAULT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not seconds >= 0:  # also refuses NaN
        raise DataError(f"{BUSY_WAIT_VARIABLE} must be a number of seconds ≥ 0, got {raw!r}")
    return seconds


def quote(name: str) -> str:
    """A table or column name as SQL reads it."""
    return '"' + name.replace('"', '""') + '"'


class WorkspaceFile:
    """One workspace file, open (`db`, DuckDB's connection) and being read through. A DuckDB
    failure that says the file is damaged, or that its folder is not writable, comes out as one
    line naming the workspace (`error_of`)."""

    def __init__(self, path: str | Path, read_only: bool = False, wait: float | None = None):
        import duckdb

        self.path = Path(path)
        self.read_only = read_only
        if read_only and not self.path.exists():
            raise DataError(f"{self.path}: no such workspace database; create it with `unstuck ingest`")
        if not read_only and not os.access(self.path.parent, os.W_OK):
            raise self._folder_not_writable()  # found now, not when the first change is committed
        deadline = time.monotonic() + (busy_wait() if wait is None else wait)
        while True:
            try:
                # No read depends on the order rows went in (those that show rows sort them, the
                # others aggregate): without that order DuckDB loads in parallel, and does not
                # rewrite at closing what a large transaction wrote (16 s of a 1M-record ingest).
                self.db = duckdb.connect(str(self.path), read_only=read_only,
                                         config={"preserve_insertion_order": False})
                break
            except duckdb.Error as exc:
                if not any(sign in str(exc).lower() for sign in _BUSY_SIGNS):
                    raise self.error_of(exc) or DataError(
                        f"{self.path}: cannot open the workspace ({str(exc).splitlines()[0]})") from None
                if (server := held_by(self.path)) is not None:  # `unstuck serve` holds it: say where, now
                    raise WorkspaceBusy(server.busy_message(self.path)) from None
                if time.monotonic() > deadline:
                    raise WorkspaceBusy(f"workspace busy: another unstuck process is using {self.path}; "
                                        "try again when it has finished") from None
                time.sleep(0.2)
        self._verifying: threading.Thread | None = None
        self._verify_failure: BaseException | None = None
        self._bytes = None  # the file read by `_blocks_checked`, closed after DuckDB's (`close`)
        try:
            self._verify()
        except BaseException as exc:
            self.close()
            if isinstance(exc, duckdb.Error) and (error := self.error_of(exc)) is not None:
                raise error from None
            raise

    def error_of(self, exc: Exception) -> DataError | None:
        """What a DuckDB failure means for the user, when it is about the workspace file itself."""
        message = str(exc).splitlines()[0]
        lowered = message.lower()
        if any(sign in lowered for sign in _DAMAGE_SIGNS):
            return WorkspaceDamaged(f"{self.path}: the workspace is damaged ({message}); restore it from a backup "
                                    "(unstuck left the file as it is)")
        if ".wal" in lowered and ("permission denied" in lowered or "read-only file system" in lowered):
            return self._folder_not_writable()
        return None

    def _folder_not_writable(self) -> DataError:
        return DataError(f"{self.path}: cannot write to the workspace: the folder {self.path.parent.resolve()} "
                         f"is not writable (DuckDB keeps a log file, {self.path.name}.wal, beside the workspace)")

    def _verify(self) -> None:
        """Check every block of the file once: its checksum, over the file's bytes
        (`_blocks_checked`); when that does not confirm the file, DuckDB reads every stored
        value, checksumming each block it reads. So a damaged workspace is reported before a
        command commits to it or reads half of it. A read-only file is checked now; a writable
        one beside the command, while the command loads, reads its input, compiles and works in
        its transaction: `verified` waits for it, and every transaction commits (or fails) only
        after `verified` (so does closing the store). A damaged catalog fails here already."""
        tables = [table for (table,) in self.db.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        reader = self.db.cursor()
        self._reader = reader

        def read_everything() -> None:
            try:
                if self._blocks_checked(reader):
                    return
                for table in tables:  # any_value reads every block of every column, and decodes less than a hash
                    reader.execute(f"SELECT count(*), any_value(COLUMNS(*)) FROM {quote(table)}").fetchall()
            except BaseException as exc:  # noqa: BLE001 - raised in the command's thread by `verified`
                self._verify_failure = exc
            finally:
                with contextlib.suppress(Exception):
                    reader.close()

        if self.read_only or not tables:
            read_everything()
            self.verified()
            return
        self._verifying = threading.Thread(target=read_everything, name="unstuck-verify", daemon=True)
        self._verifying.start()

    def _blocks_checked(self, reader) -> bool:
        """Whether every block of the file passes its checksum, computed over the file's bytes
        (`blocks_pass_checksums`: a tenth of the work of DuckDB's reading every value, which
        decodes them, and no block kept in DuckDB's memory). False when that cannot be told so
        (an encrypted file, another layout, a block being written): DuckDB reads everything then,
        and names the damage it meets."""
        try:
            (block_size, blocks, encrypted), = reader.execute(
                "SELECT s.block_size, s.total_blocks, d.encrypted FROM pragma_database_size() s "
                "JOIN duckdb_databases() d USING (database_name) WHERE d.path IS NOT NULL").fetchall()
        except Exception:  # noqa: BLE001 - (a DuckDB without these columns: read everything)
            return False
        if encrypted:
            return False
        # Opened here and closed only after DuckDB's own (`close`): closing any descriptor of a
        # file drops every lock this process holds on it (POSIX), DuckDB's lock against a second
        # writer among them.
        try:
            self._bytes = open(self.path, "rb", buffering=0)
        except OSError:  # (a system that lets no one else read a file DuckDB holds)
            return False
        return blocks_pass_checksums(self._bytes, block_size, blocks)

    def verified(self) -> None:
        """Wait until every stored block has been read; a damaged workspace raises WorkspaceDamaged."""
        if self._verifying is not None:
            self._verifying.join()
            self._verifying = None
        failure = self._verify_failure
        if failure is not None:
            import duckdb

            if isinstance(failure, duckdb.Error):
                failure = self.error_of(failure) or DataError(
                    f"{self.path}: cannot read the workspace ({str(failure).splitlines()[0]})")
            self._verify_failure = failure
            raise failure

    def close(self) -> None:
        """Close the file; a reading through still under way is ended first (the command failed)."""
        if self._verifying is not None:
            with contextlib.suppress(Exception):
                self._reader.interrupt()
            self._verifying.join()
            self._verifying = None
        self.db.close()
        if self._bytes is not None:
            self._bytes.close()


def blocks_pass_checksums(file, block_size: int, blocks: int) -> bool:
    """Whether `file` (a binary file, unbuffered) is its headers and `blocks` blocks of
    `block_size` bytes, each passing DuckDB's checksum (see `_HEADERS`): read into one buffer a few
    blocks at a time, the sums computed by numpy (without the GIL). False only says this did not
    confirm the file."""
    import numpy as np

    words = block_size // 8
    if block_size % 8 or os.fstat(file.fileno()).st_size != _HEADERS + blocks * block_size:
        return False
    multiplier, seed = np.uint64(_CHECKSUM_MULTIPLIER), np.uint64(_CHECKSUM_SEED)
    read = np.empty(_BLOCKS_AT_ONCE * words, "<u8")
    products = np.empty((_BLOCKS_AT_ONCE, words - 1), "<u8")
    file.seek(_HEADERS)
    for start in range(0, blocks, _BLOCKS_AT_ONCE):
        count = min(_BLOCKS_AT_ONCE, blocks - start)
        block = read[:count * words]
        if file.readinto(memoryview(block).cast("B")) != block.nbytes:
            return False
        block = block.reshape(count, words)
        np.multiply(block[:, 1:], multiplier, out=products[:count])
        if not np.array_equal(np.bitwise_xor.reduce(products[:count], axis=1) ^ seed, block[:, 0]):
            return False
    return True
