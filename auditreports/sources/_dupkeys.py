"""Duplicate JSON keys: found the same way in every path, and never resolved silently.

JSON allows an object to name a key twice, and parsers disagree on which value wins
(Polars keeps the first, Python's ``json`` the last). For evidence that is an
ambiguity, not a detail: a record that names a key twice in any object is
quarantined with a reason naming the key and where it is, whether it came from a
file or an API page.

The API client and the loaders' per-record passes (a file whose one-call parse failed,
a pretty-printed array, a saved API page) parse every record with a hook that marks
them; the one-call fast path of a clean file runs :func:`duplicate_key_records`, which
parses one record per shape (below; docs/ingestion.md, "Duplicate keys").
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

__all__ = [
    "DuplicateKeys",
    "duplicate_key_reason",
    "duplicate_key_records",
    "loads_keeping_duplicates",
    "object_pairs_marking_duplicates",
]


class DuplicateKeys(dict):  # type: ignore[type-arg]
    """A decoded object that (or some object inside it) named a key twice: ``where`` lists them."""

    where: list[str]


def object_pairs_marking_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A ``json`` ``object_pairs_hook``: a plain dict, or :class:`DuplicateKeys` when a key repeats here or inside."""
    seen: set[str] = set()
    found: list[str] = []
    for key, value in pairs:
        if key in seen:
            found.append(repr(key))
        seen.add(key)
        if isinstance(value, DuplicateKeys):
            found.extend(f"{w} in {key!r}" for w in value.where)
        elif isinstance(value, list):
            found.extend(w for v in value if isinstance(v, DuplicateKeys) for w in v.where)
    if not found:
        return dict(pairs)
    out = DuplicateKeys(pairs)
    out.where = found
    return out


def loads_keeping_duplicates(text: str | bytes) -> Any:
    """``json.loads``, except that an object naming a key twice comes back as :class:`DuplicateKeys`.

    The outermost object carries every duplicate found inside it (``where``), so an API
    client can hand the record on and the mapper can quarantine it.
    """
    return json.loads(text, object_pairs_hook=object_pairs_marking_duplicates)


def duplicate_key_reason(value: Any) -> str | None:
    """The quarantine reason for a decoded record that named a key twice, or None."""
    if isinstance(value, DuplicateKeys):
        return (
            f"the record names {', '.join(value.where[:3])} twice"
            + (f" (and {len(value.where) - 3} more)" if len(value.where) > 3 else "")
            + "; which value is meant is ambiguous (parsers disagree), so it is quarantined"
        )
    return None


# --------------------------------------------------------------------------- the fast path's check
#
# A clean file is parsed by Polars in one call, and Polars keeps the first of two values
# silently. Parsing every record again in Python would cost several times the parse, and
# no per-line filter on key names can tell a repeat from the legitimate reuse of a name in
# another object (``actor.id`` and ``resource.id``). What numpy can read from the bytes is
# a record's *shape*: the sequence of its keys and braces. Machine-written logs have few
# shapes, and whether a record names a key twice depends on its shape alone, so one record
# of each shape is parsed in Python, and only the records of a shape that repeats a name
# (or might) are parsed one by one.
#
# - A key ends where ``"`` is followed by ``:``. Its code is the up to 8 bytes of its name
#   before the closing quote (back to the opening quote). Two different names can share a
#   code (``ip_address``, ``mac_address``): the Python parse of the shape's first record
#   then reports "two names with one code in one object" and every record of that shape is
#   parsed itself.
# - A ``{`` counts only as the record's first or right after ``":`` (a key's value), and a
#   record's ``{`` and ``}`` must balance. A record holding a brace anywhere else (inside a
#   string, an array of objects), a backslash anywhere, a colon after whitespace, or a
#   ``":`` right after ``:``, ``,``, ``[``, ``{`` or ``"`` (a string that starts with a
#   colon) is parsed in Python: in every other record each ``":`` is a key's end and
#   every brace is structure.
# - The shape is a polynomial hash of the token codes in order, keyed with random numbers
#   drawn per process, so an input cannot be crafted to share a shape it does not have.

