"""Reading a workspace that `unstuck serve` holds: through the server, over loopback HTTP.

DuckDB lets one process open a workspace file while another writes it: not even to read. So
while a server holds a workspace, the commands that only read it (`status`, `history`, `explain
--db`, `audience --db`, `export`, `insights`, `suggest`, `score --db`, `diff --db`) ask the server.
`open_workspace` and `open_store` choose, in one place: the local `Workspace` / `Store`, or,
when `W.serve.json` names a live server, a `RemoteWorkspace` over a `RemoteStore`.

`RemoteWorkspace` is a `Workspace` whose store is the server: the answers the server has at hand
(status, a record's history, the drawer, an audience's members, exports) come from it whole, and
everything else a `Workspace` reads (its versions, date, stored records and scores) comes
through `RemoteStore`, so every read prints what it prints without a server. Tables travel as
Arrow IPC streams (`wire`), never a JSON object per row. A write through a `RemoteStore` is
refused with the one line naming the server that writers get (`WorkspaceBusy`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pyarrow as pa

from ..data import DataError
from ..store import Store, columns_read
from ..workspace import Status, Workspace
from ..workspace_file import WorkspaceBusy
from . import wire
from .holder import TOKEN_VARIABLE, Holder, held_by, token_file

TIMEOUT = 600.0  # seconds: an export of millions of records is one answer


def open_workspace(path: str | Path, read_only: bool = False, wait: float | None = None) -> Workspace:
    """The workspace at `path`; read-only while a server holds it: through the server."""
    holder = held_by(path) if read_only else None
    if holder is not None:
        return RemoteWorkspace(path, holder)
    return Workspace(path, read_only=read_only, wait=wait)


def open_store(path: str | Path):
    """The store at `path`, read-only (a `Store`, or while a server holds it a `RemoteStore`)."""
    holder = held_by(path)
    if holder is not None:
        return RemoteStore(path, Server(path, holder))
    return Store(path, read_only=True)


class Server:
    """GET requests to the server holding a workspace. The token goes along when this user can
    read it (`W.token`, or UNSTUCK_TOKEN): a server off loopback wants it for reads too. A
    refusal comes back as a DataError with the server's words, the workspace named as the
    caller named it."""

    def __init__(self, path: str | Path, holder: Holder):
        self.path, self.holder = Path(path), holder
        parts = urlsplit(holder.url)
        self.host, self.port = parts.hostname, parts.port
        try:
            self.token = token_file(path).read_text(encoding="utf-8").strip()
        except OSError:
            self.token = os.environ.get(TOKEN_VARIABLE)
        self.served_path: str | None = None  # the workspace as the server names it (in its messages)

    def get(self, endpoint: str, **params):
        """The answer to GET `endpoint`: a dict (JSON) or a pa.Table (Arrow)."""
        import http.client  # (and ssl with it) only when a server holds the workspace

        query = urlencode([(k, v) for k, values in params.items() if values is not None
                           for v in (values if isinstance(values, (list, tuple)) else [values])])
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        connection = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        try:
            connection.request("GET", endpoint + (f"?{query}" if query else ""), headers=headers)
            answer = connection.getresponse()
            raw, media = answer.read(), answer.getheader("content-type", "")
        except OSError as exc:
            raise DataError(f"{self.path} is held by `unstuck serve` at {self.holder.url} (process "
                            f"{self.holder.pid}), which does not answer ({exc}); stop it, or try again") from None
        finally:
            connection.close()
        if answer.status != 200:
            try:
                error = json.loads(raw)["error"]
            except (ValueError, KeyError, TypeError):
                error = raw.decode("utf-8", "replace")[:200]
            if answer.status >= 500:
                raise DataError(f"{self.path}: the server at {self.holder.url} failed ({error}); its log says why")
            if self.served_path and self.served_path != str(self.path):
                error = error.replace(self.served_path, str(self.path))
            raise DataError(error)
        return wire.table_of(raw) if media.startswith(wire.ARROW_STREAM) else json.loads(raw)


class RemoteStore:
    """The reads of a `Store` the read-only commands use, answered by the server."""

    read_only = True

    def __init__(self, path: str | Path, server: Server):
        self.path, self.server = Path(path), server
        self._state: dict | None = None
        self._versions: list[tuple] | None = None

    def __enter__(self) -> RemoteStore:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        pass

    def state(self) -> dict:
        """The server's `/api/status`, read once."""
        if self._state is None:
            self._state = self.server.get("/api/status")
            self.server.served_path = self._state["path"]
        return self._state

    def verified(self) -> None:
        pass  # the server read every block when it opened the workspace

    def transaction(self):
        raise WorkspaceBusy(self.server.holder.busy_message(self.path))

    def versions(self, last: bool = False) -> list[tuple]:
        if self._versions is None:
            self.state()
            self._versions = [(v["number"], v["hash"], v["text"], dt.datetime.fromisoformat(v["published_at"]),
                               v["message"]) for v in self.server.get("/api/versions")["versions"]]
        return self._versions[-1:] if last else list(self._versions)

    def stored_as_of(self) -> dt.date | None:
        day = self.state()["as_of"]
        return None if day is None else dt.date.fromisoformat(day)

    def count(self, kind: str) -> int:
        return self.state()[f"{kind}s"]

    def event_counts(self) -> dict[str, int]:
        return {table: self.state()[table] for table in ("signals", "outcomes")}

    def records(self, kind: str, schema=None, ordered: bool = True, read_by=None) -> pa.Table:
        """Every stored record of `kind`, typed by `schema` as `Store.records` types them: in id
        order (the server's, whatever `ordered` says); with `read_by`, a ruleset's schema, only the
        ids and the fields it declares."""
        self.state()
        table = self.server.get("/api/records", kind=kind, fields=None if schema is None else wire.fields_param(schema))
        if read_by is None:
            return table
        wanted = columns_read(kind, read_by)
        return table.select([name for name in table.column_names if name in wanted])

    def scores(self, kind: str) -> pa.Table:
        return self.server.get("/api/scores", kind=kind)

    def signals(self) -> pa.Table:
        return self.server.get("/api/signals")

    def outcomes(self) -> pa.Table:
        return self.server.get("/api/outcomes")


class RemoteWorkspace(Workspace):
    """A `Workspace`, read-only, whose store is the server holding it (see the module docstring)."""

    def __init__(self, path: str | Path, holder: Holder):
        super().__init__(path, read_only=True, store=RemoteStore(path, Server(path, holder)))
        self.store.state()  # the server answers now, or the command stops here with one line

    def _get(self, endpoint: str, **params):
        return self.store.server.get(endpoint, **params)

    def status(self) -> Status:
        raw = self.store.state()  # asked when the workspace was opened
        number = (raw["version"] or {}).get("number")
        version = next((v for v in self.versions() if v.number == number), None)
        day = None if raw["as_of"] is None else dt.date.fromisoformat(raw["as_of"])
        return Status(self.path, version, day, dt.date.fromisoformat(raw["today"]), raw["accounts"], raw["leads"],
                      raw["signals"], raw["outcomes"], raw["off_stamp"])

    def record_history(self, kind: str, record_id: str) -> pa.Table:
        return self._get("/api/history", kind=kind, id=str(record_id))

    def explain(self, lead: str | None = None, account: str | None = None, preview=()):
        return wire.explanation_of(self._get("/api/explain", lead=lead, account=account, preview=list(preview)))

    def audience(self, name: str) -> pa.Table:
        return self._get("/api/members", audience=name)

    def export(self, kind: str, with_=()) -> pa.Table:
        return self._get("/api/export", kind=kind, **{"with": ",".join(with_)})
