"""The title vocabulary (titles.json), read by unstuck_dsl.titles."""
