"""Recomputing record hashes in bulk: the stored bytes when they are canonical, RFC 8785 when not.

The workspace chain defines ``hash = sha256(RFC 8785 canonical JSON of the record
without "hash")``. Re-serialising a million records through ``rfc8785`` takes minutes,
but a platform writes its log canonically, so the stored line *with its
``,"hash":"…"`` member cut out* already is those bytes. If SHA-256 of the cut bytes
equals the stored hash, the record is proven intact (a forger would need a SHA-256
collision). Only records where it does not match - modified ones, or lines that are
not canonical (pretty-printed, re-ordered keys, escaped differently) - take the slow
path: ``json.loads`` + ``rfc8785.dumps`` + SHA-256, which is the definition itself.

The fast path reads the records where Polars keeps them (its string-view buffers,
exported to Arrow without a copy) and compares the digests, hex-encoded in one call,
with the stored hashes in one comparison per chunk. With more than one core the
records are cut into chunks that this process and forked workers claim from a shared
counter until none are left (so a worker that starts late or a core that is busy with
something else does not leave the other waiting); the workers inherit the buffers
copy-on-write, touch nothing but ``hashlib`` and NumPy, and send back only the indexes
that did not match.
"""

from __future__ import annotations

import binascii
import hashlib
import itertools
import json
import multiprocessing
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import rfc8785

__all__ = ["canonical_hash", "recompute_content_ok"]

_NEEDLE = ',"hash":"'
_CUT = len(_NEEDLE) + 64 + 1  # ,"hash":"<64 hex>"
_CHUNKS_PER_PROCESS = 8  # chunks per hashing process: fine enough to balance, coarse enough to cost nothing

# What the forked workers inherit; set only while a bulk run is in progress.
_SHARED: dict[str, Any] = {}


def canonical_hash(record: dict[str, Any]) -> str:
    """The chain hash of one record by the definition: SHA-256 of RFC 8785 JSON without "hash"."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(rfc8785.dumps(body)).hexdigest()


@dataclass(frozen=True)
class _Spans:
    """Where each record's bytes are: data buffer, start and length (no copy of the records)."""

    buffers: list[memoryview]
    buffer_index: np.ndarray
    start: np.ndarray
    length: np.ndarray


def _record_spans(column: pl.Series) -> _Spans:
    """The byte span of every value of a string column, read from the buffers Polars already holds.

    Polars stores strings as views (16 bytes each: length, prefix, buffer index, offset)
    over shared data buffers; exported at the newest compatibility level they reach
    Arrow without a copy. Other layouts (offsets + one data buffer) are read too.
    Values of 12 bytes or fewer sit inside the view itself; their span is left empty
    (no record that short carries a hash, so they are never on the fast path).
    """
    arr = column.rechunk().to_arrow(compat_level=pl.CompatLevel.newest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    if pa.types.is_string_view(arr.type) or pa.types.is_binary_view(arr.type):
        views = np.frombuffer(arr.buffers()[1], dtype=np.int32).reshape(-1, 4)[arr.offset : arr.offset + n]
        length = views[:, 0].astype(np.int64)
        outline = length > 12
        return _Spans(
            buffers=[memoryview(b) for b in arr.buffers()[2:] if b is not None] or [memoryview(b"")],
            buffer_index=np.where(outline, views[:, 2], 0).astype(np.int64),
            start=np.where(outline, views[:, 3], 0).astype(np.int64),
            length=np.where(outline, length, 0),
        )
    if not (pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)):
        arr = arr.cast(pa.large_binary() if pa.types.is_binary(arr.type) else pa.large_string())
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    return _Spans(
        buffers=[memoryview(buffers[2]) if buffers[2] is not None else memoryview(b"")],
        buffer_index=np.zeros(n, dtype=np.int64),
        start=offsets[:-1].astype(np.int64),
        length=np.diff(offsets).astype(np.int64),
    )


def _mismatches(lo: int, hi: int) -> list[int]:
    """Indexes in [lo, hi) whose cut bytes do not hash to the stored hash (fast path).

    Per record: SHA-256 over the bytes before the ``"hash"`` member, updated with the
    bytes after it (two slices of the record's buffer, no copy). The digests are joined,
    hex-encoded in one call and compared with the stored hex in one comparison; only when
    that differs (a damaged chunk) are they compared record by record.
    """
    spans: _Spans = _SHARED["spans"]
    cut_at: np.ndarray = _SHARED["cut_at"][lo:hi]
    start = spans.start[lo:hi]
    head_end = start + cut_at
    tail_start = head_end + _CUT
    end = start + spans.length[lo:hi]
    which = spans.buffer_index[lo:hi]
    # Runs of records that live in the same data buffer (a few per million).
    runs = [0, *(np.flatnonzero(np.diff(which)) + 1).tolist(), hi - lo]
    sha = hashlib.sha256
    digests: list[bytes] = []
    append = digests.append
    for a, z in itertools.pairwise(runs):
        if a == z:
            continue
        data = spans.buffers[int(which[a])]
        for s, m, t, e in zip(
            start[a:z].tolist(), head_end[a:z].tolist(), tail_start[a:z].tolist(), end[a:z].tolist(), strict=True
        ):
            digest = sha(data[s:m])
            digest.update(data[t:e])
            append(digest.digest())
    hex_offsets: np.ndarray = _SHARED["hex_offsets"]
    hex_data: bytes = _SHARED["hex_data"]
    if binascii.hexlify(b"".join(digests)) == hex_data[int(hex_offsets[lo]) : int(hex_offsets[hi])]:
        return []
    bounds = hex_offsets[lo : hi + 1].tolist()
    return [lo + k for k, d in enumerate(digests) if binascii.hexlify(d) != hex_data[bounds[k] : bounds[k + 1]].lower()]


