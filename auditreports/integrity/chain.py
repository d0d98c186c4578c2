"""The hash chain of a log: is every record intact, and does every record link to the one before?

Two independent facts per record, both computed in bulk:

- *content*: the record still hashes to its own stored ``hash`` (see :mod:`.hashing`);
- *link*: its ``prev_hash`` equals the stored ``hash`` of the record physically before it.

Where a link is broken the stored hashes say what happened, because every record
names its true predecessor: ``prev_hash`` is looked up among all stored hashes
(a join, not a loop) and the shape of the damage classifies the break:

- **modified**: a record no longer hashes to its own hash (links intact) - or a record
  whose hash was recomputed, so nothing links to it and its successor's predecessor
  is nowhere while the sequence runs on without a hole;
- **deleted**: a record's predecessor is nowhere in the log (a hole; the sequence
  says how many records are missing);
- **inserted**: extra records whose removal restores the chain, whatever their own
  stored hash (a copy of a genuine record carries its hash without hashing to it, so
  the genuine record is the one that "holds" that hash); or a record spliced in whose
  successor's ``prev_hash`` was re-pointed at it (the successor hashes again with its
  ``prev_hash`` set back); records that verify are never named;
- **reordered**: predecessors exist but elsewhere (records moved); one break per
  contiguous run of broken links, naming the records out of place;
- **truncated** / **discontinuity**: the first or last record does not meet the
  previous manifest's chain head.

Verification re-anchors on the next intact link after every break, so one break
never hides another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from .hashing import recompute_content_ok
from .model import Break, Unverified
from .settings import IntegritySettings

__all__ = ["GENESIS", "ChainReport", "physical_order", "verify_chain"]

GENESIS = "0" * 64
CHECK = "hash_chain"


@dataclass
class ChainReport:
    """Breaks and gaps in checking of one chained source, and where its chain ends."""

    breaks: list[Break] = field(default_factory=list)
    unverified: list[Unverified] = field(default_factory=list)
    footprint: set[int] = field(default_factory=set)  # positions explained by a chain break
    head: dict[str, Any] = field(default_factory=dict)
    first: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)


def physical_order(events: pl.DataFrame) -> pl.DataFrame:
    """Rows in the order the platform wrote them, with a 0-based ``position``.

    Files are taken in sequence order (by their lowest ``seq``, then name), lines in
    file order; rows without a file (API pages) by ``seq`` and id.
    """
    file_rank = (
        events.group_by("source_file")
        .agg(pl.col("seq").min().alias("_file_seq"))
        .sort(["_file_seq", "source_file"], nulls_last=True)
        .with_row_index("_file_rank")
        .select("source_file", "_file_rank")
    )
    return (
        events.join(file_rank, on="source_file", how="left", nulls_equal=True)
        .sort(["_file_rank", "source_line", "seq", "event_id"], nulls_last=True)
        .drop("_file_rank")
        .with_row_index("position")
        .with_columns(pl.col("position").cast(pl.Int64))
    )


def _row(frame: pl.DataFrame, position: int) -> dict[str, Any]:
    return frame.row(position, named=True)


def _where(row: dict[str, Any]) -> str:
    seq = f"seq {row['seq']}" if row.get("seq") is not None else "no seq"
    return f"{row['event_id']} ({seq})"


def _content(
    ordered: pl.DataFrame, report: ChainReport, *, settings: IntegritySettings, content_checkable: pl.Series | None
) -> tuple[pl.Series, dict[int, str]]:
    """Whether each record of ``ordered`` (with its ``raw``) hashes to its stored hash, and why not."""
    n = ordered.height
    json_rows = ordered.select(pl.col("raw").str.starts_with("{").fill_null(False)).to_series()
    if not json_rows.all():  # rare: leading whitespace, or rows that are not JSON (CSV) - look closer
        json_rows = ordered.select(pl.col("raw").str.contains(r"^\s*\{").fill_null(False)).to_series()
    if content_checkable is not None:
        json_rows = json_rows & content_checkable
    idx = ordered.select(pl.arg_where(json_rows)).to_series()
    every_row = idx.len() == n  # the usual case: no gather (a copy of every record) needed
    ok_sub, why_sub, stats = recompute_content_ok(
        ordered["raw"] if every_row else ordered["raw"].gather(idx),
        ordered["hash"] if every_row else ordered["hash"].gather(idx),
        workers=settings.hash_workers,
        parallel_threshold=settings.parallel_threshold,
    )
    report.stats = {**stats, "records": n, "not_json": n - idx.len()}
    if every_row:
        why = dict(why_sub)
        content_ok = ok_sub
    else:
        index_list = idx.to_list()
        why = {index_list[k]: v for k, v in why_sub.items()}
        content_ok = pl.select(pl.repeat(True, n, dtype=pl.Boolean)).to_series().alias("content_ok")
        content_ok = content_ok.scatter(idx, ok_sub) if idx.len() else content_ok
    return content_ok, why


def verify_chain(
    ordered: pl.DataFrame,
    *,
    source: str,
    settings: IntegritySettings,
    previous_head: dict[str, Any] | None = None,
    content_checkable: pl.Series | None = None,
    modified_elsewhere: dict[int, str] | None = None,
) -> ChainReport:
    """Check content and links of one chained source given in :func:`physical_order`.

    ``content_checkable`` marks rows whose ``raw`` is the JSON record (CSV rows are
    checked by :mod:`.csv_rebuild`; those found modified come in ``modified_elsewhere``,
    position -> why).
    """
    report = ChainReport()
    n = ordered.height
    if n == 0:
        return report
    if "content_ok" in ordered.columns:
        # verify() checked every record against its own hash while reading the log in
        # batches (a fact of the row alone), so the records need not be held here.
        checkable = ordered["json_record"] & (content_checkable if content_checkable is not None else True)
        content_ok = ordered["content_ok"] | ~checkable
        failed = ordered.select(pl.arg_where(~content_ok)).to_series().to_list()
        reasons = ordered["content_why"].gather(failed).to_list() if failed else []
        why = {pos: r or "the record does not hash to its stored hash" for pos, r in zip(failed, reasons, strict=True)}
        content_ok = content_ok.alias("content_ok")
        report.stats = {"records": n, "not_json": n - int(checkable.sum())}
    else:
        content_ok, why = _content(ordered, report, settings=settings, content_checkable=content_checkable)
    if modified_elsewhere:
        content_ok = content_ok.scatter(list(modified_elsewhere), False)
        why.update(modified_elsewhere)

    frame = ordered.select(
        "position", "event_id", "seq", "prev_hash", "hash", "source_file", "source_line"
    ).with_columns(content_ok)
    link_ok = (pl.col("prev_hash") == pl.col("hash").shift(1)).fill_null(False)
    broken = frame.filter(~link_ok & (pl.col("position") > 0))["position"].to_list()
    failed = frame.filter(~pl.col("content_ok"))["position"].to_list()
    classify_breaks(report, HeldChain(ordered, frame, broken), broken, failed, why, n=n, source=source)
    _check_anchor(frame, report, source=source, previous_head=previous_head)
    finish(report, _row(frame, 0), _row(frame, n - 1), n)
    return report


def finish(report: ChainReport, first_row: dict[str, Any], last: dict[str, Any], n: int) -> None:
    """Where the chain starts and ends, and the breaks in log order."""
    report.head = {"hash": last["hash"], "seq": last["seq"], "event_id": last["event_id"], "position": n - 1}
    report.first = {"prev_hash": first_row["prev_hash"], "seq": first_row["seq"], "event_id": first_row["event_id"]}
    if report.stats.get("not_json"):
        report.stats["links_only"] = report.stats["not_json"]
    report.breaks.sort(key=lambda b: (b.position if b.position is not None else -1, b.kind))


class ChainLinks(Protocol):
    """What the classification of breaks reads of a chain, one position at a time.

    ``pred``: the position of the record holding a record's ``prev_hash`` (None if no record
    does); ``has_successor``: something links to the record, and it is the record that link
    means (it holds its hash). Both are asked only of a chain with a broken link.
    :class:`HeldChain` answers from the source held whole; :mod:`.damaged` from the rows
    around the breaks, read a run of files at a time.
    """

    def row(self, pos: int) -> dict[str, Any]: ...

    def value(self, column: str, pos: int) -> Any: ...

    def pred(self, pos: int) -> int | None: ...

    def has_successor(self, pos: int) -> bool | None: ...

    def any_successor(self, start: int, stop: int) -> bool: ...

    def raw(self, pos: int) -> str | None: ...


class HeldChain:
    """:class:`ChainLinks` of a source held whole: one join over every stored hash."""

    def __init__(self, ordered: pl.DataFrame, frame: pl.DataFrame, broken: list[int]) -> None:
        self.ordered = ordered
        if broken:
            # Only a damaged chain needs to know, for every record, where its true predecessor
            # is and whether anything links to it: a join over all stored hashes.
            # The holder of a hash is the record that carries it *and* hashes to it (a forged
            # copy of a record carries its hash without hashing to it); only if no record
            # proves it, the first that carries it.
            holders = (
                frame.sort([pl.col("content_ok").not_(), pl.col("position")])
                .unique(subset="hash", keep="first", maintain_order=True)
                .select(pl.col("hash"), pl.col("position").alias("_holder"))
            )
            linked_to = frame.select(pl.col("prev_hash").drop_nulls().unique()).to_series()
            frame = (
                frame.join(holders.rename({"hash": "prev_hash", "_holder": "pred"}), on="prev_hash", how="left",
                           maintain_order="left")
                .join(holders, on="hash", how="left", maintain_order="left")
                .with_columns(
                    # Something links to this record - and it is the record that link means.
                    has_successor=pl.col("hash").is_in(linked_to.implode())
                    & (pl.col("_holder") == pl.col("position"))
                )
                .drop("_holder")
            )  # fmt: skip
        self.frame = frame
        # Read one value at a time near each break (a Series indexed by position gives the Python
        # value, None for null): as Python lists they cost ~36 bytes a record of the whole source.
        empty = pl.Series([], dtype=pl.Int64)
        self._pred = frame["pred"] if broken else empty
        self._has_succ = frame["has_successor"] if broken else empty

    def row(self, pos: int) -> dict[str, Any]:
        return _row(self.frame, pos)

    def value(self, column: str, pos: int) -> Any:
        return self.frame[column][pos]

    def pred(self, pos: int) -> int | None:
        p = self._pred[pos]
        return None if p is None else int(p)

    def has_successor(self, pos: int) -> bool | None:
        value = self._has_succ[pos]
        return None if value is None else bool(value)

    def any_successor(self, start: int, stop: int) -> bool:
        return bool(self._has_succ.slice(start, stop - start).any())

    def raw(self, pos: int) -> str | None:
        value = self.ordered["raw"][pos]
        return None if value is None else str(value)


def classify_breaks(
    report: ChainReport,
    chain: ChainLinks,
    broken: list[int],
    failed: list[int],
    why: dict[int, str],
    *,
    n: int,
    source: str,
) -> None:
    """Name the kind of each break of a chain of ``n`` records: its ``broken`` links (positions whose
    ``prev_hash`` is not the hash of the record before) and ``failed`` records (that do not hash to
    their own hash), both ascending.
    """
    row, pred, has_succ, any_succ = chain.row, chain.pred, chain.has_successor, chain.any_successor
    failed_set = set(failed)

    def seqs(pos: int) -> Any:
        return chain.value("seq", pos)

    def ok_list(pos: int) -> bool:
        return pos not in failed_set

    reported_modified: set[int] = set()

    def add(kind: str, pos: int, detail: str, involved: list[int], footprint: range | list[int], **extra: Any) -> None:
        at = row(pos)
        report.breaks.append(
            Break(
                kind=kind,
                check=CHECK,
                event_id=at["event_id"],
                position=pos,
                detail=detail,
                source=source,
                event_ids=tuple(row(p)["event_id"] for p in involved),
                source_file=at["source_file"],
                source_line=at["source_line"],
                extra=extra,
            )
        )
        report.footprint.update(footprint)

    broken_set = set(broken)
    consumed: set[int] = set()
    for i in broken:
        if i in consumed:
            continue
        p = pred(i)
        prev_seq, this_seq = seqs(i - 1), seqs(i)
        if p is None and i >= 1 and chain.value("prev_hash", i) == chain.value("prev_hash", 0) and not any_succ(0, i):
            p = -1  # the records before it were spliced in ahead of the log's first genuine record
        forged = []
        if p is not None and p < i - 1:
            # Copies of one genuine record all name its predecessor: the last of the run is the genuine one.
            j = i
            while j + 1 in broken_set and pred(j + 1) == p:
                j += 1
            if not (j > p + 1 and any_succ(p + 1, j)):
                forged, i = list(range(p + 1, j)), j
        if not forged and p is not None and p >= 0:
            # The extra records may come after their original: the next record that links to
            # the one before them shows where they end.
            for m in range(i + 1, min(n, i + _RELINK_LOOKBACK + 1)):
                if has_succ(m - 1):
                    break
                if pred(m) == i - 1:
                    forged, i = list(range(i, m)), m
                    break
        if forged:
            # Removing these records restores the chain, and nothing (that means them) links
            # to them: they are extra, whatever their own stored hash says.
            p = forged[0] - 1
            consumed.update([*forged, i])
            reported_modified.update(forged)
            copies = [k for k in forged if not ok_list(k)]
            how = (
                f"; {len(copies)} of them carr{'y' if len(copies) != 1 else 'ies'} a hash that is not its own "
                "(a copy of a genuine record's hash)"
                if copies
                else ""
            )
            after = "the log's chain anchor" if p < 0 else _where(row(p))
            add(
                "inserted",
                p + 1,
                f"{len(forged)} record{'s' if len(forged) != 1 else ''} spliced in: "
                f"{', '.join(_where(row(k)) for k in forged[:5])}{' …' if len(forged) > 5 else ''}; "
                f"without {'them' if len(forged) != 1 else 'it'} the chain is intact: {_where(row(i))} "
                f"still links to {after}{how}",
                forged,
                range(p + 1, i + 1),
            )
            continue
        if p is None or p < 0:
            rehashed = (
                not has_succ(i - 1)
                and ok_list(i - 1)
                and prev_seq is not None
                and this_seq is not None
                and this_seq == prev_seq + 1
            )
            if rehashed:
                reported_modified.add(i - 1)
                add(
                    "modified",
                    i - 1,
                    f"{_where(row(i - 1))} was rewritten with a recomputed hash: nothing links to it and "
                    f"{_where(row(i))} links to a hash that is nowhere in the log",
                    [i - 1],
                    [i - 1, i],
                )
                continue
            missing = this_seq - prev_seq - 1 if prev_seq is not None and this_seq is not None else None
            if missing is not None and missing > 0:
                what = (
                    f"{missing} record{'s' if missing != 1 else ''} (sequence {prev_seq + 1}"
                    f"{f'-{this_seq - 1}' if missing > 1 else ''}) removed before this one"
                )
            else:
                what = "one or more records removed before this one (the sequence does not say how many)"
            add(
                "deleted",
                i,
                f"{what}: its prev_hash {chain.value('prev_hash', i)[:16]}… is the hash of no record in the log; "
                f"the record before it is {_where(row(i - 1))}",
                [i],
                [i],
                missing_records=missing,
                missing_sequence=list(range(prev_seq + 1, this_seq)) if missing and missing <= 1000 else None,
            )
            continue
        j = i
        while j + 1 in broken_set and pred(j + 1) is not None:
            j += 1
        consumed.update(range(i, j + 1))
        moved = list(range(i, j)) if j > i else [i]
        first, nxt = row(moved[0]), row(moved[0] + 1) if moved[0] + 1 < n else None
        if len(moved) == 2 and nxt is not None:
            detail = f"sequence {first['seq']} stored before {nxt['seq']} ({nxt['event_id']})"
        else:
            detail = f"{len(moved)} record(s) out of chain order from {_where(first)}"
        add(
            "reordered",
            moved[0],
            detail + f"; {_where(first)} links to the record at position {p}",
            moved,
            range(i, j + 1),
        )

    for pos in failed:
        if pos in reported_modified:
            continue
        back = _relinked_over(chain, pos) if pos >= 2 else None
        if back is not None and not (set(range(pos - back + 1, pos)) & (reported_modified | consumed)):
            # Its content is intact but for prev_hash, which once named the record ``back``
            # places before it: the records in between were spliced in and it was re-linked.
            forged = list(range(pos - back + 1, pos))
            reported_modified.update([*forged, pos])
            add(
                "inserted",
                forged[0],
                f"{len(forged)} record{'s' if len(forged) != 1 else ''} spliced in: "
                f"{', '.join(_where(row(k)) for k in forged[:5])}{' …' if len(forged) > 5 else ''}; "
                f"the genuine record after {'them' if len(forged) != 1 else 'it'}, {_where(row(pos))}, had its "
                f"prev_hash re-pointed at the forgery: with prev_hash set back to the hash of "
                f"{_where(row(pos - back))} it hashes to its stored hash again, so nothing else in it changed",
                forged,
                range(forged[0], pos + 1),
                relinked_event_id=row(pos)["event_id"],
            )
            continue
        at = row(pos)
        add(
            "modified",
            pos,
            f"{_where(at)}: {why.get(pos, 'the record does not hash to its stored hash')}; hash left unchanged",
            [pos],
            [pos],
        )


_RELINK_LOOKBACK = 16  # how many records back a re-linked successor's true predecessor is looked for


def _relinked_over(chain: ChainLinks, pos: int) -> int | None:
    """``k`` (>= 2) when the record at ``pos`` hashes to its stored hash with ``prev_hash`` set to
    the hash of the record ``k`` places before it - it was re-linked over ``k - 1`` inserted records.

    Only records that fail their own hash get here (a handful), so the slow definition is fine.
    """
    import json

    from .hashing import canonical_hash

    try:
        record = json.loads(chain.raw(pos) or "")
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("hash"), str) or "prev_hash" not in record:
        return None
    for k in range(2, min(pos, _RELINK_LOOKBACK) + 1):
        candidate = chain.value("hash", pos - k)
        if candidate is None or candidate == record["prev_hash"]:
            continue
        try:
            if canonical_hash({**record, "prev_hash": candidate}) == record["hash"]:
                return k
        except (TypeError, ValueError):
            return None
    return None


def _check_anchor(
    frame: pl.DataFrame, report: ChainReport, *, source: str, previous_head: dict[str, Any] | None
) -> None:
    """Where the chain starts: genesis, the previous manifest's head, or (unprovable) somewhere earlier."""
    first = _row(frame, 0)
    last = _row(frame, frame.height - 1)
    if previous_head is None:
        if first["prev_hash"] != GENESIS:
            report.unverified.append(
                Unverified(
                    CHECK,
                    f"the first record {_where(first)} links to a record before this log "
                    f"(prev_hash {str(first['prev_hash'])[:16]}…); without the previous period's manifest "
                    "(--previous-manifest) the start of the chain, and any deletion just before it, cannot be checked",
                    source=source,
                    events=1,
                )
            )
        return
    head_hash, head_seq = previous_head.get("hash"), previous_head.get("seq")
    if first["prev_hash"] == head_hash and (head_seq is None or first["seq"] == head_seq + 1):
        return
    where_head = frame.filter(pl.col("hash") == head_hash)
    if where_head.height:
        # The previous manifest is an earlier look at this same log: its head must still be in it.
        found = where_head.row(0, named=True)
        if head_seq is not None and found["seq"] != head_seq:
            report.breaks.append(
                Break("discontinuity", CHECK, found["event_id"], found["position"],
                      f"the previous manifest's head hash is stored at sequence {found['seq']}, not {head_seq}",
                      source=source)
            )  # fmt: skip
        return
    same_log = (
        previous_head.get("first_event_id") is not None
        and frame.filter(pl.col("event_id") == previous_head["first_event_id"]).height > 0
    )
    if same_log and head_seq is not None and last["seq"] is not None:
        if head_seq > last["seq"]:
            report.breaks.append(
                Break("truncated", CHECK, last["event_id"], last["position"],
                      f"the log ends at {_where(last)} but the previous manifest attested the chain up to sequence "
                      f"{head_seq} (hash {str(head_hash)[:16]}…): {head_seq - last['seq']} record(s) at the tail are gone",
                      source=source, extra={"expected_last_seq": head_seq})
            )  # fmt: skip
        else:
            report.breaks.append(
                Break("modified", CHECK, None, None,
                      f"the previous manifest's head (sequence {head_seq}, hash {str(head_hash)[:16]}…) is not in this "
                      "log although its sequence is: that record was changed or removed",
                      source=source)
            )  # fmt: skip
        return
    expected = f"prev_hash {str(head_hash)[:16]}…" + (f" and sequence {head_seq + 1}" if head_seq is not None else "")
    report.breaks.append(
        Break(
            "discontinuity",
            CHECK,
            first["event_id"],
            0,
            f"this log does not continue from the previous manifest's chain head: its first record {_where(first)} "
            f"has prev_hash {str(first['prev_hash'])[:16]}…, expected {expected}",
            source=source,
            source_file=first["source_file"],
            source_line=first["source_line"],
            extra={"expected_prev_hash": head_hash, "expected_seq": None if head_seq is None else head_seq + 1},
        )
    )
