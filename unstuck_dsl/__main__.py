"""`python -m unstuck_dsl` is the `unstuck` command."""

from .cli import main

main()
