"""A damaged chain classified in bounded memory: only the rows its breaks can involve are held.

The classification of breaks (:func:`~.chain.classify_breaks`) asks, near each break, where a
record's true predecessor is (the *holder* of its ``prev_hash``: the record that carries that
hash and hashes to it, else the first that carries it) and whether anything links to a record.
Held whole, that is a join over every stored hash (~0.8 GB per million events). Here:

1. The first pass over a source's runs (:mod:`.bounded`) notes each broken link and each record
   that fails its own hash (with its reason and stored record), and keeps the chain columns of
   the rows around them (:class:`Damage`, the window the classification reads: the record
   before a break and the ``_RELINK_LOOKBACK`` after it; the records a re-linked successor
   may skip back over), across run boundaries.
2. The classification runs on what is known (:class:`_Known`). What it asks and is not known
   yet - the holders of some hashes, whether anything links to some records, rows far from a
   break (a reordered record's predecessor, a forged copy in another run) - is noted, and a
   provisional answer given so it can go on and note the rest.
3. A pass over the runs reads only the chain columns and keeps only what was asked: the rows
   at those positions, every record carrying one of the hashes asked (so the holder is the
   log's), and which of those hashes some ``prev_hash`` names (``prev_hash.is_in(...)``).
   Then 2 again, until the classification runs without a question: every answer it used was
   the log's, so its breaks are exactly those of the source held whole.

What is held grows with the breaks (a few dozen rows each), not with the source. A pass is
one read of the chain columns; a typical damaged log needs one or two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import polars as pl

from .chain import _RELINK_LOOKBACK, ChainReport, _check_anchor, classify_breaks, finish

__all__ = ["Damage", "classify_damage"]

_WINDOW = _RELINK_LOOKBACK
# Records looked at first when the classification asks whether anything links to a range of them
# (a run of records none of which is linked to is rare: the next look is twice as far).
_RANGE_STEP = 32
_ROW_SCHEMA = {
    "position": pl.Int64(), "event_id": pl.String(), "seq": pl.Int64(), "prev_hash": pl.String(),
    "hash": pl.String(), "source_file": pl.String(), "source_line": pl.Int64(),
}  # fmt: skip
_COLUMNS = tuple(_ROW_SCHEMA)

Runs = Callable[[], Iterator[pl.DataFrame]]  # a source's runs in the period: the chain columns, with position


class Damage:
    """What the first pass found of a chain's breaks, and the rows around them (see the module docstring)."""

    def __init__(self) -> None:
        self.broken: list[int] = []  # positions whose prev_hash is not the hash of the record before
        self.failed: list[int] = []  # positions of records that do not hash to their own hash
        self.why: dict[int, str] = {}
        self.raws: dict[int, str | None] = {}  # the stored records that fail (the re-link check reads them)
        self.rows: dict[int, dict[str, Any]] = {}
        self._tail: list[dict[str, Any]] = []  # the last rows read, for a break early in the next run
        self._reach = -1  # rows up to this position are wanted (a break late in the run before)

    @property
    def found(self) -> bool:
        return bool(self.broken or self.failed)

    def take(self, rows: pl.DataFrame, links: pl.Series, failed: pl.Series, facts: pl.DataFrame) -> None:
        """One run: ``rows`` (the chain columns, with position), whether each links to the record
        before it, whether it fails its own hash, and its facts (``content_why``, ``raw``)."""
        broken = [] if links.all() else rows.filter(~links)["position"].to_list()
        bad: list[int] = []
        if failed.any():
            at = pl.DataFrame({"position": rows["position"], "why": facts["content_why"], "raw": facts["raw"]})
            for pos, why, raw in at.filter(failed).iter_rows():
                bad.append(pos)
                self.why[pos] = why or "the record does not hash to its stored hash"
                self.raws[pos] = raw
        self.broken += broken
        self.failed += bad
        want: set[int] = set()
        for i in broken:
            want.update(range(i - 1, i + _WINDOW + 1))
        for pos in bad:
            want.update(range(pos - _WINDOW, pos + 2))
        if want or (rows.height and self._reach >= rows["position"][0]):
            for row in self._tail:
                if row["position"] in want:
                    self.rows[row["position"]] = row
            which = pl.col("position").is_in(pl.Series(sorted(want), dtype=pl.Int64).implode())
            for row in rows.filter(which | (pl.col("position") <= self._reach)).select(_COLUMNS).iter_rows(named=True):
                self.rows[row["position"]] = row
            self._reach = max(self._reach, max(want, default=-1))
        self._tail = (self._tail + rows.tail(_WINDOW + 1).select(_COLUMNS).to_dicts())[-(_WINDOW + 1) :]


