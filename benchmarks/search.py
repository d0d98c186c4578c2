"""Search on a big store: one conversation and one author beside full scans of the same data.

Builds a store of ``--events`` canonical events (default 10M, one quarter) in the store
layout of docs/architecture.md (``events/event_date=YYYY-MM-DD/part-<16 hex>.parquet``,
zstd, statistics) with a vectorised numpy/Polars generator, one day at a time, so memory
stays at one day's frame. Each day is written in several *layouts* side by side:

- ``writer``: what ``auditreports.store.write_store`` does today: rows sorted by
  (timestamp, event_id), Polars' default row groups (one group per daily part here);
- ``writer-small``: the same order in small row groups (``--row-group-rows``, 16,384 by default);
- ``by-conversation``: rows sorted by (conversation_id, timestamp), small row groups;
- ``by-actor``: rows sorted by (actor_id, timestamp), small row groups.

Then, in one run, per layout: ``search(conversation_id=…)``, ``search(author=<actor id>)``,
``search(author=<e-mail>)`` and a full-scan text search (every row's reason/before/after),
each the median of ``--repeat`` runs after a warm-up run; two "bare predicate" rows show
the plain equality filter without ``search()`` around it (the best statistics can do); and, on the ``writer`` layout, the naive
approach (pandas reads every part file whole and filters). The "row groups" column is
how many row groups' min/max statistics admit the value (from the Parquet footers):
what statistics pruning *can* skip.

Conversation and actor ids are random-looking (no time order), the worst case for
file-level statistics; each conversation lives for up to three days.

    .venv/bin/python -m benchmarks.search                 # 10M events
    .venv/bin/python -m benchmarks.search --events 1000000 --keep /tmp/bench-store
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from auditreports.schema import CONVERSATION_EVENT_TYPES, EVENT_SCHEMA, WORKSPACE_ACTIONS
from auditreports.search import scan_store, search

DAYS = 92
START = dt.date(2026, 7, 1)
ACTORS = 2_000
SMALL_GROUPS = 16_384
LAYOUTS: dict[str, tuple[tuple[str, ...], int | None]] = {
    "writer": (("timestamp", "event_id"), None),
    "writer-small": (("timestamp", "event_id"), SMALL_GROUPS),
    "by-conversation": (("conversation_id", "timestamp"), SMALL_GROUPS),
    "by-actor": (("actor_id", "timestamp"), SMALL_GROUPS),
    # What auditreports.store writes today (store._write_partitions, store.ROW_GROUP_ROWS).
    "store": (("conversation_id", "actor_id", "timestamp", "event_id"), SMALL_GROUPS),
}
_CONV_TYPES = list(CONVERSATION_EVENT_TYPES)
_WS_ACTIONS = list(WORKSPACE_ACTIONS)


def _ws_category(action: str) -> str:
    prefix = action.split(".")[0]
    return {"auth": "auth", "config": "config", "data": "data_access", "integration": "integration"}.get(
        prefix, "system"
    )


def _actors(rng: np.random.Generator) -> pl.DataFrame:
    """The workforce: random-looking ids, mixed-case names, lower-case e-mails (2,000 rows, not per event)."""
    ids = rng.choice(10**9, size=ACTORS, replace=False)
    kinds = np.where(np.arange(ACTORS) % 50 == 0, "api_key", np.where(np.arange(ACTORS) % 25 == 0, "bot", "user"))
    return pl.DataFrame(
        {
            "actor_id": [f"usr_{i:09d}" for i in ids],
            "actor_name": [f"Agent {n} Example" for n in range(ACTORS)],
            "actor_email": [f"agent{n}@acme.example" for n in range(ACTORS)],
            "actor_role": np.where(np.arange(ACTORS) % 10 == 0, "admin", "agent").tolist(),
            "actor_type": kinds.tolist(),
        }
    )


def _scramble(n: np.ndarray) -> np.ndarray:
    """A bijection on 0..2**40 that destroys order (so ids carry no time locality)."""
    x = (n.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) & np.uint64((1 << 40) - 1)
    return x ^ (x >> np.uint64(17))


def day_events(day_index: int, n: int, first_id: int, actors: pl.DataFrame, seed: int) -> pl.DataFrame:
    """One day's canonical events, fully vectorised."""
    rng = np.random.default_rng(seed * 1_000 + day_index)
    day = START + dt.timedelta(days=day_index)
    micros = np.sort(rng.integers(0, 86_400_000_000, size=n))
    is_conv = rng.random(n) < 0.6
    # Skewed workload: a few actors do most of the work.
    actor_idx = (ACTORS * rng.random(n) ** 2.5).astype(np.int64)
    # Conversations opened per day ~ n/8; an event belongs to one opened in the last 3 days.
    per_day = max(n // 8, 1)
    conv_num = (day_index - rng.integers(0, 3, size=n)).clip(0) * per_day + rng.integers(0, per_day, size=n)
    conv_type = rng.integers(0, len(_CONV_TYPES), size=n)
    ws_action = rng.integers(0, len(_WS_ACTIONS), size=n)
    failed = rng.random(n) < 0.03
    hashes = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    conv_types = pl.Series(_CONV_TYPES)
    ws_actions = pl.Series(_WS_ACTIONS)
    frame = pl.DataFrame(
        {
            "_n": np.arange(first_id, first_id + n),
            "_micros": micros,
            "_conv": is_conv,
            "_actor": actor_idx,
            "_conv_num": _scramble(conv_num),
            "_cust": _scramble(conv_num + 7_777_777) % np.uint64(500_000),
            "_action": np.where(
                is_conv, conv_types.gather(conv_type).to_numpy(), ws_actions.gather(ws_action).to_numpy()
            ),
            "_failed": failed,
            "_note": rng.integers(0, 1_000_000, size=n),
        }
    )
    digests = pa.FixedSizeBinaryArray.from_buffers(pa.binary(32), n, [None, pa.py_buffer(hashes.tobytes())])
    frame = frame.with_columns(pl.Series("_h", pl.from_arrow(digests)).cast(pl.Binary))
    frame = frame.join(actors.with_row_index("_actor").cast({"_actor": pl.Int64}), on="_actor", how="left")
    c = pl.col
    conv = c("_conv")
    conv_id = pl.concat_str(pl.lit("conv_"), c("_conv_num").cast(pl.String).str.zfill(13))
    customer = pl.concat_str(pl.lit("cus_"), c("_cust").cast(pl.String))
    ts = pl.lit(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)) + pl.duration(microseconds=c("_micros"))
    event_type = (
        pl.when(conv)
        .then(c("_action").replace_strict({k: v[0] for k, v in CONVERSATION_EVENT_TYPES.items()}, default=None))
        .otherwise(c("_action").replace_strict(dict(WORKSPACE_ACTIONS), default=None))
    )
    category = (
        pl.when(conv)
        .then(c("_action").replace_strict({k: v[1] for k, v in CONVERSATION_EVENT_TYPES.items()}, default=None))
        .otherwise(c("_action").replace_strict({a: _ws_category(a) for a in _WS_ACTIONS}, default=None))
    )
    has_note = c("_action").is_in(["note_added", "reassigned", "escalated", "auth.permission_changed"])
    reason = pl.when(has_note).then(pl.format("note {} about the customer's billing question", c("_note")))
    hash_hex = c("_h").bin.encode("hex")
    out = frame.select(
        event_id=pl.concat_str(pl.lit("evt_"), c("_n").cast(pl.String).str.zfill(12)),
        seq=pl.when(~conv).then(c("_n")),
        timestamp=ts,
        event_type=event_type,
        source_action=c("_action"),
        category=category,
        outcome=pl.when(conv)
        .then(pl.lit("success"))
        .when(c("_failed"))
        .then(pl.lit("failure"))
        .otherwise(pl.lit("success")),
        actor_type=c("actor_type"),
        actor_id=c("actor_id"),
        actor_name=c("actor_name"),
        actor_email=pl.when(conv).then(None).otherwise(c("actor_email")),
        actor_role=pl.when(conv).then(None).otherwise(c("actor_role")),
        ip=pl.format("198.51.{}.{}", c("_actor") % 256, c("_note") % 256),
        user_agent=pl.lit(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0 Safari/537.36"
        ),
        resource_type=pl.when(conv).then(pl.lit("conversation")).otherwise(pl.lit("workspace")),
        resource_id=pl.when(conv).then(conv_id).otherwise(pl.lit("ws_1")),
        conversation_id=pl.when(conv).then(conv_id),
        channel=pl.when(conv).then(pl.lit(["web", "email", "whatsapp", "slack", "api"]).list.get(c("_note") % 5)),
        subject_id=pl.when(conv).then(customer),
        subject_ids=pl.when(conv).then(pl.concat_list(customer)),
        reason=reason,
        before=pl.when(c("_action") == "claimed").then(pl.lit('{"assignee":null}')),
        after=pl.when(c("_action") == "claimed").then(pl.format('{{"assignee":"{}"}}', c("actor_id"))),
        record_count=pl.when(c("_action") == "data.conversations_exported").then(c("_note") % 5000),
        source=pl.when(conv).then(pl.lit("conversation")).otherwise(pl.lit("workspace")),
        source_file=pl.lit(f"/exports/{day.isoformat()}.ndjson"),
        source_line=c("_n") - first_id + 1,
        source_offset=(c("_n") - first_id) * 420,
        raw=pl.format(
            '{{"event_id":"{}","conversation_id":"{}","event_type":"{}","author":{{"kind":"{}","id":"{}",'
            '"name":"{}"}},"timestamp":"{}","reason":{},"ip_address":"198.51.100.1","channel":"web","customer_id":"{}"}}',
            pl.concat_str(pl.lit("evt_"), c("_n").cast(pl.String).str.zfill(12)),
            conv_id.fill_null(""),
            c("_action"),
            c("actor_type"),
            c("actor_id"),
            c("actor_name"),
            ts.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ"),
            pl.when(has_note).then(pl.format('"note {}"', c("_note"))).otherwise(pl.lit("null")),
            customer.fill_null(""),
        ),
        prev_hash=pl.when(~conv).then(hash_hex.shift(1, fill_value="0" * 64)),
        hash=pl.when(~conv).then(hash_hex),
        flags=pl.lit([], dtype=pl.List(pl.String)),
    )
    return out.cast(EVENT_SCHEMA)  # type: ignore[arg-type]


