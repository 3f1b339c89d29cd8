"""Work made ahead on other threads while the caller uses what is ready: one item ahead
(`made_ahead`: the Parquet batches read while the last is encoded, the output pieces built while
the last is written), several made at once and handed back in order (`made_in_order`: a
result file's parts encoded on every core), or a few pieces of one step done at once
(`side_by_side`: a batch's columns encoded). Arrow's readers, writers and compute functions,
numpy's gathers and our compiled passes release the GIL, so the threads overlap."""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
WORKERS = max(1, min(4, os.cpu_count() or 1))


def made_ahead(items: Iterable[T], name: str) -> Iterator[T]:
    """The items, each next one made on a thread called `name` while the caller holds the one
    before (two items alive at a time, never more). An error in making an item is raised to the
    caller when it asks for that item."""
    remaining = iter(items)
    with _threads(1, name) as maker:
        coming = maker.submit(next, remaining, None)
        while (item := coming.result()) is not None:
            coming = maker.submit(next, remaining, None)
            yield item
            del item  # before the next is waited for


def made_in_order(items: Iterable[T], make: Callable[[T], R], name: str, workers: int = WORKERS) -> Iterator[R]:
    """`make(item)` for each item, up to `workers` at once on threads called `name`, yielded in
    the items' order. One more item waits queued than there are workers (none idles while the
    caller takes a result), so at most workers + 1 items and results are alive. An error in
    making one is raised to the caller when it asks for that result."""
    coming: deque[Future[R]] = deque()
    with _threads(workers, name) as makers:
        for item in items:
            coming.append(makers.submit(make, item))
            del item  # the maker holds it while it needs it
            if len(coming) > workers:
                yield coming.popleft().result()
        while coming:
            yield coming.popleft().result()


@contextlib.contextmanager
def _threads(workers: int, name: str) -> Iterator[ThreadPoolExecutor]:
    """The threads of a generator above, for its lifetime. Run to its end, it waits for them
    (they are idle by then). Closed before (its caller failed, or let it go), it does not: the
    work in hand is left to finish on its own, its result or error dropped, and the rest is not
    started. A generator let go inside a reference cycle (as an error's traceback makes) is
    closed by the garbage collector, on whatever thread it runs, at whatever point: in Python's
    own bootstrap of a new thread, a wait there for this one deadlocked both (threading's
    `_shutdown_locks_lock`, taken twice)."""
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    finished = False
    try:
        yield pool
        finished = True
    finally:
        pool.shutdown(wait=finished, cancel_futures=not finished)


_kept_pools: dict[str, ThreadPoolExecutor] = {}
_kept_pools_lock = threading.Lock()


def kept_pool(name: str, workers: int) -> ThreadPoolExecutor:
    """The pool of `workers` threads called `name`, made on first use and kept by the process for
    work that every run repeats (a batch's columns encoded, a kernel's slices), until
    `end_kept_pools`."""
    with _kept_pools_lock:
        if name not in _kept_pools:
            _kept_pools[name] = ThreadPoolExecutor(workers, thread_name_prefix=name)
        return _kept_pools[name]


def end_kept_pools() -> None:
    """End the kept pools' threads, once the work they hold is done (a process about to end:
    idle, they are still threads that are not daemons, which Python's exit waits for)."""
    with _kept_pools_lock:
        pools = list(_kept_pools.values())
        _kept_pools.clear()
    for pool in pools:
        pool.shutdown(wait=True)


_SIDE = "unstuck-side"


def side_by_side(calls: list[Callable[[], object]]) -> None:
    """Make the calls at once: the first on this thread, the others on a pool of `WORKERS`
    threads kept by the process (`kept_pool`: a run makes such calls for every large batch it encodes and every
    set column it finishes). Returns once
    every call has returned; then an error of one is raised, the first in the calls' order (the
    same whichever thread was quicker). Called from a thread of that pool, they run one by one."""
    if len(calls) < 2 or WORKERS < 2 or threading.current_thread().name.startswith(_SIDE):
        for call in calls:
            call()
        return
    pool = kept_pool(_SIDE, WORKERS)
    others = [pool.submit(call) for call in calls[1:]]
    try:
        calls[0]()
    finally:
        errors = [f.exception() for f in others]  # (waits for each)
    for error in errors:
        if error is not None:
            raise error


def meanwhile(make: Callable[..., R], *args) -> Future[R]:
    """`make(*args)` on a thread of its own while the caller goes on; the future holds its result
    or error. (The caller must not change what it reads until it is done.)"""
    future: Future[R] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(make(*args))
        except BaseException as error:  # (handed to whoever waits)
            future.set_exception(error)

    threading.Thread(target=run, name="unstuck-meanwhile", daemon=True).start()
    return future
