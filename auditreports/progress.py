"""Progress on stderr: per-stage lines and progress bars.

Nothing here writes to stdout, so ``--json`` output stays one clean document.
Bars are drawn only on a terminal; in CI and pipes each stage prints one line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tqdm import tqdm

__all__ = ["bar", "say", "stage"]

T = TypeVar("T")


def say(message: str) -> None:
    """One line on stderr."""
    # One write per line, so lines of runs side by side never share a line.
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Print ``name …`` when a stage starts and ``name: done in 1.2 s`` when it ends."""
    start = time.perf_counter()
    say(f"[auditreports] {name} …")
    yield
    say(f"[auditreports] {name}: done in {time.perf_counter() - start:.1f} s")


def bar(items: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it") -> Iterable[T]:
    """A tqdm bar on stderr, silent when stderr is not a terminal."""
    return tqdm(items, total=total, desc=desc, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)
