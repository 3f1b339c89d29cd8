"""The pieces of `unstuck serve` (unstuck_dsl/serve.py is the app): request bodies read and
checked against the published rules (`bodies`), list pages queried in DuckDB (`listing`), and
the files beside a served workspace (`holder`: who holds it, the write token)."""
