"""`python -m unstuck_dsl.cli` is the `unstuck` command too (as `python -m unstuck_dsl` is)."""

from . import main

main()
