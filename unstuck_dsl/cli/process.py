"""What the `unstuck` process sets up for itself, and the Python API leaves alone: our warnings as
one line, no pandas or scipy unless a command asks, and memory settings for large arrays, made
when the command loads pyarrow (a command that never reads data, `check` or `--help`, never
loads it)."""

from __future__ import annotations

import atexit
import functools
import gc
import importlib.util
import os
import sys
import warnings
from collections.abc import Callable

import click

from ..unused import hide


@functools.cache
def _glibc():
    """The C library, on Linux (whose allocator is glibc's; another's lacks its functions, and
    asking for one raises AttributeError); None elsewhere. Found among the symbols the process
    has loaded already, not by name: `ctypes.util.find_library` runs `ldconfig -p` in a child
    process, forked from the command as it loads pyarrow."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def keep_freed_memory() -> None:
    """glibc hands large freed blocks back to the system at once, so the next array of that size
    faults its pages in again: a 1M-account run spent about a second of system time so. Keep
    freed memory for reuse instead (numpy's arrays; Arrow has its own pool), in one arena for
    every thread: an array freed on one thread then serves the next one made on another (a
    scoring run encodes on one thread and builds its output on another; with an arena each, the
    peak of 1M accounts and 3M leads was 25-30 MB higher). Linux glibc only."""
    libc = _glibc()
    try:
        m_trim_threshold, m_top_pad, m_mmap_threshold, m_arena_max = -1, -2, -3, -8
        libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest: blocks below it come from the heap
        libc.mallopt(m_trim_threshold, 1 << 30)
        libc.mallopt(m_top_pad, 256 << 20)
        libc.mallopt(m_arena_max, 1)  # (for the threads started from now on: the command's own)
    except AttributeError:  # (no libc, or not glibc's)
        pass


def give_back_freed_memory() -> None:
    """Hand what is free back to the system now, once a command has let go of data it will not
    read again and goes on to other work (`unstuck score`, its encoded fields before writing):
    kept for reuse (`keep_freed_memory`), numpy's freed arrays could not serve Arrow's pool, and
    what the writing needs came on top of them."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    try:
        _glibc().malloc_trim(0)
    except AttributeError:
        pass


def lean_memory_pool() -> None:
    """In the command-line process, Arrow's jemalloc pool: on a 1M-account run it peaked ~15 %
    lower and ran faster than the default pool. ARROW_DEFAULT_MEMORY_POOL still decides."""
    import pyarrow as pa  # called once pyarrow has loaded (see `for_large_arrays`)

    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
        # Freed pages back to the system at once, not a second later (jemalloc's default): the
        # buffers of the batches read last were still held at the load's peak (1M accounts, 3M
        # leads: peak 607-627 MiB with the default, 608-620 after a tenth of a second, 576-585 at
        # once, and the peak moved with the timing of each run). The price: about 0.3 s of CPU
        # (two thirds system time), the same pages faulted in again for the next batch.
        pa.jemalloc_set_decay_ms(0)
    except (NotImplementedError, pa.ArrowNotImplementedError):
        pass


# Inputs of LARGE_INPUT_BYTES or more (their files' bytes, all told) keep the pages Arrow's pool
# frees while they are read, for its next batches and the kernels' outputs, until the command asks
# the pool to let go of them (`give_back_freed_memory`, before it writes) instead of handing them back at once
# (`lean_memory_pool`). A page handed back costs a fault when it is touched again, and more on a
# virtual machine that returns the guest's free memory to its host (as this one does:
# `page_reporting`). At 1M accounts (50 MB of Parquet) keeping them lifted the peak 7-110 MB, past
# 3x the encoded input. At 10M (500 MB), scored a chunk of leads at a time: 0.64M page faults ->
# 0.38M, 1-2 s less in the system, the peak 2.2 -> 2.35 GB (jemalloc's one-second decay had taken
# the whole-file scoring from 1.97M faults to 0.66M).
#
# From the same size, numpy's arrays are made without transparent huge pages (numpy asks for them
# on every array of 4 MiB or more). On this virtual machine a huge page's first touch costs several
# times its bytes in 4 KiB pages, and the scoring of large inputs makes many such arrays (a chunk of
# 4M leads: its columns). 10M accounts, 30M leads, heavy rules, three interleaved pairs: system
# time 3.2-5.0 s -> 1.7-2.3 s, the run 14.16/10.43/9.89 s -> 10.53/8.77/9.37 s (more faults, each
# far cheaper). At 1M the difference was within the runs' spread, and that size is left as it was.
LARGE_INPUT_BYTES = 256 << 20


def reading_inputs(paths) -> None:
    """The memory settings for reading these input files (None: not given), once pyarrow is loaded
    and before they are read: large ones (`LARGE_INPUT_BYTES`) keep Arrow's freed pages for reuse,
    and numpy's arrays go without huge pages."""
    import pyarrow as pa

    size = sum(os.path.getsize(p) if os.path.isfile(p) else 0 for p in paths if p is not None)
    if size < LARGE_INPUT_BYTES:
        return
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        try:  # (for the pool's arenas made from now on: the reading threads')
            pa.jemalloc_set_decay_ms(-1)
        except (NotImplementedError, pa.ArrowNotImplementedError):
            pass
    try:  # (numpy's switch for it, as NUMPY_MADVISE_HUGEPAGE=0 at its import would set)
        from numpy._core.multiarray import _set_madvise_hugepage

        _set_madvise_hugepage(False)
    except (ImportError, AttributeError):  # (another numpy: it keeps its default)
        pass


def for_large_arrays() -> None:
    """The memory settings of a command that moves arrays (made when it loads pyarrow)."""
    keep_freed_memory()
    lean_memory_pool()


class _Then:
    """A module loader that runs `then` once the module it loads has run; with `paused`, no
    cycle collection from the start of its loading to the end of `then`."""

    def __init__(self, loader, then: Callable[[], None], paused: bool = False):
        self._loader, self._then, self._paused = loader, then, paused

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        resume = self._paused and gc.isenabled()
        if resume:
            gc.disable()
        try:
            self._loader.exec_module(module)
            self._then()
        finally:
            if resume:
                gc.enable()


class AfterImport:
    """An import finder that runs `then` once `module` has been imported, before its importer
    goes on: the settings a heavy library needs are made when (and only if) a command loads it."""

    def __init__(self, module: str, then: Callable[[], None], paused: bool = False):
        self.module, self.then, self.paused, self.done = module, then, paused, False

    def find_spec(self, name, path=None, target=None):
        if name != self.module or self.done:
            return None
        # Once; and the search below must not come back here. (The finder stays in sys.meta_path:
        # taking it out could make another thread's import, iterating the list, skip a finder.)
        self.done = True
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _Then(spec.loader, self.then, self.paused)
        return spec


def when_imported(module: str, then: Callable[[], None], paused: bool = False) -> None:
    """Run `then` once `module` is imported (at once if it is); with `paused`, without cycle
    collection while it loads (`then` included)."""
    if module in sys.modules:
        then()
    else:
        sys.meta_path.insert(0, AfterImport(module, then, paused))


def collect_once_loaded() -> None:
    """No garbage collection while the command's modules load: what they make (modules, classes,
    tables) lives until the process ends, so each collection would walk it for nothing (sixteen
    of them in `unstuck check`, 2 % of its instructions). `set_aside_what_is_loaded` collects
    again."""
    gc.disable()


def set_aside_what_is_loaded() -> None:
    """Once a command's modules are loaded: what is alive then (modules, classes, tables) lives
    until the process ends, so the garbage collector stops walking it, in every collection after
    and in the last one at exit (a twentieth of `unstuck check`). What the command makes after
    this is collected as usual."""
    gc.freeze()
    gc.enable()


# The parts of the engine a command loads as it runs (not with the command: `unstuck check` never
# loads them): DuckDB, the store with numpy, pyarrow and the data layer, the workspace, and the
# scoring back end.
ENGINE = ("duckdb", "unstuck_dsl.store", "unstuck_dsl.workspace", "unstuck_dsl.api")


def set_aside_the_engine() -> None:
    """What loading the engine makes (ENGINE: modules, classes, tables) lives until the process
    ends, like the command's modules: each part loads without cycle collection and is set aside
    (`set_aside_what_is_loaded`). Else the collector ran some 80 times over them (an ingest: 15-20
    ms before its first statement)."""
    for module in ENGINE:
        when_imported(module, set_aside_what_is_loaded, paused=True)


def set_aside_loaded_kernels() -> None:
    """Once the back end has loaded (pipeline.py): what the process's first loading of kernels
    makes (numba's modules, types and dispatchers, some 100,000 objects) lives until the process
    ends, like the command's modules, and is set aside as they are (`set_aside_what_is_loaded`)
    once loaded. Else the collector walks it again and again, from whichever thread allocates:
    an ingest of 1,000 accounts into 1M walked it twice in full (0.07-0.13 s each), besides the
    young generations. (Loading pauses the collector: `pipeline.uncollected_kernel_loading`.)"""
    from .. import pipeline  # (imported already: this runs once it has been)

    pipeline.after_first_kernels(gc.freeze)


def set_aside_at_exit() -> None:
    """Once the command has run: what is alive then is the system's to take back when the process
    ends, yet the interpreter's last collection at exit would walk all of it looking for cycles
    (after `unstuck score` of 1M accounts, numba's types and the loaded kernels: 0.2-0.5 s, a
    tenth of the whole process). The commands close their files and workspaces themselves."""
    gc.freeze()


def end_without_teardown(code) -> None:
    """End the process once the command has run (`code`: its SystemExit's), as Python would but
    for the teardown of every module it loaded: the exit handlers run and the output is flushed,
    then the process ends, and the system takes back its memory at once. Python would first clear
    each module and free its objects one by one (after an ingest of 1,000 accounts into 1M:
    numba's types and dispatchers, Arrow, DuckDB: its exit took 36-62 ms, 13-25 ms so).
    The commands close their files and workspaces themselves; a thread that is not a daemon and
    still runs is waited for as Python would: then this returns, and Python ends the process. The
    threads the process keeps (`ahead.kept_pool`: encoding, kernels) are ended first, their work
    done: idle, they still had every scoring command and ingest torn down as before (an ingest of
    1,000 accounts into 1M: 50-69 ms from here to its end; 17-27 ms so)."""
    import threading

    if (ahead := sys.modules.get("unstuck_dsl.ahead")) is not None:
        ahead.end_kept_pools()
    if any(thread.is_alive() and not thread.daemon for thread in threading.enumerate()
           if thread is not threading.main_thread()):
        return
    atexit._run_exitfuncs()
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # (as Python shows any other exit value)
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # (None: a process without them)
                stream.flush()
        except (OSError, ValueError):  # a closed pipe: Python's own exit says 120
            status = status or 120
    os._exit(status)


def one_blas_thread() -> None:
    """numpy's OpenBLAS starts a pool of threads as numpy loads, one per core, which spin a while
    on the other cores: a fifth of numpy's import and a core's worth of time for a moment, at
    the start of every command that reads data. No command multiplies large matrices (the
    kernels are numba's; `suggest` fits a regression on a few columns), so OpenBLAS keeps one
    thread, unless OPENBLAS_NUM_THREADS says otherwise. Set before numpy loads."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def show_warnings() -> None:
    """Our warnings (e.g. an unusable kernel cache) as one `warning:` line on stderr."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        from ..kernel import KernelCacheWarning  # with the kernels; not at start-up

        if issubclass(category, KernelCacheWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def without_unused() -> None:
    """Hide two installed packages that would slow every command down and that no command needs
    until it says so (`allow`):
    - pandas: pyarrow imports it, when it is installed, the first time it converts a Python value
      (half a second);
    - scipy: numba imports scipy.linalg (a quarter of a second) at its first compile or cache load,
      only to offer BLAS (np.dot, np.linalg) to compiled code, which our kernels never call; it is
      installed for scikit-learn, which `suggest` alone uses.
    So a command runs as it does where neither is installed. (Only the command: the Python API
    leaves both alone.)"""
    hide(("pandas", "scipy"))
