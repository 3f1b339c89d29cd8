"""Installed packages a process does not use, hidden from it: an import finder that says they are
not installed. A module of its own so that a process that imports nothing else of ours (the
kernel compiler's child) can use it."""

from __future__ import annotations

import sys


class NotUsed:
    """An import finder that says `packages` are not installed."""

    def __init__(self, packages: tuple[str, ...]):
        self.packages = set(packages)

    def find_spec(self, name, path=None, target=None):
        package = name.partition(".")[0]
        if package in self.packages:
            raise ModuleNotFoundError(f"this process does not use {package}", name=name)
        return None


def hide(packages: tuple[str, ...]) -> None:
    """Hide those of `packages` this process has not imported yet."""
    unused = tuple(package for package in packages if package not in sys.modules)
    if unused:
        sys.meta_path.insert(0, NotUsed(unused))


def allow(package: str) -> None:
    """Let this process import `package` after all."""
    for finder in sys.meta_path:
        if isinstance(finder, NotUsed):
            finder.packages.discard(package)
