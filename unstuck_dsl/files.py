"""Writing a user's file safely: a temporary file beside it, then one atomic rename, so that a
reader (or a kill) sees the old file or the new one, never half of one. Used by every command
that writes (results, reports, formatted rules); it needs no data library."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path


class OutputError(Exception):
    """A destination the command must not or cannot write: names the user's path."""


class replacing:
    """`with replacing(path) as temporary:` write the temporary file; on success it replaces
    `path` with the permissions a new file would get; on any failure `path` is left as it was
    and the temporary file is removed. Errors name the user's path, never the temporary one.
    `in_place`: an existing file rewritten (fmt): through a symlink, the file it points to, and
    keeping its permissions."""

    def __init__(self, path: str | Path, in_place: bool = False):
        self.path = Path(path)
        self.in_place = in_place
        self.target = Path(os.path.realpath(path)) if in_place else self.path
        self.temporary: str | None = None

    def __enter__(self) -> str:
        remove_stale_temporaries(self.target)
        try:
            handle, self.temporary = tempfile.mkstemp(dir=self.target.parent or ".",
                                                      prefix=f".{self.target.name}.{os.getpid()}.", suffix=".tmp")
        except OSError as exc:
            if self.in_place:
                raise self._failed(exc) from None
            raise OutputError(f"{self.path}: cannot write here ({exc.strerror or exc})") from None
        os.close(handle)
        return self.temporary

    def __exit__(self, kind, exc, traceback) -> bool:
        try:
            if kind is None:
                if self.in_place:
                    shutil.copymode(self.target, self.temporary)
                else:
                    umask = os.umask(0)
                    os.umask(umask)
                    os.chmod(self.temporary, 0o666 & ~umask)
                os.replace(self.temporary, self.target)
            elif issubclass(kind, OSError):
                raise self._failed(exc)
        except OSError as error:
            raise self._failed(error) from None
        finally:
            if os.path.exists(self.temporary):
                os.unlink(self.temporary)
        return False

    def _failed(self, error: OSError) -> OutputError:
        unchanged = "the file is unchanged" if self.in_place else "any earlier file there is unchanged"
        return OutputError(f"{self.path}: could not be written ({error.strerror or error}); {unchanged}")


def remove_stale_temporaries(target: Path) -> None:
    """Remove the temporary files a killed run left beside `target` (`.NAME.PID.XXXX.tmp`):
    those whose writing process is gone; a run still writing is left alone."""
    folder = target.parent if str(target.parent) else Path(".")
    prefix = f".{target.name}."
    try:
        entries = list(folder.glob(f"{glob_escape(prefix)}*.tmp"))
    except OSError:
        return
    for entry in entries:
        middle = entry.name[len(prefix):-len(".tmp")]
        pid = middle.split(".")[0] if "." in middle else ""
        if pid.isdigit() and alive(int(pid)):
            continue
        try:
            entry.unlink()
        except OSError:
            pass


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def alive(pid: int) -> bool:
    """Whether process `pid` runs (another user's process does, as far as we can tell)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