class _Known:
    """:class:`~.chain.ChainLinks` from what has been read; what is not known yet is noted and answered provisionally."""

    def __init__(self, damage: Damage, n: int) -> None:
        self.n = n
        self.rows = damage.rows
        self.raws = damage.raws
        self.failed = set(damage.failed)
        self.carriers: dict[str, list[int]] = {}  # hash -> positions of every record carrying it
        self.linked_asked: set[str] = set()  # hashes looked for among every prev_hash
        self.linked: set[str] = set()  # ... and found there
        self.want_rows: set[int] = set()
        self.want_pred: set[int] = set()
        self.want_succ: set[int] = set()

    @property
    def asking(self) -> bool:
        return bool(self.want_rows or self.want_pred or self.want_succ)

    def _known_row(self, pos: int) -> dict[str, Any] | None:
        if not 0 <= pos < self.n:
            raise IndexError(f"position {pos} is outside the chain of {self.n} records")
        return self.rows.get(pos)

    def row(self, pos: int) -> dict[str, Any]:
        found = self._known_row(pos)
        if found is None:
            self.want_rows.add(pos)
            return {"position": pos, "event_id": "", "seq": None, "prev_hash": "", "hash": "", "source_file": None,
                    "source_line": None}  # fmt: skip
        return found

    def value(self, column: str, pos: int) -> Any:
        return self.row(pos)[column]

    def raw(self, pos: int) -> str | None:
        return self.raws.get(pos)

    def _holder(self, digest: str) -> int | None:
        carriers = self.carriers[digest]
        proven = [p for p in carriers if p not in self.failed]
        return min(proven) if proven else min(carriers) if carriers else None

    def pred(self, pos: int) -> int | None:
        found = self._known_row(pos)
        digest = None if found is None else found["prev_hash"]
        if found is not None and digest is None:
            return None
        if digest is None or digest not in self.carriers:
            self.want_pred.add(pos)
            return None
        return self._holder(digest)

    def _succ(self, pos: int) -> bool | None:
        """Whether something links to the record (None: not known yet)."""
        found = self._known_row(pos)
        digest = None if found is None else found["hash"]
        if found is not None and digest is None:
            return False
        if digest is None or digest not in self.carriers or digest not in self.linked_asked:
            return None
        return digest in self.linked and self._holder(digest) == pos

    def has_successor(self, pos: int) -> bool | None:
        known = self._succ(pos)
        if known is None:
            self.want_succ.add(pos)
            return True
        return known

    def any_successor(self, start: int, stop: int) -> bool:
        for k in range(start, stop):
            known = self._succ(k)
            if known is None:
                self.want_succ.update(range(k, min(stop, k + max(_RANGE_STEP, k - start))))
                return True
            if known:
                return True
        return False

    def fetch(self, runs: Runs, *, hashes: set[str] | None = None, ids: set[str] | None = None) -> list[dict[str, Any]]:
        """Read what was asked (and the carriers of ``hashes``, the rows of ``ids``); the rows with those ids."""
        found_ids: list[dict[str, Any]] = []
        carriers, ids = set(hashes or ()), set(ids or ())
        while True:
            positions = {p for p in self.want_rows | self.want_pred | self.want_succ if p not in self.rows}
            linked: set[str] = set()
            for p in self.want_pred - positions:
                digest = self.rows[p]["prev_hash"]
                if digest is not None and digest not in self.carriers:
                    carriers.add(digest)
            for p in self.want_succ - positions:
                digest = self.rows[p]["hash"]
                if digest is not None and (digest not in self.carriers or digest not in self.linked_asked):
                    carriers.add(digest)
                    linked.add(digest)
            carriers -= set(self.carriers)
            if not (positions or carriers or linked or ids):
                break
            found_ids += self._pass(runs, positions, carriers, linked, ids)
            ids = set()
            carriers = set()
        self.want_rows.clear()
        self.want_pred.clear()
        self.want_succ.clear()
        return found_ids

    def _pass(
        self, runs: Runs, positions: set[int], carriers: set[str], linked: set[str], ids: set[str]
    ) -> list[dict[str, Any]]:
        """One read of the chain columns, keeping the rows at ``positions``, carrying ``carriers`` or with ``ids``."""
        at = pl.Series(sorted(positions), dtype=pl.Int64).implode()
        carrying = pl.Series(sorted(carriers), dtype=pl.String).implode()
        naming = pl.Series(sorted(linked), dtype=pl.String).implode()
        with_id = pl.Series(sorted(ids), dtype=pl.String).implode()
        found: dict[str, list[int]] = {digest: [] for digest in carriers}
        found_ids: list[dict[str, Any]] = []
        for part in runs():
            if linked:
                self.linked.update(part.filter(pl.col("prev_hash").is_in(naming))["prev_hash"].unique().to_list())
            hits = part.filter(
                pl.col("position").is_in(at) | pl.col("hash").is_in(carrying) | pl.col("event_id").is_in(with_id)
            ).select(_COLUMNS)
            for row in hits.iter_rows(named=True):
                self.rows[row["position"]] = row
                if row["hash"] in found:
                    found[row["hash"]].append(row["position"])
                if row["event_id"] in ids:
                    found_ids.append(row)
        missing = positions - set(self.rows)
        if missing:
            raise RuntimeError(f"the log changed while it was verified: no record at position {min(missing)}")
        self.carriers.update(found)
        self.linked_asked |= linked
        return found_ids


