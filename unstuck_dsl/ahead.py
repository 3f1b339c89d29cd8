"""One item ahead: a sequence whose items are made on a second thread while the caller works on
the one before (the Parquet batches read while the last is encoded, the output pieces built while
the last is written). Arrow's readers and writers and numpy's gathers release the GIL, so the two
overlap. Two items are alive at a time, never more."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def made_ahead(items: Iterable[T], name: str) -> Iterator[T]:
    """The items, each next one made on a thread called `name` while the caller holds the one
    before. An error in making an item is raised to the caller when it asks for that item."""
    remaining = iter(items)
    with ThreadPoolExecutor(1, thread_name_prefix=name) as maker:
        coming = maker.submit(next, remaining, None)
        while (item := coming.result()) is not None:
            coming = maker.submit(next, remaining, None)
            yield item
            del item  # before the next is waited for