def build_stores(root: Path, total: int, seed: int, layouts: list[str], group_rows: int) -> dict[str, Path]:
    """Write the chosen layouts of the same events; returns layout -> store directory."""
    rng = np.random.default_rng(seed)
    actors = _actors(rng)
    stores = {name: root / name for name in layouts}
    for path in stores.values():
        (path / "events").mkdir(parents=True)
        (path / "ledger.json").write_text(json.dumps({"version": 1, "inputs": [], "fetches": []}))
    per_day = np.full(DAYS, total // DAYS)
    per_day[: total % DAYS] += 1
    first = 0
    for d, n in enumerate(per_day.tolist()):
        events = day_events(d, n, first, actors, seed)
        first += n
        date = (START + dt.timedelta(days=d)).isoformat()
        for name in layouts:
            order, groups = LAYOUTS[name]
            groups = group_rows if groups is not None else None
            target = stores[name] / "events" / f"event_date={date}"
            target.mkdir()
            events.sort(*order).write_parquet(
                target / f"part-{d:016x}.parquet", compression="zstd", statistics=True, row_group_size=groups
            )
        if (d + 1) % 10 == 0 or d + 1 == DAYS:
            print(f"  generated day {d + 1}/{DAYS} ({first:,} events)", file=sys.stderr, flush=True)
    return stores


def groups_admitting(store: Path, column: str, value: str) -> tuple[int, int]:
    """(row groups whose min/max admit ``value``, all row groups), from the footers only."""
    hit = total = 0
    for file in sorted((store / "events").glob("*/*.parquet")):
        meta = pq.ParquetFile(file).metadata
        idx = meta.schema.names.index(column)
        for g in range(meta.num_row_groups):
            total += 1
            st = meta.row_group(g).column(idx).statistics
            if st is not None and st.null_count == meta.row_group(g).num_rows:
                continue  # all null: no reader opens it for an equality
            if st is None or not st.has_min_max or st.min <= value <= st.max:
                hit += 1
    return hit, total


def timed(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    """Median of ``repeat`` runs after one warm-up run (the OS page cache is warm for all layouts alike)."""
    rows = fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        rows = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), rows


def naive_pandas(store: Path, column: str, value: str) -> int:
    """What a script without pushdown does: read every part file whole, filter, concatenate."""
    import pandas as pd

    hits = []
    for file in sorted((store / "events").glob("*/*.parquet")):
        frame = pd.read_parquet(file)
        hits.append(frame[frame[column] == value])
    return len(pd.concat(hits))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events in the store (default 10M)")
    parser.add_argument("--repeat", type=int, default=3, help="warm runs per query; the median is shown")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build the stores here and keep them (default: a temp dir)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive pandas baseline")
    parser.add_argument(
        "--row-group-rows",
        type=int,
        default=SMALL_GROUPS,
        help=f"rows per row group of the small-group layouts (default {SMALL_GROUPS:,})",
    )
    parser.add_argument(
        "--layouts",
        default=",".join(LAYOUTS),
        help=f"comma-separated, from {', '.join(LAYOUTS)} (first is the baseline)",
    )
    args = parser.parse_args(argv)
    layouts = [name.strip() for name in args.layouts.split(",") if name.strip()]
    unknown = sorted(set(layouts) - set(LAYOUTS))
    if unknown or not layouts:
        parser.error(f"unknown layouts {unknown}; choose from {', '.join(LAYOUTS)}")

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-search-"))
    try:
        start = time.perf_counter()
        if args.keep and all((root / name).is_dir() for name in layouts):
            stores = {name: root / name for name in layouts}
            print(f"reusing stores in {root}", file=sys.stderr)
        else:
            stores = build_stores(root, args.events, args.seed, layouts, args.row_group_rows)
        built = time.perf_counter() - start
        sizes = {n: sum(f.stat().st_size for f in (p / "events").glob("*/*.parquet")) for n, p in stores.items()}
        # A typical (not the busiest) actor and a conversation from the middle of the quarter.
        sample = pl.scan_parquet(str(stores[layouts[0]] / "events" / "*" / "*.parquet")).filter(
            pl.col("timestamp").dt.date() == START + dt.timedelta(days=DAYS // 2)
        )
        # the median id: not an extreme that min/max statistics would skip by luck
        ids = sample.select(pl.col("conversation_id").drop_nulls().unique().sort()).collect().to_series()
        conversation = ids[len(ids) // 2]
        counts = (
            sample.group_by("actor_id")
            .agg(pl.len(), pl.col("actor_email").drop_nulls().first())
            .drop_nulls("actor_email")
            .sort("len", "actor_id")
            .collect()
        )
        actor_id, _, actor_email = counts.row(counts.height // 2)
        print(
            f"store: {args.events:,} events over {DAYS} days; {len(layouts)} layouts built in {built:.0f} s (0 = reused) "
            f"({', '.join(f'{n} {s / 2**20:.0f} MiB' for n, s in sizes.items())})"
        )
        print(f"conversation {conversation}, actor {actor_id} / {actor_email}\n")
        header = f"{'layout':16} {'query':34} {'median s':>9} {'rows':>9} {'row groups admitted':>20}"
        print(header)
        print("-" * len(header))
        queries: list[tuple[str, Callable[[Path], int], tuple[str, str] | None]] = [
            (
                "one conversation",
                lambda s: search(s, conversation_id=conversation).collect().height,
                ("conversation_id", conversation),
            ),
            ("one author (actor id)", lambda s: search(s, author=actor_id).collect().height, ("actor_id", actor_id)),
            ("one author (e-mail)", lambda s: search(s, author=actor_email).collect().height, None),
            (
                "one conversation, one week",
                lambda s: (
                    search(
                        s,
                        conversation_id=conversation,
                        since=START + dt.timedelta(days=DAYS // 2 - 3),
                        until=START + dt.timedelta(days=DAYS // 2 + 3),
                    )
                    .collect()
                    .height
                ),
                None,
            ),
            ("full scan: text in notes", lambda s: search(s, text="NOTE 424242 ABOUT").collect().height, None),
            # The bare equality, without search()'s null handling and name/e-mail alternatives:
            # what the Parquet reader can prune with statistics at best.
            (
                "bare predicate: conversation_id ==",
                lambda s: scan_store(s).filter(pl.col("conversation_id") == conversation).collect().height,
                None,
            ),
            (
                "bare predicate: actor_id ==",
                lambda s: scan_store(s).filter(pl.col("actor_id") == actor_id).collect().height,
                None,
            ),
        ]
        for name, store in stores.items():
            for label, query, stat in queries:
                seconds, rows = timed(lambda q=query, s=store: q(s), args.repeat)  # type: ignore[misc]
                admitted = ""
                if stat is not None:
                    hit, total = groups_admitting(store, *stat)
                    admitted = f"{hit}/{total}"
                print(f"{name:16} {label:34} {seconds:9.3f} {rows:9,} {admitted:>20}", flush=True)
        if not args.no_naive:
            start = time.perf_counter()
            rows = naive_pandas(stores[layouts[0]], "conversation_id", conversation)
            seconds = time.perf_counter() - start
            print(
                f"{'writer':16} {'naive pandas: one conversation':34} {seconds:9.3f} {rows:9,} {'every file whole':>20}"
            )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
