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

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from .errors import StoreError, UsageError
from .schema import EVENT_SCHEMA, QUARANTINE_SCHEMA, empty_events, empty_quarantine
from .sources._dedupe import add_flag, dedupe_events, fingerprint

__all__ = ["LEDGER_VERSION", "Store", "open_store", "store_lock", "write_store"]

LEDGER_VERSION = 1
EVENTS_DIR = "events"
LEDGER_FILE = "ledger.json"
QUARANTINE_FILE = "quarantine.ndjson"
LOCK_FILE = ".lock"
JOURNAL_FILE = ".pending.json"
# Files of the store's own machinery: a directory holding only these is still "empty".
_MACHINERY = {LOCK_FILE, JOURNAL_FILE}
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
            self._scan(start_ts.date(), last_day)
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

    def reconcile(self) -> list[str]:
        """Why the ledger and the stored parts disagree (empty when they agree); see :func:`reconcile`."""
        return reconcile(self.path)

    def _scan(self, first_day: dt.date | None = None, last_day: dt.date | None = None) -> pl.LazyFrame:
        files = [str(p) for p in _part_files(self.path, first_day, last_day)]
        if not files:
            return empty_events().lazy()
        # The partition directories are listed here rather than by Polars' hive parsing,
        # which would also read `name=value` pieces of the store's own path as columns.
        lf = pl.scan_parquet(files, hive_partitioning=False, missing_columns="insert", extra_columns="ignore")
        return lf.with_columns([pl.col(n).cast(t) for n, t in EVENT_SCHEMA.items()])


def _part_files(path: Path, first_day: dt.date | None = None, last_day: dt.date | None = None) -> list[Path]:
    """The store's Parquet parts, sorted, optionally only those of UTC dates in [first_day, last_day]."""
    out = []
    for day_dir in sorted((path / EVENTS_DIR).glob("event_date=*")):
        try:
            day = dt.date.fromisoformat(day_dir.name.removeprefix("event_date="))
        except ValueError:
            continue
        if (first_day is not None and day < first_day) or (last_day is not None and day > last_day):
            continue
        out.extend(sorted(day_dir.glob("*.parquet")))
    return out


def _utc(value: dt.datetime | dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)


def store_problem(store_dir: str | os.PathLike[str]) -> str | None:
    """Why ``store_dir`` is not a store to read (missing, or no ledger), in the one wording every command uses."""
    path = Path(store_dir)
    if not path.is_dir():
        if path.exists():
            return (
                f"{path}: not a directory, so not a store; point --store at a directory made by `auditreports ingest`"
            )
        return f"{path}: no such store; create it with `auditreports ingest SRC --store {path}`"
    if not (path / LEDGER_FILE).is_file():
        return (
            f"{path}: not an auditreports store (no {LEDGER_FILE}); "
            "point --store at a directory made by `auditreports ingest`"
        )
    return None


def check_store(store_dir: str | os.PathLike[str]) -> Path:
    """The store's path; :class:`StoreError` (:func:`store_problem`'s sentence) if it is not a store to read."""
    problem = store_problem(store_dir)
    if problem:
        raise StoreError(problem, path=str(store_dir))
    return Path(store_dir)


def open_store(store_dir: str | os.PathLike[str]) -> Store:
    """Open an existing store; :class:`StoreError` if the directory is missing or not a store."""
    path = check_store(store_dir)
    _read_ledger(path)
    return Store(path)


def _read_ledger(path: Path) -> dict[str, Any]:
    ledger_path = path / LEDGER_FILE
    if not ledger_path.is_file():
        return {"version": LEDGER_VERSION, "inputs": [], "fetches": []}
    try:
        ledger = json.loads(ledger_path.read_text(encoding="utf-8"))
    except PermissionError as exc:
        raise StoreError(
            f"{ledger_path}: cannot read the ledger ({exc.strerror}); check the store's permissions", path=str(path)
        ) from None
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


# --- one writer at a time -------------------------------------------------------------

_held: dict[tuple[str, int], list[int]] = {}  # (resolved store path, thread) -> [fd, depth]
_held_guard = threading.RLock()


