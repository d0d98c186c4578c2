"""Reordering a large frame without holding it twice."""

from __future__ import annotations

import polars as pl

__all__ = ["reorder"]


def reorder(holder: list[pl.DataFrame], order: pl.Series) -> pl.DataFrame:
    """The frame taken out of ``holder``, its rows gathered in ``order``, one column at a time.

    ``DataFrame.sort`` builds the sorted copy while the original is alive (twice the
    frame at the peak); here each original column is released as soon as it has been
    moved, so the peak is the frame plus one column. The caller passes the frame in a
    list it no longer refers to otherwise, so that nothing else keeps the columns alive.
    """
    frame = holder.pop()
    columns = []
    for name in frame.columns:
        columns.append(frame.get_column(name).gather(order))
        frame = frame.drop(name)
    return pl.DataFrame(columns)
