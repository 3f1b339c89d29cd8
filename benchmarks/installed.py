"""Imported by every harness that times `unstuck` processes: they run as installed.

pip writes bytecode when it installs a package (and `make` byte-compiles this checkout, installed
editable), so a user's process loads compiled modules. A harness run with PYTHONDONTWRITEBYTECODE
(this machine sets it) would otherwise have each timed process compile its modules from source,
every time: 0.15-0.2 s of an `unstuck ingest` of 1,000 accounts."""

import os

os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