def _holder_text(lock_path: Path) -> str:
    try:
        info = json.loads(lock_path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "another process"
    return f"process {info.get('pid')} ({info.get('command', '?')}, since {info.get('since', '?')})"


@contextlib.contextmanager
def store_lock(store_dir: str | os.PathLike[str], *, timeout: float | None = None) -> Iterator[None]:
    """Hold the store's write lock (``STORE/.lock``, an advisory ``flock``) for the block.

    A second writer (another process) prints who holds the lock and waits for it;
    with ``timeout`` (seconds) it gives up with :class:`StoreError` naming the holder
    (exit 2). Re-entrant within one thread, so a fetch can hold it for the whole run
    while each page batch goes through :func:`write_store`; another thread waits. The kernel releases the lock
    when its process dies, so a crashed writer never blocks the next run.
    """
    import fcntl

    path = Path(store_dir)
    # Re-entrant per thread: another thread of this process opens its own descriptor, and
    # flock (per open file description) makes it wait like another process would.
    key = (str(path.resolve()), threading.get_ident())
    with _held_guard:
        held = _held.get(key)
        if held is not None:
            held[1] += 1
    if held is not None:
        try:
            yield
        finally:
            with _held_guard:
                held[1] -= 1
        return
    lock_path = path / LOCK_FILE
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot write to the store ({exc.strerror}); check that the directory exists and is writable",
            path=str(path),
        ) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_text(lock_path)
            if timeout is not None and timeout <= 0:
                raise StoreError(
                    f"{path}: the store is being written by {holder}; wait for it to finish and run again",
                    path=str(path),
                ) from None
            print(
                f"[auditreports] {path}: the store is being written by {holder}; waiting for it to finish",
                file=sys.stderr,
                flush=True,
            )
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise StoreError(
                            f"{path}: the store is still being written by {holder} after {timeout:g} s; "
                            "run again when it has finished",
                            path=str(path),
                        ) from None
                    time.sleep(0.1)
        info = {"pid": os.getpid(), "command": " ".join(["auditreports", *sys.argv[1:2]]), "since": _now()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
    except BaseException:
        os.close(fd)
        raise
    with _held_guard:
        _held[key] = [fd, 1]
    try:
        _recover(path)
        yield
    finally:
        with _held_guard:
            del _held[key]
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor releases the flock


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _recover(path: Path) -> None:
    """Undo a write that crashed before its ledger commit (called with the lock held).

    The journal lists the parts the write was adding and the quarantine file's size
    before it; if the ledger does not carry the journal's write id, those parts are
    removed and the quarantine cut back, so the next ingest or fetch re-does the
    write cleanly. Left-over temporary files of any crashed write go too.
    """
    journal_path = path / JOURNAL_FILE
    for tmp in [*path.glob(".*.tmp"), *(path / EVENTS_DIR).glob("event_date=*/.*.tmp")]:
        with contextlib.suppress(OSError):
            tmp.unlink()
    if not journal_path.is_file():
        return
    try:
        journal = json.loads(journal_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        journal = None
    if isinstance(journal, dict) and (path / LEDGER_FILE).is_file():
        ledger = _read_ledger(path)
        if journal.get("write_id") not in ledger.get("writes", []):
            for rel in journal.get("parts", []):
                with contextlib.suppress(FileNotFoundError):
                    (path / rel).unlink()
            quarantine = path / QUARANTINE_FILE
            size = journal.get("quarantine_bytes")
            if isinstance(size, int) and quarantine.is_file() and quarantine.stat().st_size > size:
                with open(quarantine, "r+b") as fh:
                    fh.truncate(size)
                    fh.flush()
                    os.fsync(fh.fileno())
            print(
                f"[auditreports] {path}: an earlier write was interrupted before it was committed; "
                f"removed its {len(journal.get('parts', []))} uncommitted part(s), the ledger and the parts agree again",
                file=sys.stderr,
                flush=True,
            )
    journal_path.unlink()


def _part_rows(path: Path) -> int:
    """Rows of one part, from its footer only (a store has thousands of parts; this is checked per report)."""
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows)


def reconcile(store_dir: str | os.PathLike[str]) -> list[str]:
    """Why the ledger and the stored Parquet parts disagree; empty when they agree.

    The ledger records every part a committed write added (``parts``: path → rows).
    A part on disk the ledger does not list, a listed part that is missing, a row count
    that differs, an input whose lines do not add up, or an uncommitted write (a journal
    left by a crash) each make the store unfit as evidence until re-ingested.
    """
    path = Path(store_dir)
    ledger = _read_ledger(path)
    problems: list[str] = []
    if (path / JOURNAL_FILE).is_file() and not _lock_is_free(path):
        problems.append("a write is in progress; wait for it to finish")
    elif (path / JOURNAL_FILE).is_file():
        problems.append(
            "a write was interrupted before its ledger commit; run any ingest into the store to clean it up"
        )
    recorded: dict[str, int] = ledger.get("parts", {}) if isinstance(ledger.get("parts"), dict) else {}
    on_disk = {p.relative_to(path).as_posix(): p for p in (path / EVENTS_DIR).glob("event_date=*/*.parquet")}
    if "parts" in ledger:
        unlisted = sorted(set(on_disk) - set(recorded))
        missing = sorted(set(recorded) - set(on_disk))
        if unlisted:
            problems.append(f"{len(unlisted)} Parquet part(s) are not in the ledger (first: {unlisted[0]})")
        if missing:
            problems.append(f"{len(missing)} part(s) the ledger lists are missing (first: {missing[0]})")
        for rel in sorted(set(recorded) & set(on_disk)):
            rows = _part_rows(on_disk[rel])
            if rows != recorded[rel]:
                problems.append(f"{rel} holds {rows} events, the ledger says {recorded[rel]}")
                break
    for entry in ledger.get("inputs", []):
        lines = [int(entry.get(k) or 0) for k in ("lines_read", "loaded", "quarantined", "blank")]
        if lines[0] != sum(lines[1:]):
            problems.append(f"{entry.get('path')}: {lines[0]} lines read but {sum(lines[1:])} accounted for")
    return problems


def _lock_is_free(path: Path) -> bool:
    import fcntl

    try:
        fd = os.open(path / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


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
    path = make_store_dir(store_dir)
    with store_lock(path):
        try:
            return _write_locked(path, result_or_events, quarantine, ledger_entries, kind)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT):
                raise StoreError(
                    f"{path}: cannot write to the store ({exc.strerror}: {exc.filename or path}); "
                    "free space or fix the permissions and run again (nothing half-written is kept)",
                    path=str(path),
                ) from None
            raise


def _write_locked(
    path: Path,
    result_or_events: Any,
    quarantine: pl.DataFrame | None,
    ledger_entries: Iterable[Mapping[str, Any]],
    kind: str,
) -> dict[str, Any]:
    _prepare(path)
    ledger = _read_ledger(path)
    from .sources import LoadResult

    if isinstance(result_or_events, LoadResult):
        events = result_or_events.events.collect()
        quarantine = result_or_events.quarantine if quarantine is None else quarantine
        entries = [dict(e) for e in (list(ledger_entries) or result_or_events.ledger)]
        passed_over = [dict(p) for p in result_or_events.skipped]
    elif isinstance(result_or_events, pl.DataFrame | pl.LazyFrame):
        events = result_or_events.lazy().collect()
        entries = [dict(e) for e in ledger_entries]
        passed_over = []
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
    # The same bytes read as another format (a --format given this time, or a format that
    # was not recognised before) are a different reading, not a repeat: they are ingested.
    known: dict[tuple[Any, Any], Any] = {}
    formats_of: dict[Any, list[str]] = {}
    for e in ledger["inputs"]:
        if e.get("sha256") and e.get("status") == "ingested":
            known.setdefault((e.get("sha256"), e.get("format")), e.get("path"))
            formats_of.setdefault(e.get("sha256"), []).append(str(e.get("format")))
    skipped = []
    for entry in entries if kind == "inputs" else ():
        entry["ingested_at"] = now
        sha, fmt = entry.get("sha256"), entry.get("format")
        if (sha, fmt) in known:
            entry["status"] = "already_ingested"
            entry["same_as"] = known[(sha, fmt)]
            skipped.append(entry.get("path"))
        else:
            entry["status"] = "ingested"
            if sha in formats_of:
                earlier = ", ".join(sorted(set(formats_of[sha])))
                entry.setdefault("notes", []).append(
                    f"the same bytes (sha256) were ingested before as {earlier}; read again as {fmt}"
                )
            if sha:
                known[(sha, fmt)] = entry.get("path")
                formats_of.setdefault(sha, []).append(str(fmt))
    if skipped:
        events = events.filter(~pl.col("source_file").is_in(skipped))
        quarantine = quarantine.filter(~pl.col("source_file").is_in(skipped))

    # 2. Duplicates within the batch, then against the store.
    events, _ = dedupe_events(events)
    events, store_dups, conflict_ids = _against_store(Store(path), events)
    new_per_file = events.group_by("source_file").len()

    # 3. The journal (what this write adds), partitions, quarantine, then the ledger
    # (the commit record) last; a crash before the ledger is undone by the next writer.
    if "parts" not in ledger:  # a store made before parts were recorded: adopt what it holds
        ledger["parts"] = {
            p.relative_to(path).as_posix(): _part_rows(p) for p in (path / EVENTS_DIR).glob("event_date=*/*.parquet")
        }
    write_id = uuid.uuid4().hex
    plan = _plan_partitions(path, events)
    quarantine = _new_quarantine(path, quarantine)
    quarantine_file = path / QUARANTINE_FILE
    journal = {
        "write_id": write_id,
        "parts": [target.relative_to(path).as_posix() for target, _ in plan],
        "quarantine_bytes": quarantine_file.stat().st_size if quarantine_file.is_file() else 0,
    }
    _atomic_write(path / JOURNAL_FILE, json.dumps(journal).encode("utf-8"))
    dates = _write_partitions(plan)
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
    if passed_over:  # paths a directory walk passed over, with why: the ledger says what was not read
        ledger.setdefault("skipped", []).extend({**p, "at": now} for p in passed_over)
    ledger["parts"].update({target.relative_to(path).as_posix(): part.height for target, part in plan})
    ledger.setdefault("writes", []).append(write_id)
    _atomic_write(path / LEDGER_FILE, json.dumps(ledger, indent=2, ensure_ascii=False).encode("utf-8"))
    (path / JOURNAL_FILE).unlink()
    return {
        "store": str(path),
        "added": events.height,
        "already_in_store": int(store_dups["len"].sum()) if store_dups.height else 0,
        "conflicts": len(conflict_ids),
        "quarantined": quarantine.height,
        "skipped_inputs": skipped,
        "partitions": dates,
    }


def make_store_dir(store_dir: str | os.PathLike[str]) -> Path:
    """The store directory, created if missing: a new or empty directory, or an existing store."""
    path = Path(store_dir)
    _check_target(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot create the store directory ({exc.strerror}); choose a writable place", path=str(path)
        ) from None
    return path


def _check_target(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path}: exists and is not a directory; choose a directory for the store", path=str(path))
    if path.is_dir() and any(p.name not in _MACHINERY for p in path.iterdir()) and not (path / LEDGER_FILE).is_file():
        raise StoreError(
            f"{path}: is not empty and not an auditreports store (no {LEDGER_FILE}); choose a new or empty directory",
            path=str(path),
        )


def _prepare(path: Path) -> None:
    (path / EVENTS_DIR).mkdir(parents=True, exist_ok=True)
    if not (path / LEDGER_FILE).is_file():
        empty = {"version": LEDGER_VERSION, "inputs": [], "fetches": []}
        _atomic_write(path / LEDGER_FILE, json.dumps(empty, indent=2).encode("utf-8"))


def _against_store(store: Store, events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """Drop events already stored with the same payload fingerprint; flag id conflicts on both sides."""
    none = pl.DataFrame(schema={"source_file": pl.String, "len": pl.UInt32})
    files = [str(p) for p in _part_files(store.path)]
    if not events.height or not files:
        return events, none, []
    ids = events.get_column("event_id").unique().implode()
    # First only the id column of every part (cheap, and the memory of one column of
    # matches), then whole rows from just the parts that hold one of the ids: a batched
    # ingest compares each batch with a store that grows batch by batch.
    holding = (
        pl.scan_parquet(files, hive_partitioning=False, include_file_paths="_file")
        .select("event_id", "_file")
        .filter(pl.col("event_id").is_in(ids))
        .select("_file")
        .unique()
        .collect()
        .get_column("_file")
        .to_list()
    )
    if not holding:
        return events, none, []
    stored = (
        pl.scan_parquet(sorted(holding), hive_partitioning=False, include_file_paths="_file")
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


def _plan_partitions(path: Path, events: pl.DataFrame) -> list[tuple[Path, pl.DataFrame]]:
    """One new part per UTC date: (its path, its rows), named before anything is written."""
    if not events.height:
        return []
    plan = []
    with_date = events.with_columns(pl.col("timestamp").dt.date().alias("_date"))
    for (date,), part in with_date.partition_by("_date", as_dict=True, maintain_order=True).items():
        target = path / EVENTS_DIR / f"event_date={date.isoformat()}" / f"part-{uuid.uuid4().hex[:16]}.parquet"
        # Clustered by conversation, then actor (workspace events mostly have no
        # conversation, so they cluster by actor); readers sort by time themselves.
        ordered = part.drop("_date").sort("conversation_id", "actor_id", "timestamp", "event_id", nulls_last=False)
        plan.append((target, ordered))
    return plan


def _write_partitions(plan: list[tuple[Path, pl.DataFrame]]) -> list[str]:
    dates = []
    for target, part in plan:
        _write_parquet_atomic(part, target)
        dates.append(target.parent.name.removeprefix("event_date="))
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
