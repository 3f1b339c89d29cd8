"""The error a user is told about their data, or about the workspace that holds it. A module of
its own: opening a workspace names a damaged one before the data layer (pyarrow) has loaded."""

from __future__ import annotations


class DataError(Exception):
    """Input data that does not fit the rules' declared fields: names the column and a row."""
