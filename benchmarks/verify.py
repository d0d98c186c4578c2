"""Benchmark: hash-chain verification of 1M workspace events, beside the naive one-record-at-a-time loop.

Run on demand (not in the test suite)::

    .venv/bin/python benchmarks/verify.py                    # 1,000,000 events, naive loop on 100,000
    .venv/bin/python benchmarks/verify.py --events 200000 --naive 20000

The chain is generated the way the platform writes it (canonical JSON lines, SHA-256
over the record without "hash", each record linking to the one before). Measured in
the same run:

- ``naive``: per record ``json.loads`` + ``rfc8785.dumps`` without "hash" + ``hashlib``
  + a link comparison, in a Python loop - the obvious implementation. Timed on
  ``--naive`` records and scaled linearly to ``--events`` (it is linear; says so).
- ``SHA-256 alone``: one ``hashlib.sha256(b).digest()`` per record over bytes already
  cut out, on one core - the floor any Python verifier pays (timed on ``--naive``, scaled).
- ``verify_chain`` with one process and with all cores: content (fast path over the
  stored bytes, RFC 8785 only where that fails) and links (a Polars join).
- ``verify``: everything - chain, sequence, duplicate ids, coverage rhythm.

The machine is shared; every figure is the best of ``--repeat`` runs, and the load
average is printed before and after: quote figures only from a quiet run.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import polars as pl
import rfc8785

from auditreports.integrity import GENESIS, IntegritySettings, Verification, physical_order, verify, verify_chain
from auditreports.schema import conform

T = TypeVar("T")
START = datetime(2026, 7, 1, tzinfo=UTC)
ACTIONS = ("auth.login_succeeded", "data.conversation_viewed", "integration.api_call", "config.model_settings_updated")


def generate(n: int) -> pl.DataFrame:
    """``n`` chained canonical records as canonical events (raw = the stored line)."""
    lines, hashes, prevs = [], [], []
    prev = GENESIS
    sha = hashlib.sha256
    step = timedelta(seconds=7)
    for i in range(n):
        stamp = (START + step * i).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        # Keys in RFC 8785 order; values ASCII without floats, so this text is the canonical form.
        head = (
            f'{{"action":"{ACTIONS[i % 4]}","actor":{{"email":"u{i % 97}@acme.example","id":"usr_{i % 97}",'
            f'"name":"User {i % 97}","role":"agent","type":"user"}},"category":"data_access",'
            f'"details":{{"after":null,"before":null,"reason":null,"record_count":null,"subject_ids":["cus_{i % 5000}"]}}'
        )
        tail = (
            f',"id":"evt_{i:012d}","ip_address":"198.51.100.{i % 250}","occurred_at":"{stamp}","outcome":"success",'
            f'"prev_hash":"{prev}","resource":{{"id":"conv_{i % 9000}","type":"conversation"}},"sequence":{i + 1},'
            f'"user_agent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/141.0"}}'
        )
        digest = sha((head + tail).encode()).hexdigest()
        lines.append(f'{head},"hash":"{digest}"{tail}')
        hashes.append(digest)
        prevs.append(prev)
        prev = digest
    return conform(
        pl.DataFrame(
            {
                "raw": lines,
                "hash": hashes,
                "prev_hash": prevs,
                "seq": pl.int_range(1, n + 1, eager=True),
                "source_line": pl.int_range(1, n + 1, eager=True),
            }
        ).with_columns(
            event_id=pl.format("evt_{}", (pl.col("seq") - 1).cast(pl.String).str.pad_start(12, "0")),
            timestamp=pl.lit(START) + pl.duration(seconds=(pl.col("seq") - 1) * 7),
            event_type=pl.lit("data.conversation.view"),
            source=pl.lit("workspace"),
            source_file=pl.lit("workspace-audit.ndjson"),
        )
    ).collect()


def naive(lines: list[str]) -> int:
    """The obvious loop: parse, canonicalise without "hash", SHA-256, compare, check the link."""
    bad = 0
    prev = GENESIS
    for line in lines:
        record = json.loads(line)
        stored = record.pop("hash")
        if hashlib.sha256(rfc8785.dumps(record)).hexdigest() != stored or record["prev_hash"] != prev:
            bad += 1
        prev = stored
    return bad


def best(fn: Callable[[], T], repeat: int) -> tuple[float, T]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--naive", type=int, default=100_000, help="records the naive loop is timed on (then scaled)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.events

    t = time.perf_counter()
    events = generate(n)
    print(f"generated {n:,} chained events in {time.perf_counter() - t:.1f} s; {os.cpu_count()} CPU cores")
    print(f"load average before timing: {_load()}")
    ordered = physical_order(events)
    sample = events["raw"].head(args.naive).to_list()
    rows: list[tuple[str, float, str]] = []

    naive_s, bad = best(lambda: naive(sample), 1)
    assert bad == 0
    naive_full = naive_s * n / len(sample)
    rows.append((f"naive loop (json + rfc8785 + hashlib), timed on {len(sample):,}, scaled", naive_full, "scaled"))

    # The floor for any Python verifier: one hashlib call pair per record over bytes already
    # cut out (no slicing, no comparison), on one core.
    cut = [line.encode().replace(f',"hash":"{json.loads(line)["hash"]}"'.encode(), b"", 1) for line in sample]
    floor_s, _ = best(lambda: [hashlib.sha256(b).digest() for b in cut], args.repeat)
    rows.append(("SHA-256 alone (hashlib per cut record), 1 core, scaled", floor_s * n / len(cut), "scaled"))

    for label, settings in (
        ("verify_chain, 1 process", IntegritySettings(hash_workers=1)),
        ("verify_chain, all cores", IntegritySettings(hash_workers=0, parallel_threshold=1)),
    ):
        secs, report = best(
            functools.partial(verify_chain, ordered, source="workspace", settings=settings), args.repeat
        )
        assert not report.breaks, report.breaks[:3]
        rows.append((label, secs, "measured"))

    def verify_all() -> Verification:
        return verify(events, as_of=START + timedelta(days=120))

    secs, result = best(verify_all, args.repeat)
    assert result.check_verdict("hash_chain") == "VERIFIED", result.to_dict()["unverified"]
    rows.append(("verify (chain + sequence + coverage)", secs, "measured"))

    tampered = ordered.with_columns(
        pl.when(pl.col("seq") == n // 2)
        .then(pl.col("raw").str.replace('"success"', '"failure"'))
        .otherwise("raw")
        .alias("raw")
    )
    secs, report = best(lambda: verify_chain(tampered, source="workspace", settings=IntegritySettings()), args.repeat)
    assert [b.kind for b in report.breaks] == ["modified"]
    rows.append(("verify_chain, one modified record", secs, "measured"))

    print(f"\n{'what':<62} {'seconds':>9} {'events/s':>12} {'vs naive':>9}")
    for label, secs, how in rows:
        print(f"{label:<62} {secs:>9.2f} {n / secs:>12,.0f} {naive_full / secs:>8.1f}x  ({how})")
    print(f"\nbest of {args.repeat} runs each; load average after timing: {_load()}")


def _load() -> str:
    """The 1/5/15-minute load average: figures are only comparable when it is low."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
