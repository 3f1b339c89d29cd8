"""The files beside a workspace while `unstuck serve` holds it.

DuckDB lets one process write a database file, so while a server holds `W` another unstuck
process cannot open it. The server says so in `W.serve.json` (its URL and process id, written
when it starts, removed when it stops; a file left by a killed server is recognised by its
dead process id). Store reads it to turn DuckDB's lock error into one line naming the server.

Writes need a token. A server started without `--token` (or UNSTUCK_TOKEN) makes one, prints it
once, and keeps it in `W.token` (mode 0600, readable by the workspace's owner only) while it runs,
so the CLI and pages on the same machine can send it: `Authorization: Bearer $(cat W.token)`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path

import attrs

from ..files import alive

SERVE_SUFFIX = ".serve.json"
TOKEN_SUFFIX = ".token"
TOKEN_VARIABLE = "UNSTUCK_TOKEN"


def serve_file(workspace: str | Path) -> Path:
    path = Path(workspace)
    return path.with_name(path.name + SERVE_SUFFIX)


def token_file(workspace: str | Path) -> Path:
    path = Path(workspace)
    return path.with_name(path.name + TOKEN_SUFFIX)


def make_token() -> str:
    return secrets.token_urlsafe(32)


@attrs.frozen
class Holder:
    """A running server holding a workspace."""

    url: str
    pid: int

    def busy_message(self, workspace: str | Path) -> str:
        return (f"workspace busy: {workspace} is held by `unstuck serve` at {self.url} (process {self.pid}); "
                f"use its API ({self.url}/api/status), or stop the server first")


def held_by(workspace: str | Path) -> Holder | None:
    """The server holding `workspace`, if one is running (not this process)."""
    try:
        raw = json.loads(serve_file(workspace).read_text(encoding="utf-8"))
        holder = Holder(str(raw["url"]), int(raw["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if holder.pid == os.getpid() or not alive(holder.pid):
        return None
    return holder


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` whole (a reader never sees half of it), readable by the owner only."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


@contextlib.contextmanager
def holding(workspace: str | Path, url: str, token: str | None):
    """While the block runs: `W.serve.json` names the server; `token`, when given (a token the
    server made), is in `W.token`. Both are removed when the block ends."""
    written = [serve_file(workspace)]
    _write_private(written[0], json.dumps({"url": url, "pid": os.getpid()}))
    try:
        if token is not None:
            written.append(token_file(workspace))
            _write_private(written[1], token + "\n")
        yield
    finally:
        for path in written:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
