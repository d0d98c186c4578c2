"""Where fetched pages go: the same canonical mapping, store, ledger and quarantine as file ingest.

Records are mapped by ``auditreports.sources.events_from_records`` (platform formats,
and vendor logs such as Okta and GitHub through their field maps): the loaders' own
maps, so an event fetched and the same event ingested from an export are the same row. They are written by
``auditreports.store.write_store``, which de-duplicates
against the store by event id and payload and flags conflicts. Each event's
provenance is ``source_file = "<endpoint>#fetch=<id>&page=<n>"`` (the fetch id is
the checkpoint key: the same endpoint and filters give the same id), ``source_line``
= its position in that page.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import DependencyError
from ..schema import EVENT_SCHEMA
from .client import Page

__all__ = ["BatchOutcome", "conflicts_of_fetch", "store_batch", "store_ledger_entry"]


@dataclass(frozen=True)
class BatchOutcome:
    added: int
    duplicates: int
    quarantined: int
    first_timestamp: str | None
    last_timestamp: str | None


def _store_api(format: str = "conversation") -> tuple[Any, Any, Any]:
    try:
        from ..sources import events_from_records
        from ..store import open_store, write_store
    except ImportError as exc:  # the loaders and the store are separate modules of this package
        raise DependencyError(
            f"the Parquet store is not available in this build ({exc}); install a complete auditreports"
        ) from None
    # events_from_records maps platform records itself and vendor records by their field maps.
    return partial(events_from_records, format=format), write_store, open_store


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


def store_batch(store: Path, pages: list[Page], *, source_prefix: str, format: str) -> BatchOutcome:
    """Map the pages' records to canonical events and write them (and their quarantine) to the store.

    The store drops events it already holds with the same payload (a page re-written
    after a crash, an event repeated across a page boundary) and quarantine rows it
    already holds for the same position and bytes, so re-writing a page never doubles them.
    """
    events_from_records, write_store, _ = _store_api(format)
    frames: list[pl.DataFrame] = []
    quarantines: list[pl.DataFrame] = []
    for page in pages:
        events, quarantine = events_from_records(page.records, source_file=f"{source_prefix}{page.number}")
        frames.append(events)
        quarantines.append(quarantine)
    events = pl.concat(frames, how="vertical_relaxed")
    quarantine = pl.concat(quarantines, how="vertical_relaxed")
    result = write_store(store, events, quarantine=quarantine, ledger_entries=[], kind="fetches")
    added = _int(result, "added")
    span = events.select(pl.col("timestamp").min().alias("lo"), pl.col("timestamp").max().alias("hi")).row(0)
    return BatchOutcome(
        added=added,
        duplicates=events.height - added,
        quarantined=_int(result, "quarantined"),
        first_timestamp=_iso(span[0]),
        last_timestamp=_iso(span[1]),
    )


def conflicts_of_fetch(store: Path, source_prefix: str) -> int:
    """Events of this fetch that the store flagged ``id_conflict`` (same id, another payload)."""
    _, _, open_store = _store_api()
    return int(
        open_store(store)
        .events.filter(
            pl.col("source_file").str.starts_with(source_prefix) & pl.col("flags").list.contains("id_conflict")
        )
        .select(pl.len())
        .collect()
        .item()
    )


def store_ledger_entry(store: Path, entry: dict[str, Any]) -> None:
    """Append one entry under ``fetches`` in the store's ledger."""
    _, write_store, _ = _store_api()
    write_store(store, pl.DataFrame(schema=EVENT_SCHEMA), quarantine=None, ledger_entries=[entry], kind="fetches")
