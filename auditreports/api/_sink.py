"""Where fetched pages go: the same canonical mapping, store, ledger and quarantine as file ingest.

Records are mapped by ``auditreports.sources.events_from_records`` (the loaders'
own field map, so an event fetched and the same event ingested from an export are
the same row) and written by ``auditreports.store.write_store``, which de-duplicates
against the store by event id and payload and flags conflicts. Each event's
provenance is ``source_file = "<endpoint>#page=<n>"``, ``source_line`` = its
position in that page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import DependencyError
from .client import Page

__all__ = ["BatchOutcome", "store_batch", "store_ledger_entry"]


@dataclass(frozen=True)
class BatchOutcome:
    added: int
    duplicates: int
    conflicts: int
    quarantined: int
    first_timestamp: str | None
    last_timestamp: str | None


def _store_api() -> tuple[Any, Any]:
    try:
        from ..sources import events_from_records
        from ..store import write_store
    except ImportError as exc:  # the loaders and the store are separate modules of this package
        raise DependencyError(
            f"the Parquet store is not available in this build ({exc}); install a complete auditreports"
        ) from None
    return events_from_records, write_store


def _int(result: object, *names: str) -> int:
    if isinstance(result, dict):
        for name in names:
            value = result.get(name)
            if isinstance(value, int):
                return value
    return 0


def _iso(value: object) -> str | None:
    if value is None:
        return None
    text = value.isoformat(timespec="milliseconds") if hasattr(value, "isoformat") else str(value)
    return text.replace("+00:00", "Z")


def store_batch(store: Path, pages: list[Page], *, endpoint: str, format: str) -> BatchOutcome:
    """Map the pages' records to canonical events and write them (and their quarantine) to the store."""
    events_from_records, write_store = _store_api()
    frames: list[pl.DataFrame] = []
    quarantines: list[pl.DataFrame] = []
    for page in pages:
        events, quarantine = events_from_records(
            page.records, format=format, source_file=f"{endpoint}#page={page.number}"
        )
        frames.append(events)
        quarantines.append(quarantine)
    events = pl.concat(frames, how="vertical_relaxed")
    quarantine = pl.concat(quarantines, how="vertical_relaxed")
    # Pages of an at-least-once API repeat events across boundaries: identical ones are kept once.
    unique = events.unique(subset=["event_id", "raw"], keep="first", maintain_order=True)
    in_batch_duplicates = events.height - unique.height
    result = write_store(store, unique, quarantine=quarantine, ledger_entries=[], kind="fetches")
    span = unique.select(pl.col("timestamp").min().alias("lo"), pl.col("timestamp").max().alias("hi")).row(0)
    return BatchOutcome(
        added=_int(result, "added", "events_added", "new_events", "written"),
        duplicates=in_batch_duplicates + _int(result, "duplicates", "duplicates_dropped"),
        conflicts=_int(result, "conflicts"),
        quarantined=quarantine.height,
        first_timestamp=_iso(span[0]),
        last_timestamp=_iso(span[1]),
    )


def store_ledger_entry(store: Path, entry: dict[str, Any]) -> None:
    """Append one entry under ``fetches`` in the store's ledger."""
    events_from_records, write_store = _store_api()
    empty, _ = events_from_records([], format="conversation", source_file="none")
    write_store(store, empty, quarantine=None, ledger_entries=[entry], kind="fetches")
