"""A quarter several times larger than one sample: a store's events copied ``--copies`` times.

The generator tops out at ~7M events (scale 50) and holds its quarter in memory, and
samples generated under other seeds each start their own hash chain from the genesis hash,
so ingesting them together gives one ``workspace`` log that restarts (seven breaks). This
builds a larger store from one sample's store instead, without touching a record:

- copy 0 is the store as it is;
- copy *k* has every ``event_id`` and ``conversation_id`` suffixed ``~rK`` (nothing is
  deduplicated away; conversations stay apart), its files renamed ``rK/<file>``, and its
  workspace events under the source ``workspace~rK``: each copy's workspace log is its own
  intact chain (the stored records and hashes are unchanged), as if the store held the
  logs of *copies* workspaces; the conversation events of every copy stay in the one
  ``conversation`` log (it has no chain), so continuity replays all of them;
- the timestamps are unchanged: the quarter is *copies* times as dense.

It measures what holding, verifying, detecting and reporting on N events costs; it is not
a single chain of N records (one generated sample is that, up to ~7M). Each part is written
with :func:`auditreports.store.write_store`, so the ledger reconciles.

    .venv/bin/python -m benchmarks.replicate SRC_STORE DST_STORE --copies 10
    .venv/bin/python -m benchmarks.replicate SAMPLE_DIR DST_DIR --copies 11 --files   # files, for ingest

``--files`` copies a sample's log files instead (:func:`replicate_files`), ids renamed, to
measure ``ingest`` on a quarter of that size.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

import polars as pl

from auditreports.store import write_store


def copy_of(events: pl.DataFrame, k: int) -> pl.DataFrame:
    """Copy ``k`` of a frame of stored events (copy 0 is the frame itself)."""
    if k == 0:
        return events
    tag = f"~r{k}"
    return events.with_columns(
        (pl.col("event_id") + tag).alias("event_id"),
        (pl.col("conversation_id") + tag).alias("conversation_id"),
        (pl.lit(f"r{k}/") + pl.col("source_file")).alias("source_file"),
        pl.when(pl.col("source") == "workspace")
        .then(pl.lit(f"workspace{tag}"))
        .otherwise(pl.col("source"))
        .alias("source"),
    )


def replicate(src: Path, dst: Path, copies: int) -> int:
    """Write every copy of each day at once (one new partition per day: nothing to deduplicate against)."""
    days = sorted(p for p in src.glob("events/event_date=*") if p.is_dir())
    if not days:
        raise SystemExit(f"{src} holds no stored events (events/event_date=*/*.parquet)")
    total, started = 0, time.perf_counter()
    for number, day in enumerate(days, 1):
        frame = pl.read_parquet(sorted(day.glob("*.parquet")))
        write_store(dst, pl.concat([copy_of(frame, k) for k in range(copies)]))
        total += frame.height * copies
        if number % 10 == 0 or number == len(days):
            print(f"{number}/{len(days)} days: {total:,} events in {time.perf_counter() - started:.0f} s", flush=True)
    return total


# The ids a copy of the sample's files renames (event ids of both logs, conversation ids).
_FILE_IDS = ((b'"id":"evt_', b'"id":"evt_r{k}_'), (b'"event_id":"aev_', b'"event_id":"aev_r{k}_'),
             (b'"conversation_id":"conv_', b'"conversation_id":"conv_r{k}_'))  # fmt: skip


def replicate_files(src: Path, dst: Path, copies: int) -> int:
    """Copies of a sample's ``workspace/`` and ``conversations/`` files, to measure ``ingest`` on them.

    Copy 0 is the files as they are; copy *k* (``dst/rK/…``) renames every event id and
    conversation id (``evt_rK_…``, ``conv_rK_…``) in the text, so no event is a duplicate of
    another copy's. Unlike :func:`replicate`, the records change while their stored hashes
    do not, and every copy's workspace events land in the one ``workspace`` log: the result
    is for measuring ingest (what it parses, deduplicates and writes), not for verify.
    Returns the number of files written.
    """
    files = sorted(p for sub in ("workspace", "conversations") for p in (src / sub).glob("*.gz"))
    if not files:
        raise SystemExit(f"{src} holds no workspace/ or conversations/ files (*.gz)")
    written, started = 0, time.perf_counter()
    for k in range(copies):
        for path in files:
            target = dst / f"r{k}" / path.parent.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            data = gzip.decompress(path.read_bytes())
            for old, new in _FILE_IDS if k else ():
                data = data.replace(old, new.replace(b"{k}", str(k).encode()))
            target.write_bytes(gzip.compress(data, compresslevel=1, mtime=0))
            written += 1
        print(f"copy {k + 1}/{copies}: {written} files in {time.perf_counter() - started:.0f} s", flush=True)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, help="a store (auditreports ingest … --store SRC), or with --files a sample")
    parser.add_argument(
        "dst", type=Path, help="the larger store (or, with --files, directory) to write (must not exist)"
    )
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument(
        "--files", action="store_true", help="copy a sample's log files (ids renamed) to measure ingest on them"
    )
    args = parser.parse_args(argv)
    if args.dst.exists():
        parser.error(f"{args.dst} exists; give a new directory")
    if args.files:
        replicate_files(args.src, args.dst, args.copies)
    else:
        replicate(args.src, args.dst, args.copies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
