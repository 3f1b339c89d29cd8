"""Compiled kernels: generated modules cached on disk, imported, and run over encoded columns.

A kernel's cache key is the hash of its generated source together with the versions of
unstuck_dsl, numba and Python, so a second process that compiles the same ruleset imports the
module numba has already compiled (`cache=True`) and pays no JIT cost. The folder can be set
with UNSTUCK_CACHE_DIR. Entries are written atomically; a corrupt or stale entry is rebuilt.

numba compiles one function at a time, on one core. The kernels of a module do not depend on each
other, so when a module is new on this machine its large kernels are compiled side by side: all
but one in child processes (`Compiler`), which store them in numba's cache, where this
process's first call finds them.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

from .cache import CACHE_ENV, cache_dir, made_folder

_loaded: dict[str, object] = {}
_written: set[str] = set()  # modules whose source this process wrote: nothing of theirs is compiled yet
_lock = threading.Lock()


def _package_version(name: str) -> str:
    # importlib.metadata takes tens of milliseconds to import, and only a kernel's key needs it.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


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


class KernelCacheWarning(UserWarning):
    """The kernel cache cannot be used; kernels are compiled without it for this process."""


def load_kernel(source: str):
    """The compiled module for this generated source, from the cache when it is there. A cache
    that cannot be used (a file where its folder should be, no permission, a read-only disk)
    does not stop scoring: one warning says how to move it, and this process compiles in a
    private folder of its own that it removes when it exits."""
    key = kernel_key(source)
    with _lock:
        if key in _loaded:
            return _loaded[key]
        try:
            module = _load_entry(cache_dir() / key, key, source)
        except OSError as exc:
            warnings.warn(f"the kernel cache {cache_dir()} cannot be used ({exc.strerror or exc}); compiling "
                          f"without it (set {CACHE_ENV} to a writable folder to keep compiled kernels)",
                          KernelCacheWarning, stacklevel=2)
            module = _load_entry(_private_dir() / key, key, source)
        _loaded[key] = module
        return module


def _load_entry(directory: Path, key: str, source: str):
    """Import a cache entry, writing it first when it is missing or differs; a damaged entry
    (or anything that is not an entry's folder) is removed and written again, once."""
    path = _entry_file(directory, key)
    module_name = f"unstuck_kernel_{key}"
    try:
        made_folder(directory)
        # Rewriting an identical file would change its mtime and void numba's cache.
        if not path.is_file() or path.read_text(encoding="utf-8") != source:
            _write_atomically(path, source)
            _written.add(module_name)
        return _import(path, module_name)
    except (ImportError, UnicodeDecodeError):  # a damaged __pycache__; a SyntaxError is a codegen bug, not retried
        _remove(directory)
        _write_atomically(path, source)
        _written.add(module_name)
        return _import(path, module_name)


def _entry_file(directory: Path, key: str) -> Path:
    return directory / f"unstuck_kernel_{key}.py"


def _remove(path: Path) -> None:
    """Remove a cache entry whatever it has become: a folder, a file or a dangling link."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


_private: list[Path] = []


def _private_dir() -> Path:
    """This process's own kernel folder (used when the shared cache cannot be)."""
    if not _private:
        folder = Path(tempfile.mkdtemp(prefix="unstuck-kernels-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _private.append(folder)
    return _private[0]


def reload_kernel(source: str):
    """Delete a kernel's cache entry and build it again (when the cached entry fails to load)."""
    key = kernel_key(source)
    with _lock:
        _loaded.pop(key, None)
        for folder in (cache_dir(), *_private):
            try:
                _remove(folder / key)
            except OSError:
                pass
    return load_kernel(source)


def written_here(module) -> bool:
    """Whether this process wrote the module's source: then none of its kernels is in numba's
    cache (a cached kernel is tied to its source file as written)."""
    return module.__name__ in _written


def is_new(source: str) -> bool:
    """Whether no process has written this source to the cache yet: none of its kernels can be
    in numba's cache."""
    key = kernel_key(source)
    try:
        return _entry_file(cache_dir() / key, key).read_text(encoding="utf-8") != source
    except (OSError, UnicodeDecodeError):
        return True


# What a compiler child runs: load numba and make its compiler ready, then wait for the work (a
# module's file and cache name, a kernel and its argument types); import the module as `_import`
# does and compile the kernel, which numba stores in its cache. Closed without work, it exits.
# Our kernels call neither pandas nor scipy, which numba would otherwise load (scipy.linalg, a
# quarter of a second, to offer BLAS to compiled code).
_CHILD = """
import importlib.util, pickle, sys
from unstuck_dsl.unused import hide
hide(("pandas", "scipy"))
import numba
numba.njit(lambda: 0)()
try:
    path, module_name, name, signature = pickle.load(sys.stdin.buffer)
except EOFError:
    sys.exit()
spec = importlib.util.spec_from_file_location(module_name, path)
module = importlib.util.module_from_spec(spec)
sys.modules[module_name] = module
spec.loader.exec_module(module)
getattr(module, name).compile(signature)
"""


class Compiler:
    """A child process that compiles one kernel into numba's cache, where this process's first
    call of the kernel finds it. It starts before its work is known and loads numba meanwhile;
    `compile` gives it the work, `close` ends it without any, `wait` waits for it. A child that
    cannot be started, or fails, leaves the kernel to that first call, which compiles it here."""

    def __init__(self):
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        try:
            self._child = subprocess.Popen([sys.executable, "-c", _CHILD], stdin=subprocess.PIPE,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
        except OSError:  # no child process here (none may be started, or the interpreter cannot be run again)
            self._child = None

    def compile(self, module, name: str, args) -> None:
        """Compile kernel `name` of `module` for these arguments."""
        from numba import typeof

        signature = tuple(typeof(arg) for arg in (0, 0, *args))  # (start, stop, ...), as `run` calls it
        self._send((module.__file__, module.__name__, name, signature))

    def close(self) -> None:
        self._send(None)

    def _send(self, work) -> None:
        if self._child is None or self._child.stdin.closed:
            return
        try:
            with self._child.stdin:
                if work is not None:
                    pickle.dump(work, self._child.stdin)
        except OSError:  # the child is gone already: the kernel's first call compiles it here
            pass

    def wait(self) -> int | None:
        """The child's exit status (None: no child was started)."""
        return self._child.wait() if self._child is not None else None
