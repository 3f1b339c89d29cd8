"""The unstuck rule grammar, shipped as package data (loaded by unstuck_dsl.parser)."""
