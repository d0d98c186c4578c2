"""Recomputing record hashes in bulk: the stored bytes when they are canonical, RFC 8785 when not.

The workspace chain defines ``hash = sha256(RFC 8785 canonical JSON of the record
without "hash")``. Re-serialising a million records through ``rfc8785`` takes minutes,
but a platform writes its log canonically, so the stored line *with its
``,"hash":"…"`` member cut out* already is those bytes. If SHA-256 of the cut bytes
equals the stored hash, the record is proven intact (a forger would need a SHA-256
collision). Only records where it does not match - modified ones, or lines that are
not canonical (pretty-printed, re-ordered keys, escaped differently) - take the slow
path: ``json.loads`` + ``rfc8785.dumps`` + SHA-256, which is the definition itself.

The fast path hands Arrow buffers (no per-record Python objects) to the workers; with
more than one core the records are split between this process and forked workers
that inherit the buffers copy-on-write and return only the indexes that mismatched.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import rfc8785

__all__ = ["canonical_hash", "recompute_content_ok"]

_NEEDLE = ',"hash":"'
_CUT = len(_NEEDLE) + 64 + 1  # ,"hash":"<64 hex>"

# Buffers the forked workers inherit; set only while a bulk run is in progress.
_SHARED: dict[str, Any] = {}


def canonical_hash(record: dict[str, Any]) -> str:
    """The chain hash of one record by the definition: SHA-256 of RFC 8785 JSON without "hash"."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def _mismatches(lo: int, hi: int) -> list[int]:
    """Indexes in [lo, hi) whose cut bytes do not hash to the stored hash (fast path).

    The digests are joined and compared with the expected bytes in one comparison; only
    when that differs (a damaged chunk) are they compared record by record.
    """
    offsets = _SHARED["offsets"][lo : hi + 1].tolist()
    cut_at = _SHARED["cut_at"][lo:hi].tolist()
    data = _SHARED["data"]
    sha = hashlib.sha256
    digests: list[bytes] = []
    append = digests.append
    for k in range(hi - lo):
        start = offsets[k]
        at = cut_at[k]
        if at < 0:
            append(b"")
            continue
        digest = sha(data[start : start + at])
        digest.update(data[start + at + _CUT : offsets[k + 1]])
        append(digest.digest())
    expected = _SHARED["expected"]
    if b"".join(digests) == expected[lo * 32 : hi * 32]:
        return []
    return [lo + k for k, d in enumerate(digests) if d != expected[(lo + k) * 32 : (lo + k) * 32 + 32]]


def _workers(requested: int) -> int:
    if requested > 0:
        return requested
    return max(1, min(os.cpu_count() or 1, 4))


def _binary_buffers(column: pl.Series) -> tuple[np.ndarray, memoryview]:
    """Offsets and data buffer of a string or binary column (one copy, out of Polars' string views)."""
    arr = column.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type not in (pa.large_binary(), pa.large_string()):
        arr = arr.cast(
            pa.large_binary()
            if pa.types.is_binary(arr.type) or pa.types.is_binary_view(arr.type)
            else pa.large_string()
        )
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = memoryview(buffers[2]) if buffers[2] is not None else memoryview(b"")
    return offsets, data


def _fast_path(raw: pl.Series, stored: pl.Series, *, workers: int, parallel_threshold: int) -> list[int]:
    """Indexes whose stored bytes, cut, do not reproduce the stored hash."""
    n = raw.len()
    zero = b"\x00" * 32
    frame = pl.DataFrame({"raw": raw, "hash": stored}).select(
        "raw",
        pl.col("raw").str.find(_NEEDLE, literal=True).cast(pl.Int64).fill_null(-1).alias("cut_at"),
        pl.col("hash").str.decode("hex", strict=False).alias("expected"),
    )
    frame = frame.with_columns(
        bad_hash=pl.col("expected").is_null() | (pl.col("expected").bin.size() != 32),
    ).with_columns(pl.when(pl.col("bad_hash")).then(pl.lit(zero)).otherwise(pl.col("expected")).alias("expected"))
    exp_offsets, exp_data = _binary_buffers(frame["expected"])
    expected = bytes(exp_data[int(exp_offsets[0]) : int(exp_offsets[-1])])
    offsets, data = _binary_buffers(frame["raw"])
    cut_at = frame["cut_at"].to_numpy()
    not_hex = np.flatnonzero(frame["bad_hash"].to_numpy()).tolist()
    _SHARED.update(offsets=offsets, data=data, expected=expected, cut_at=cut_at)
    try:
        procs = _workers(workers)
        if procs > 1 and n >= parallel_threshold and sys.platform != "win32":
            bounds = np.linspace(0, n, procs + 1).astype(int).tolist()
            ctx = multiprocessing.get_context("fork")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with ProcessPoolExecutor(procs - 1, mp_context=ctx) as pool:
                    futures = [pool.submit(_mismatches, bounds[k], bounds[k + 1]) for k in range(1, procs)]
                    bad = _mismatches(bounds[0], bounds[1])
                    for fut in futures:
                        bad.extend(fut.result())
        else:
            bad = _mismatches(0, n)
    finally:
        _SHARED.clear()
    return sorted(set(bad) | set(not_hex))


def _slow_check(raw: str) -> tuple[bool, str | None]:
    """(intact, why not) by the definition, for one record the fast path could not prove."""
    try:
        record = json.loads(raw)
    except ValueError:
        return False, "the stored record is not valid JSON"
    if not isinstance(record, dict):
        return False, "the stored record is not a JSON object"
    stored = record.get("hash")
    if not isinstance(stored, str):
        return False, 'the stored record has no "hash" member'
    try:
        recomputed = canonical_hash(record)
    except (rfc8785.CanonicalizationError, ValueError, TypeError) as exc:
        return False, f"the record cannot be canonicalised (RFC 8785): {exc}"
    if recomputed != stored:
        return False, f"the record hashes to {recomputed[:16]}… but stores {stored[:16]}…"
    return True, None


def recompute_content_ok(
    raw: pl.Series, stored: pl.Series, *, workers: int = 0, parallel_threshold: int = 200_000
) -> tuple[pl.Series, dict[int, str], dict[str, int]]:
    """Whether each JSON record still hashes to its stored hash.

    Returns ``(ok, why, stats)``: ``ok`` a boolean Series aligned with ``raw``;
    ``why`` maps the index of each record that is not intact to one sentence;
    ``stats`` counts records proven by the fast path and by the slow path.
    """
    n = raw.len()
    ok = np.ones(n, dtype=bool)
    why: dict[int, str] = {}
    suspects = _fast_path(raw, stored, workers=workers, parallel_threshold=parallel_threshold) if n else []
    raws = raw.gather(suspects).to_list() if suspects else []
    for index, text in zip(suspects, raws, strict=True):
        intact, reason = _slow_check(text or "")
        if not intact:
            ok[index] = False
            why[index] = reason or "the record does not hash to its stored hash"
    stats = {"fast_path": n - len(suspects), "slow_path": len(suspects)}
    return pl.Series("content_ok", ok), why, stats
