"""Small expression helpers shared by the platform formats' field maps.

Each helper returns a Polars expression, so a format's whole mapping (validation
reasons, canonical columns, flags) runs as one lazy query over the file.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from ..schema import EVENT_SCHEMA

__all__ = ["finish_events", "flag_list", "must_be_integer", "one_of", "present"]

_PROVENANCE = ("source_file", "source_line", "source_offset", "raw")


def present(name: str) -> pl.Expr:
    """The field has a non-empty value."""
    return pl.col(name).is_not_null() & (pl.col(name).str.strip_chars() != "")


def must_be_integer(field: str, value: pl.Expr) -> pl.Expr:
    return pl.format("'{}' must be an integer, got {}", pl.lit(field), value.str.slice(0, 60))


def one_of(field: str, value: pl.Expr, allowed: Iterable[str]) -> pl.Expr:
    return pl.format("'{}' is {}, not one of {}", pl.lit(field), value.str.slice(0, 60), pl.lit(", ".join(allowed)))


def flag_list(**conditions: pl.Expr) -> pl.Expr:
    """A list of the flag names whose condition holds (nulls count as false)."""
    return pl.concat_list(
        [
            pl.when(cond.fill_null(False)).then(pl.lit(name)).otherwise(pl.lit(None, dtype=pl.String))
            for name, cond in conditions.items()
        ]
    ).list.drop_nulls()


def finish_events(flat: pl.LazyFrame, *, reject: pl.Expr, **columns: pl.Expr) -> pl.LazyFrame:
    """Select the canonical columns (typed), provenance, ``_reason`` and ``_nlines``.

    Enum casts are made non-strict only where ``_reason`` is null, i.e. for rows whose
    values were already checked against the vocabulary.
    """
    exprs = [reject.cast(pl.String).alias("_reason"), pl.col("_nlines")]
    for name, dtype in EVENT_SCHEMA.items():
        if name in _PROVENANCE:
            expr = pl.col(name) if name != "source_file" else pl.lit(None, dtype=pl.String)
        elif name in columns:
            expr = columns[name]
        else:
            expr = pl.lit(None, dtype=dtype)
        # Non-strict for an Enum: a value outside it becomes null (its row already has a _reason).
        expr = expr.cast(pl.String).cast(dtype, strict=False) if isinstance(dtype, pl.Enum) else expr.cast(dtype)
        exprs.append(expr.alias(name))
    return flat.select(exprs)