def _workers(requested: int) -> int:
    if requested > 0:
        return requested
    return max(1, min(os.cpu_count() or 1, 4))


def _hash_chunks(chunks: list[tuple[int, int]], claimed: Any, out: list[int]) -> list[int]:
    """Claim chunks from the shared counter and hash them until none are left; the chunk numbers done."""
    done: list[int] = []
    while True:
        with claimed.get_lock():
            k = claimed.value
            claimed.value = k + 1
        if k >= len(chunks):
            return done
        out.extend(_mismatches(*chunks[k]))
        done.append(k)


def _worker_main(chunks: list[tuple[int, int]], claimed: Any, conn: Any) -> None:
    """A forked worker: hash what it can claim, send (chunks done, mismatching indexes)."""
    bad: list[int] = []
    done = _hash_chunks(chunks, claimed, bad)
    conn.send((done, bad))
    conn.close()


def _hash_in_parallel(n: int, procs: int) -> list[int]:
    """Mismatching indexes, hashed by this process and ``procs - 1`` forked workers together."""
    size = max(1, -(-n // (procs * _CHUNKS_PER_PROCESS)))
    chunks = [(lo, min(lo + size, n)) for lo in range(0, n, size)]
    ctx = multiprocessing.get_context("fork")
    try:
        claimed = ctx.Value("q", 0)
    except OSError:  # no shared memory for the counter (a locked-down sandbox): hash here
        return _mismatches(0, n)
    workers = []
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a multi-threaded process may deadlock the child;
        # the workers run no threads and take no locks but the counter's (created here).
        warnings.simplefilter("ignore", DeprecationWarning)
        for _ in range(procs - 1):
            receive, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_worker_main, args=(chunks, claimed, send), daemon=True)
            try:
                proc.start()
            except OSError:  # cannot fork (process limit, memory): the processes running do it all
                receive.close()
                send.close()
                break
            send.close()
            workers.append((proc, receive))
    bad: list[int] = []
    done = set(_hash_chunks(chunks, claimed, bad))
    for proc, receive in workers:
        try:
            their_done, their_bad = receive.recv()
        except (EOFError, OSError):
            their_done, their_bad = [], []  # the worker died: its chunks are redone below
        finally:
            receive.close()
            proc.join()
        done.update(their_done)
        bad.extend(their_bad)
    for k in sorted(set(range(len(chunks))) - done):
        bad.extend(_mismatches(*chunks[k]))
    return bad


def _fast_path(raw: pl.Series, stored: pl.Series, *, workers: int, parallel_threshold: int) -> list[int]:
    """Indexes whose stored bytes, cut, do not reproduce the stored hash."""
    n = raw.len()
    spans = _record_spans(raw)
    cut_at = raw.str.find(_NEEDLE, literal=True).fill_null(-1).cast(pl.Int64).to_numpy()
    hex_column = stored.cast(pl.String).to_arrow()
    if isinstance(hex_column, pa.ChunkedArray):
        hex_column = hex_column.combine_chunks()
    hex_column = hex_column.cast(pa.large_string())
    hex_buffers = hex_column.buffers()
    hex_offsets = np.frombuffer(hex_buffers[1], dtype=np.int64)[hex_column.offset : hex_column.offset + n + 1]
    # One plain copy (64 bytes a record): comparing bytes with bytes is a memcmp, while
    # Arrow's memoryviews (format "b") would be compared element by element.
    hex_data = hex_buffers[2].to_pybytes() if hex_buffers[2] is not None else b""
    # Not on the fast path: no "hash" member where one can be cut, or a stored hash that
    # is not 64 characters. Their spans are emptied (hashed as b"") and they go to the slow
    # path whatever their digest.
    off_path = (cut_at < 0) | (spans.length < cut_at + _CUT) | (np.diff(hex_offsets) != 64)
    not_cuttable = np.flatnonzero(off_path).tolist()
    if not_cuttable:
        cut_at = np.where(off_path, 0, cut_at)
        spans = _Spans(
            spans.buffers,
            spans.buffer_index,
            np.where(off_path, 0, spans.start),
            np.where(off_path, _CUT, spans.length),  # an empty head and an empty tail
        )
    _SHARED.update(spans=spans, cut_at=cut_at, hex_offsets=hex_offsets, hex_data=hex_data)
    try:
        procs = min(_workers(workers), max(1, n // 1000))
        if procs > 1 and n >= parallel_threshold and sys.platform != "win32":
            bad = _hash_in_parallel(n, procs)
        else:
            bad = _mismatches(0, n)
    finally:
        _SHARED.clear()
    return sorted(set(bad) | set(not_cuttable))


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
