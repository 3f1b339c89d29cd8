"""Compiled kernels: generated modules cached on disk, imported, and run over encoded columns.

A kernel's cache key is the hash of its generated source together with the versions of
unstuck_dsl, numba and Python, so a second process that compiles the same ruleset imports the
module numba has already compiled (`cache=True`) and pays no JIT cost. The folder can be set
with UNSTUCK_CACHE_DIR. Entries are written atomically; a corrupt or stale entry is rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

CACHE_ENV = "UNSTUCK_CACHE_DIR"
_loaded: dict[str, object] = {}
_lock = threading.Lock()


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "unstuck_dsl" / "kernels"


def kernel_key(source: str) -> str:
    versions = f"unstuck_dsl={_package_version('unstuck_dsl')};numba={_package_version('numba')};python={sys.version}"
    return hashlib.sha256((versions + "\n" + source).encode("utf-8")).hexdigest()[:32]


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _import(path: Path, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    # numba's cache re-imports the module by name when it unpickles a compiled kernel.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def load_kernel(source: str):
    """The compiled module for this generated source, from the cache when it is there."""
    key = kernel_key(source)
    with _lock:
        if key in _loaded:
            return _loaded[key]
        directory = cache_dir() / key
        path = directory / f"unstuck_kernel_{key}.py"
        module_name = f"unstuck_kernel_{key}"
        try:
            # Rewriting an identical file would change its mtime and void numba's cache.
            if not path.exists() or path.read_text(encoding="utf-8") != source:
                _write_atomically(path, source)
            module = _import(path, module_name)
        except (OSError, SyntaxError, ImportError, UnicodeDecodeError):
            shutil.rmtree(directory, ignore_errors=True)
            _write_atomically(path, source)
            module = _import(path, module_name)
        _loaded[key] = module
        return module


def reload_kernel(source: str):
    """Delete a kernel's cache entry and build it again (when the cached entry fails to load)."""
    key = kernel_key(source)
    with _lock:
        _loaded.pop(key, None)
        shutil.rmtree(cache_dir() / key, ignore_errors=True)
    return load_kernel(source)
