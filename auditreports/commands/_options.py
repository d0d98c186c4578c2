"""Checks of options shared by several commands, worded once, with the option names as typed.

Every command checks its arguments here *before* any work or progress line: a mistake is
the only line on stderr (exit 2), never the last line after "loading …".
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Literal, overload

from ..period import CLI_NAMES, Period, parse_period, period_problem
from ..store import check_store

__all__ = ["period_from_args", "store_from_args"]


@overload
def period_from_args(args: argparse.Namespace, *, required: Literal[True]) -> Period: ...
@overload
def period_from_args(args: argparse.Namespace, *, required: bool) -> Period | None: ...
def period_from_args(args: argparse.Namespace, *, required: bool) -> Period | None:
    """``--period`` or ``--from``/``--to`` as a :class:`~auditreports.period.Period`; None if optional and absent."""
    period, start, end = getattr(args, "period", None), getattr(args, "date_from", None), getattr(args, "date_to", None)
    if not required and period is None and start is None and end is None:
        return None
    problem = period_problem(period, start, end, CLI_NAMES)
    if problem:
        from ..errors import UsageError

        raise UsageError(problem)
    return parse_period(period, start=start, end=end, names=CLI_NAMES)


def store_from_args(store: str | None) -> Path | None:
    """``--store DIR`` checked to be a store to read (one wording: :func:`auditreports.store.store_problem`)."""
    return None if store is None else check_store(store)