_U64 = np.uint64
_QUOTES = _U64(0x2222222222222222)
_LOW7 = _U64(0x7F7F7F7F7F7F7F7F)
_HIGH = _U64(0x8080808080808080)
_RANDOM = [_U64(int.from_bytes(secrets.token_bytes(8), "little") | 1) for _ in range(4)]
_FLAGS = bytes((1 if c in b" \t\r\n" else 0) | (2 if c in b' \t\r\n\\:,[{"' else 0) for c in range(256))


def _name_codes(data: bytes, keyend: np.ndarray) -> np.ndarray:
    """The last (up to) 8 bytes of each key name before its closing quote at ``keyend``, as one word."""
    words = np.ndarray(shape=(len(data) - 7,), dtype="<u8", buffer=data, offset=0, strides=(1,))
    w = words[keyend - 8]
    x = w ^ _QUOTES
    quotes = ~((((x & _LOW7) + _LOW7) | x) & _HIGH) & _HIGH  # high bit of each quote byte
    quotes |= quotes >> _U64(8)
    quotes |= quotes >> _U64(16)
    quotes |= quotes >> _U64(32)
    return w & ~((quotes >> _U64(7)) * _U64(0xFF))  # the bytes above the opening quote


def name_code(name: str) -> int:
    """:func:`_name_codes` for a decoded name (the same bytes when the record has no escapes)."""
    tail = name.encode("utf-8")[-8:]
    return int.from_bytes(tail.rjust(8, b"\0"), "little")


def duplicate_key_records(data: bytes, starts: np.ndarray, text: Callable[[int], str]) -> list[tuple[int, str]]:
    """``(index, reason)`` of each record in ``data`` that names a key twice.

    Record ``i`` is ``data[starts[i]:starts[i + 1]]``; the records are JSON objects a
    one-call parse accepted. ``text(i)`` is record ``i``'s text for a Python parse. See
    above for why the result is the same as parsing every record in Python. The bytes are
    read in slices of about 16 MB (whole records), so the check's memory stays small.
    """
    nrec = len(starts)
    if nrec == 0:
        return []
    if len(data) < 64:
        return _reasons(range(nrec), text)
    starts = np.asarray(starts, dtype=np.int64)
    suspect = np.zeros(nrec, dtype=bool)
    shape = np.zeros(nrec, dtype=np.uint64)
    view = memoryview(data)
    first = 0
    while first < nrec:
        last = int(np.searchsorted(starts, starts[first] + _SLICE, "right"))
        last = max(last, first + 1)
        begin, end = int(starts[first]), int(starts[last]) if last < nrec else len(data)
        chunk = bytes(view[begin:end]) if (begin, end) != (0, len(data)) else data
        suspect[first:last], shape[first:last] = _shapes(chunk, starts[first:last] - begin)
        first = last
    careful = set(np.flatnonzero(suspect).tolist())
    plain = np.flatnonzero(~suspect)
    if len(plain):
        shapes, first_of = np.unique(shape[plain], return_index=True)
        unclear = [
            s for s, i in zip(shapes.tolist(), first_of.tolist(), strict=True) if _codes_repeat(text(int(plain[i])))
        ]
        if unclear:
            careful.update(plain[np.isin(shape[plain], np.array(unclear, dtype=np.uint64))].tolist())
    return _reasons(sorted(careful), text)


_SLICE = 16 << 20