def classify_damage(
    damage: Damage,
    runs: Runs,
    *,
    n: int,
    first: dict[str, Any],
    last: dict[str, Any],
    source: str,
    previous_head: dict[str, Any] | None,
) -> ChainReport:
    """The chain report of a source of ``n`` records in the period, as :func:`~.chain.verify_chain` gives it
    for the source held whole (``first``/``last``: its first and last rows; ``runs``: a new read of it)."""
    known = _Known(damage, n)
    known.rows.setdefault(0, first)
    known.rows.setdefault(n - 1, last)
    # What the classification reads near every broken link, asked at once (one pass, not one per question).
    for i in damage.broken:
        known.want_pred.update(range(i, min(n, i + _WINDOW + 1)))
        known.want_succ.update(range(i - 1, min(n, i + _WINDOW)))
    head_hash, head_id, lookups = _anchor_lookups(first, previous_head)
    found_ids = known.fetch(runs, hashes=lookups, ids={head_id} if head_id is not None else set())
    while True:
        report = ChainReport()
        classify_breaks(report, known, damage.broken, damage.failed, damage.why, n=n, source=source)
        if not known.asking:
            break
        known.fetch(runs)
    anchor = {0, n - 1, *known.carriers.get(head_hash or "", []), *(row["position"] for row in found_ids)}
    frame = pl.DataFrame([known.rows[p] for p in sorted(anchor)], schema=_ROW_SCHEMA)
    _check_anchor(frame, report, source=source, previous_head=previous_head)
    finish(report, first, last, n)
    return report


def _anchor_lookups(
    first: dict[str, Any], previous_head: dict[str, Any] | None
) -> tuple[str | None, str | None, set[str]]:
    """What :func:`~.chain._check_anchor` looks for in the log when the first record does not continue the anchor:
    the records carrying the anchor's hash, and whether the previous manifest's first record is there."""
    if previous_head is None:
        return None, None, set()
    head_hash, head_seq = previous_head.get("hash"), previous_head.get("seq")
    if first["prev_hash"] == head_hash and (head_seq is None or first["seq"] == head_seq + 1):
        return None, None, set()
    first_id = previous_head.get("first_event_id")
    return head_hash, first_id, {head_hash} if head_hash is not None else set()
