"""Bounded-memory ingest: files parsed and written to the store in batches of a byte budget.

``ingest(src, store)`` finds the files as :func:`auditreports.sources.load` does, groups
them (in order) into batches whose decompressed size stays under ``batch_bytes``, and
for each batch parses the files (:func:`~auditreports.sources.load_paths`) and writes
them (:func:`~auditreports.store.write_store`), holding the store lock for the whole run.
Peak memory is that of one batch (and of the ids the store holds, which each batch is
compared against), whatever the size of the input.

What stays exactly as a one-shot ``load`` + ``write_store``:

- the stored events, event for event: an identical duplicate in a later batch is found in
  the store and dropped (counted ``already_in_store`` rather than ``duplicates``); the
  same id with another payload is kept and flagged ``id_conflict`` on both sides, the
  stored copy rewritten, as :func:`~auditreports.store.write_store` does;
- the ledger (one entry per file, ``lines_read == loaded + quarantined + blank``) and the
  quarantine;
- crash safety: each batch is one journaled write, committed by its ledger entry; a crash
  mid-ingest leaves the batches before it committed and the one in flight undone by the
  next writer, and running the same ingest again skips the committed files (same sha256)
  and completes the rest.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from .schema import empty_events, empty_quarantine
from .sources import LoadResult, Source, get_format, load_paths
from .sources._io import resolve_inputs
from .store import make_store_dir, store_lock, write_store

__all__ = ["DEFAULT_BATCH_BYTES", "IngestResult", "batches", "ingest"]

# Decompressed bytes parsed at once. A batch's peak memory is a few times its text
# (the raw column, the parsed columns, the Parquet encoder): 96 MB keeps an ingest of
# any size near 1.5 GB (docs/performance.md).
DEFAULT_BATCH_BYTES = 96 * 1024 * 1024
_QUARANTINE_KEPT = 100


@dataclass
class IngestResult:
    """What a batched ingest did: the load's facts (as :class:`LoadResult`) and the store's."""

    load: LoadResult
    store: dict[str, Any]
    batches: int = 0
    quarantined_records: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)


def _text_size(path: str) -> int:
    """The bytes a file holds once decompressed: a gzip file's ISIZE trailer, else its size."""
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as fh:
            if fh.read(2) != b"\x1f\x8b" or size < 18:
                return size
            fh.seek(-4, os.SEEK_END)
            isize = int.from_bytes(fh.read(4), "little")
    except OSError:
        return size
    # ISIZE is the last member's size mod 2**32: never trust it below the compressed size.
    return max(isize, size)


def batches(paths: Sequence[tuple[str, bool]], batch_bytes: int) -> Iterator[list[tuple[str, bool]]]:
    """``paths`` in order, cut into runs whose decompressed size stays under ``batch_bytes``
    (a single file larger than the budget is a batch of its own)."""
    batch: list[tuple[str, bool]] = []
    used = 0
    for item in paths:
        size = _text_size(item[0]) if os.path.isfile(item[0]) else 0
        if batch and used + size > batch_bytes:
            yield batch
            batch, used = [], 0
        batch.append(item)
        used += size
    if batch:
        yield batch


def ingest(
    src: Source,
    store_dir: str | os.PathLike[str],
    *,
    format: str | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    on_file: Callable[[dict[str, Any]], None] | None = None,
) -> IngestResult:
    """Ingest ``src`` into the store at ``store_dir`` in batches of at most ``batch_bytes``.

    Raises what :func:`~auditreports.sources.load` and :func:`~auditreports.store.write_store`
    raise (a missing path, an unknown format, an unwritable store).
    """
    if batch_bytes <= 0:
        raise ValueError("batch_bytes must be positive")
    forced = get_format(format) if format is not None else None
    walked_past: list[dict[str, str]] = []
    paths = resolve_inputs(src, walked_past)
    passed_over: list[dict[str, str]] = []
    path = make_store_dir(store_dir)
    ledger: list[dict[str, Any]] = []
    quarantine_head: list[pl.DataFrame] = []
    kept = quarantined = duplicates = conflicts = 0
    totals: dict[str, Any] = {
        "store": str(path),
        "added": 0,
        "already_in_store": 0,
        "conflicts": 0,
        "quarantined": 0,
        "skipped_inputs": [],
        "partitions": [],
    }
    count = 0
    with store_lock(path):
        for batch in batches(paths, batch_bytes):
            count += 1
            skipped: list[dict[str, str]] = []
            result = load_paths(batch, forced=forced, on_file=on_file, skipped=skipped, progress=False)
            passed_over.extend(skipped)
            report = write_store(path, result)
            ledger.extend(result.ledger)
            duplicates += result.duplicates
            conflicts += result.conflicts
            quarantined += result.quarantine.height
            if kept < _QUARANTINE_KEPT and result.quarantine.height:
                quarantine_head.append(result.quarantine.head(_QUARANTINE_KEPT - kept))
                kept += quarantine_head[-1].height
            for key in ("added", "already_in_store", "conflicts", "quarantined"):
                totals[key] += report[key]
            totals["skipped_inputs"] += report["skipped_inputs"]
            totals["partitions"] = sorted(set(totals["partitions"]) | set(report["partitions"]))
            del result, report
        if walked_past or not paths:
            # Paths the directory walk passed over go to the ledger once, after the batches.
            write_store(
                path, LoadResult(events=empty_events().lazy(), quarantine=empty_quarantine(), skipped=walked_past)
            )
    passed_over = walked_past + passed_over
    summary = LoadResult(
        events=empty_events().lazy(),
        quarantine=pl.concat(quarantine_head) if quarantine_head else empty_quarantine(),
        ledger=ledger,
        duplicates=duplicates,
        conflicts=conflicts,
        skipped=passed_over,
        quarantined_records=quarantined,
    )
    return IngestResult(load=summary, store=totals, batches=count, quarantined_records=quarantined, files=ledger)
