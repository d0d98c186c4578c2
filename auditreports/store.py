"""The evidence store: hive-partitioned Parquet by UTC event date, a ledger and a quarantine.

Layout (docs/architecture.md, a contract)::

    STORE/
      events/event_date=YYYY-MM-DD/part-<16 hex>.parquet   canonical events
      quarantine.ndjson                                     quarantined records (raw as base64 + preview)
      ledger.json                                           {"version": 1, "inputs": [...], "fetches": [...]}

Why it is built this way: an auditor asks for a quarter or one data subject, so the
store is partitioned by date and read lazily with predicate pushdown. Ingesting is
idempotent (the same export twice adds nothing, an overlapping export adds only new
events, a quarantined record already held is not appended again), because analysts
re-run ingests and fetches resume. Every file is written to a hidden temporary
name and renamed into place, and the ledger is written last, so a crash never leaves
a half-written partition visible.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from .errors import StoreError, UsageError
from .schema import EVENT_SCHEMA, QUARANTINE_SCHEMA, empty_events, empty_quarantine
from .sources._dedupe import add_flag, dedupe_events, fingerprint

__all__ = ["LEDGER_VERSION", "Store", "open_store", "write_store"]

LEDGER_VERSION = 1
EVENTS_DIR = "events"
LEDGER_FILE = "ledger.json"
QUARANTINE_FILE = "quarantine.ndjson"
_KINDS = ("inputs", "fetches")
_PREVIEW_CHARS = 200


@dataclass(frozen=True)
class Store:
    """An opened store. Everything is read on access, so a store is never stale."""

    path: Path

    @property
    def events(self) -> pl.LazyFrame:
        """All events, exactly the canonical schema (the ``event_date`` partition column is dropped).

        Filters on ``timestamp`` are pushed down to Parquet statistics; use
        :meth:`events_between` to also prune whole date partitions.
        """
        return self._scan().select(list(EVENT_SCHEMA))

    def events_between(self, start: dt.datetime | dt.date, end: dt.datetime | dt.date) -> pl.LazyFrame:
        """Events with ``start <= timestamp < end`` (UTC), reading only the partitions in range."""
        start_ts, end_ts = _utc(start), _utc(end)
        last_day = (end_ts - dt.timedelta(microseconds=1)).date()
        return (
            self._scan()
            .filter(pl.col("event_date").is_between(start_ts.date(), last_day))
            .filter((pl.col("timestamp") >= start_ts) & (pl.col("timestamp") < end_ts))
            .select(list(EVENT_SCHEMA))
        )

    @property
    def quarantine(self) -> pl.DataFrame:
        """Quarantined records with ``QUARANTINE_SCHEMA`` (raw bytes decoded from base64)."""
        path = self.path / QUARANTINE_FILE
        if not path.is_file() or path.stat().st_size == 0:
            return empty_quarantine()
        frame = pl.read_ndjson(
            path,
            schema={
                **{k: v for k, v in QUARANTINE_SCHEMA.items() if k != "raw"},
                "raw_base64": pl.String(),
            },
        )
        return frame.with_columns(pl.col("raw_base64").str.decode("base64").alias("raw")).select(
            list(QUARANTINE_SCHEMA)
        )

    @property
    def ledger(self) -> dict[str, Any]:
        return _read_ledger(self.path)

    def _scan(self) -> pl.LazyFrame:
        if not any((self.path / EVENTS_DIR).glob("event_date=*/*.parquet")):
            return empty_events().lazy().with_columns(pl.lit(None, dtype=pl.Date).alias("event_date"))
        lf = pl.scan_parquet(
            str(self.path / EVENTS_DIR / "**" / "*.parquet"),
            hive_partitioning=True,
            hive_schema={"event_date": pl.Date()},
        )
        return lf.with_columns([pl.col(n).cast(t) for n, t in EVENT_SCHEMA.items()])


def _utc(value: dt.datetime | dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)


def open_store(store_dir: str | os.PathLike[str]) -> Store:
    """Open an existing store; :class:`StoreError` if the directory is missing or not a store."""
    path = Path(store_dir)
    if not path.is_dir():
        raise StoreError(
            f"{path}: no such store directory; create one with `auditreports ingest SRC --store {path}`", path=str(path)
        )
    if not (path / LEDGER_FILE).is_file():
        raise StoreError(
            f"{path}: not an auditreports store (no {LEDGER_FILE}); point --store at a store made by `auditreports ingest`",
            path=str(path),
        )
    _read_ledger(path)
    return Store(path)


def _read_ledger(path: Path) -> dict[str, Any]:
    ledger_path = path / LEDGER_FILE
    if not ledger_path.is_file():
        return {"version": LEDGER_VERSION, "inputs": [], "fetches": []}
    try:
        ledger = json.loads(ledger_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"{ledger_path}: the ledger is damaged ({exc}); restore it from a backup", path=str(path)
        ) from exc
    if not isinstance(ledger, dict) or ledger.get("version") != LEDGER_VERSION:
        raise StoreError(
            f"{ledger_path}: not a version {LEDGER_VERSION} ledger; this store was made by another version",
            path=str(path),
        )
    for kind in _KINDS:
        ledger.setdefault(kind, [])
    return ledger


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


ROW_GROUP_ROWS = 16_384


def _write_parquet_atomic(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    # Small row groups: with rows clustered by conversation and actor (see
    # _write_partitions), min/max statistics let a one-conversation or one-author
    # search skip most groups (benchmarks/search.py: 9.4 s -> 0.4 s at 10M events).
    frame.write_parquet(tmp, compression="zstd", statistics=True, row_group_size=ROW_GROUP_ROWS)
    os.replace(tmp, path)


def write_store(
    store_dir: str | os.PathLike[str],
    result_or_events: Any,
    *,
    quarantine: pl.DataFrame | None = None,
    ledger_entries: Iterable[Mapping[str, Any]] = (),
    kind: str = "inputs",
) -> dict[str, Any]:
    """Add events (a :class:`~auditreports.sources.LoadResult` or a canonical frame) to a store.

    Idempotent: an input whose sha256 is already in the ledger is skipped (the ledger
    notes the re-ingest); events already stored with the same payload are not added
    again; same id with a different payload is a conflict, kept and flagged
    ``id_conflict`` on both sides. Returns what was done, for the CLI summary.
    """
    if kind not in _KINDS:
        raise UsageError(f"kind must be 'inputs' or 'fetches', not {kind!r}")
    path = Path(store_dir)
    _prepare(path)
    ledger = _read_ledger(path)
    from .sources import LoadResult

    if isinstance(result_or_events, LoadResult):
        events = result_or_events.events.collect()
        quarantine = result_or_events.quarantine if quarantine is None else quarantine
        entries = [dict(e) for e in (list(ledger_entries) or result_or_events.ledger)]
    elif isinstance(result_or_events, pl.DataFrame | pl.LazyFrame):
        events = result_or_events.lazy().collect()
        entries = [dict(e) for e in ledger_entries]
    else:
        raise UsageError("write_store takes a LoadResult or a canonical events frame")
    missing = [name for name in EVENT_SCHEMA if name not in events.columns]
    if missing:
        raise UsageError(f"the events frame lacks canonical columns {missing}; build it with auditreports.sources")
    events = events.select([pl.col(n).cast(t) for n, t in EVENT_SCHEMA.items()])
    quarantine = empty_quarantine() if quarantine is None else quarantine.select(list(QUARANTINE_SCHEMA))
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    # 1. The same input file again: skip it whole. Fetch entries are the API client's own
    # record (its counts, its timestamps) and are appended exactly as given.
    known = {
        e.get("sha256"): e.get("path") for e in ledger["inputs"] if e.get("sha256") and e.get("status") == "ingested"
    }
    skipped = []
    for entry in entries if kind == "inputs" else ():
        entry["ingested_at"] = now
        sha = entry.get("sha256")
        if sha in known:
            entry["status"] = "already_ingested"
            entry["same_as"] = known[sha]
            skipped.append(entry.get("path"))
        else:
            entry["status"] = "ingested"
            if sha:
                known[sha] = entry.get("path")
    if skipped:
        events = events.filter(~pl.col("source_file").is_in(skipped))
        quarantine = quarantine.filter(~pl.col("source_file").is_in(skipped))

    # 2. Duplicates within the batch, then against the store.
    events, _ = dedupe_events(events)
    events, store_dups, conflict_ids = _against_store(Store(path), events)
    new_per_file = events.group_by("source_file").len()

    # 3. Partitions, then quarantine, then the ledger (the commit record) last.
    dates = _write_partitions(path, events)
    quarantine = _new_quarantine(path, quarantine)
    if quarantine.height:
        _append_quarantine(path, quarantine)
    dup_by_file = dict(store_dups.iter_rows()) if store_dups.height else {}
    added_by_file = dict(new_per_file.iter_rows()) if new_per_file.height else {}
    for entry in entries if kind == "inputs" else ():
        if entry["status"] == "ingested":
            entry["added"] = int(added_by_file.get(entry.get("path"), 0))
            entry["already_in_store"] = int(dup_by_file.get(entry.get("path"), 0))
        else:
            entry["added"] = 0
    ledger[kind].extend(entries)
    _atomic_write(path / LEDGER_FILE, json.dumps(ledger, indent=2, ensure_ascii=False).encode("utf-8"))
    return {
        "store": str(path),
        "added": events.height,
        "already_in_store": int(store_dups["len"].sum()) if store_dups.height else 0,
        "conflicts": len(conflict_ids),
        "quarantined": quarantine.height,
        "skipped_inputs": skipped,
        "partitions": dates,
    }


def _prepare(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path}: exists and is not a directory; choose a directory for the store", path=str(path))
    if path.is_dir() and any(path.iterdir()) and not (path / LEDGER_FILE).is_file():
        raise StoreError(
            f"{path}: is not empty and not an auditreports store (no {LEDGER_FILE}); choose a new or empty directory",
            path=str(path),
        )
    (path / EVENTS_DIR).mkdir(parents=True, exist_ok=True)
    if not (path / LEDGER_FILE).is_file():
        empty = {"version": LEDGER_VERSION, "inputs": [], "fetches": []}
        _atomic_write(path / LEDGER_FILE, json.dumps(empty, indent=2).encode("utf-8"))


def _against_store(store: Store, events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """Drop events already stored with the same payload fingerprint; flag id conflicts on both sides."""
    none = pl.DataFrame(schema={"source_file": pl.String, "len": pl.UInt32})
    if not events.height or not any((store.path / EVENTS_DIR).glob("event_date=*/*.parquet")):
        return events, none, []
    ids = events.get_column("event_id").unique().implode()
    stored = (
        pl.scan_parquet(
            str(store.path / EVENTS_DIR / "**" / "*.parquet"),
            hive_partitioning=True,
            include_file_paths="_file",
        )
        .filter(pl.col("event_id").is_in(ids))
        .with_columns([pl.col(n).cast(t) for n, t in EVENT_SCHEMA.items()])
        .select([*EVENT_SCHEMA, "_file"])
        .collect()
    )
    if not stored.height:
        return events, none, []
    # Only the new events whose id is stored need a fingerprint (dedupe.fingerprint: exact, not a hash).
    marked = events.with_row_index("_row")
    overlap = marked.join(stored.select("event_id").unique(), on="event_id", how="semi")
    fps = fingerprint(pl.concat([stored.select(list(EVENT_SCHEMA)), overlap.select(list(EVENT_SCHEMA))]))
    stored_fp = stored.select("event_id").with_columns(fps.head(stored.height))
    overlap = overlap.with_columns(fps.slice(stored.height))
    same = overlap.join(stored_fp.select("event_id", "_fp").unique(), on=["event_id", "_fp"], how="semi")
    store_dups = same.group_by("source_file").len()
    conflict_ids = overlap.join(same.select("_row"), on="_row", how="anti").get_column("event_id").unique()
    new = marked.join(same.select("_row"), on="_row", how="anti").sort("_row").drop("_row")
    if conflict_ids.len():
        new = new.with_columns(add_flag("id_conflict", pl.col("event_id").is_in(conflict_ids.implode())))
        files = stored.filter(pl.col("event_id").is_in(conflict_ids.implode())).get_column("_file").unique().to_list()
        for file in files:
            frame = pl.read_parquet(file).with_columns(
                add_flag("id_conflict", pl.col("event_id").is_in(conflict_ids.implode()))
            )
            _write_parquet_atomic(frame.select([c for c in frame.columns if c != "event_date"]), Path(file))
    return new, store_dups, conflict_ids.to_list()


def _write_partitions(path: Path, events: pl.DataFrame) -> list[str]:
    if not events.height:
        return []
    dates = []
    with_date = events.with_columns(pl.col("timestamp").dt.date().alias("_date"))
    for (date,), part in with_date.partition_by("_date", as_dict=True, maintain_order=True).items():
        name = date.isoformat()
        target = path / EVENTS_DIR / f"event_date={name}" / f"part-{uuid.uuid4().hex[:16]}.parquet"
        # Clustered by conversation, then actor (workspace events mostly have no
        # conversation, so they cluster by actor); readers sort by time themselves.
        ordered = part.drop("_date").sort("conversation_id", "actor_id", "timestamp", "event_id", nulls_last=False)
        _write_parquet_atomic(ordered, target)
        dates.append(name)
    return sorted(dates)


_QUARANTINE_KEY = ("source_file", "source_line", "source_offset", "_raw_sha256")


def _quarantine_keys(frame: pl.DataFrame, raw: pl.Expr) -> pl.DataFrame:
    sha = raw.map_batches(
        lambda s: pl.Series([hashlib.sha256(b).hexdigest() for b in s.to_list()], dtype=pl.String),
        return_dtype=pl.String,
    )
    return frame.with_columns(sha.alias("_raw_sha256"))


def _new_quarantine(path: Path, quarantine: pl.DataFrame) -> pl.DataFrame:
    """Quarantine rows the store does not hold yet.

    A quarantined record is identified by where it was read (file, line, offset) and the
    sha256 of its bytes, so re-ingesting a file whose ledger entry was removed, or a
    resumed fetch re-writing a page, never doubles quarantine rows.
    """
    if not quarantine.height:
        return quarantine
    marked = _quarantine_keys(quarantine, pl.col("raw")).unique(
        subset=list(_QUARANTINE_KEY), keep="first", maintain_order=True
    )
    target = path / QUARANTINE_FILE
    if target.is_file() and target.stat().st_size:
        known = pl.read_ndjson(
            target,
            schema={
                "source_file": pl.String(),
                "source_line": pl.Int64(),
                "source_offset": pl.Int64(),
                "raw_base64": pl.String(),
            },
        )
        known = _quarantine_keys(known, pl.col("raw_base64").str.decode("base64")).select(_QUARANTINE_KEY)
        marked = marked.join(known, on=list(_QUARANTINE_KEY), how="anti", nulls_equal=True, maintain_order="left")
    return marked.drop("_raw_sha256")


def _append_quarantine(path: Path, quarantine: pl.DataFrame) -> None:
    # The preview is for a human reading the file: undecodable bytes shown as \xNN escapes.
    preview = [
        raw[: _PREVIEW_CHARS * 4].decode("utf-8", "backslashreplace")[:_PREVIEW_CHARS] for raw in quarantine["raw"]
    ]
    rows = quarantine.with_columns(
        pl.col("raw").bin.encode("base64").alias("raw_base64"),
        pl.Series("raw_preview", preview, dtype=pl.String),
    ).drop("raw")
    buffer = rows.write_ndjson()
    target = path / QUARANTINE_FILE
    existing = target.read_bytes() if target.is_file() else b""
    _atomic_write(target, existing + buffer.encode("utf-8"))
