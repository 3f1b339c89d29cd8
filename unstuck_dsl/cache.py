"""Where unstuck keeps what it works out once for many processes (compiled kernels, the syntax
trees of rule files): the folder UNSTUCK_CACHE_DIR names, else the user's cache folder. A module
of its own so that `unstuck check` finds its kept trees without loading the kernels' machinery."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "UNSTUCK_CACHE_DIR"


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "unstuck_dsl" / "kernels"


def made_folder(folder: Path) -> Path:
    """`folder`, made when missing. A file or a link in its place (a damaged cache, or a dangling
    link) is removed first: the cache repairs itself rather than failing every run after."""
    if not folder.is_dir() and (folder.is_symlink() or folder.exists()):
        folder.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    return folder
