"""The pipeline's stages, in the order of the DAG: compress a dataset, measure its quality, run its tasks, aggregate."""

from __future__ import annotations

from typing import Any

import pandas as pd


def prepend_columns(table: pd.DataFrame, columns: dict[str, Any]) -> pd.DataFrame:
    """``table`` with constant ``columns`` (a point's keys: dataset, codec, quality, ...) inserted first, in order."""
    for column, value in reversed(list(columns.items())):
        table.insert(0, column, value)
    return table