def _shapes(data: bytes, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per record of ``data`` (starting at ``starts``, the first at 0): (parse it in Python?, its shape)."""
    nrec = len(starts)
    b = np.frombuffer(data, dtype=np.uint8)
    n = len(b)
    if n < 16:
        return np.ones(nrec, dtype=bool), np.zeros(nrec, dtype=np.uint64)
    # Whole-buffer comparisons (sequential, cheap) rather than gathers at each hit, into two
    # scratch arrays: a fresh array per step costs more in page faults than the comparison.
    one, two = np.empty(n, dtype=bool), np.empty(n, dtype=bool)
    flags = np.frombuffer(data.translate(_FLAGS), dtype=np.uint8)  # 1: whitespace, 2: unsure before a key end
    np.equal(b, 0x3A, out=one)  # colons
    np.equal(b, 0x22, out=two)  # quotes
    np.logical_and(two[:-1], one[1:], out=two[:-1])  # ``":``: at the closing quote of each key
    two[-1] = False
    key_end = two
    scratch = one.view(np.uint8)
    marks = [np.flatnonzero(b == 0x5C)]  # a backslash anywhere: escapes make names and quotes unsure
    np.bitwise_and(flags[:-1], 1, out=scratch[:-1])
    np.logical_and(one[:-1], b[1:] == 0x3A, out=one[:-1])
    one[-1] = False
    marks.append(np.flatnonzero(one))  # a colon after whitespace
    np.bitwise_and(flags[:-2], 2, out=scratch[:-2])
    np.right_shift(scratch[:-2], 1, out=scratch[:-2])  # 0 or 1: a bool array must hold nothing else
    np.logical_and(one[:-2], key_end[1:-1], out=one[:-2])
    one[-2:] = False
    marks.append(np.flatnonzero(one))  # ``":`` right after \\ : , [ { " or whitespace
    np.equal(b, 0x7B, out=one)
    opens = np.flatnonzero(one)
    np.logical_or(key_end, one, out=key_end)
    np.equal(b, 0x7D, out=one)
    closes = np.flatnonzero(one)
    np.logical_or(key_end, one, out=key_end)
    pos = np.flatnonzero(key_end)  # every token (key end or brace), in order
    del one, two, key_end, scratch

    def record_of(positions: np.ndarray) -> np.ndarray:
        return np.searchsorted(starts, positions, "right") - 1

    open_rec, close_rec = record_of(opens), record_of(closes)
    suspect = np.bincount(open_rec + 1, minlength=nrec + 1)[1:] != np.bincount(close_rec + 1, minlength=nrec + 1)[1:]
    first = np.ones(len(opens), dtype=bool)
    first[1:] = open_rec[1:] != open_rec[:-1]
    p = np.maximum(opens - 1, 1)
    p = np.where(flags[p] & 1, np.maximum(p - 1, 1), p)
    after_key = (b[p] == 0x3A) & (b[p - 1] == 0x22)
    odd = open_rec[~(first | after_key)]
    suspect[odd[odd >= 0]] = True

    # Each record's shape: a polynomial hash of its tokens (keys and braces) in order.
    kind = b[pos]
    is_key = kind == 0x22
    keyend = pos[is_key]
    marks.append(keyend[keyend < 9])
    marked = record_of(np.concatenate(marks))
    suspect[marked[marked >= 0]] = True
    tokens = np.where(kind == 0x7B, _RANDOM[1], _RANDOM[2])
    tokens[is_key] = _name_codes(data, np.maximum(keyend, 8)) * _RANDOM[0]
    bounds = np.searchsorted(pos, starts)
    counts = np.diff(np.append(bounds, len(pos)))
    shape = np.zeros(nrec, dtype=np.uint64)
    if len(pos):
        rank = np.arange(len(pos), dtype=np.int64) - np.repeat(bounds, counts)
        powers = np.cumprod(np.full(int(counts.max()), _RANDOM[3], dtype=np.uint64))
        sums = np.add.reduceat(tokens * powers[rank], np.minimum(bounds, len(pos) - 1))
        shape = np.where(counts > 0, sums, _U64(0))
    return suspect, shape


def _reasons(indices: Iterable[int], text: Callable[[int], str]) -> list[tuple[int, str]]:
    out = []
    for i in indices:
        try:
            reason = duplicate_key_reason(loads_keeping_duplicates(text(i)))
        except (ValueError, RecursionError):
            continue  # not JSON after all: the caller's own checks say why
        if reason:
            out.append((i, reason))
    return out


def _codes_repeat(text: str) -> bool:
    """Whether some object of this record names two keys with one code (the same name, or one 8-byte tail)."""
    found = False

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        codes = [name_code(k) for k, _ in pairs]
        found = found or len(set(codes)) != len(codes)
        return {}

    try:
        json.loads(text, object_pairs_hook=hook)
    except (ValueError, RecursionError):
        return True
    return found
