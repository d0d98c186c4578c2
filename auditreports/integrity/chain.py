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
- **inserted**: a record's predecessor sits two or more places back and the records
  between are linked to by nothing (forged records spliced in);
- **reordered**: predecessors exist but elsewhere (records moved); one break per
  contiguous run of broken links, naming the records out of place;
- **truncated** / **discontinuity**: the first or last record does not meet the
  previous manifest's chain head.

Verification re-anchors on the next intact link after every break, so one break
never hides another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    if modified_elsewhere:
        content_ok = content_ok.scatter(list(modified_elsewhere), False)
        why.update(modified_elsewhere)

    frame = ordered.select(
        "position", "event_id", "seq", "prev_hash", "hash", "source_file", "source_line"
    ).with_columns(content_ok)
    link_ok = (pl.col("prev_hash") == pl.col("hash").shift(1)).fill_null(False)
    broken = frame.filter(~link_ok & (pl.col("position") > 0))["position"].to_list()
    if broken:
        # Only a damaged chain needs to know, for every record, where its true predecessor
        # is and whether anything links to it: a join over all stored hashes.
        first_index = frame.unique(subset="hash", keep="first", maintain_order=True).select(
            pl.col("hash").alias("prev_hash"), pl.col("position").alias("pred")
        )
        linked_to = frame.select(pl.col("prev_hash").drop_nulls().unique()).to_series()
        frame = frame.join(first_index, on="prev_hash", how="left", maintain_order="left").with_columns(
            has_successor=pl.col("hash").is_in(linked_to.implode())
        )
    pred = frame["pred"].to_list() if broken else []
    has_succ = frame["has_successor"].to_list() if broken else []
    seqs = frame["seq"].to_list() if broken else []
    ok_list = frame["content_ok"].to_list() if broken else []

    reported_modified: set[int] = set()

    def add(kind: str, pos: int, detail: str, involved: list[int], footprint: range | list[int], **extra: Any) -> None:
        row = _row(frame, pos)
        report.breaks.append(
            Break(
                kind=kind,
                check=CHECK,
                event_id=row["event_id"],
                position=pos,
                detail=detail,
                source=source,
                event_ids=tuple(_row(frame, p)["event_id"] for p in involved),
                source_file=row["source_file"],
                source_line=row["source_line"],
                extra=extra,
            )
        )
        report.footprint.update(footprint)

    broken_set = set(broken)
    consumed: set[int] = set()
    for i in broken:
        if i in consumed:
            continue
        p = pred[i]
        prev_seq, this_seq = seqs[i - 1], seqs[i]
        if p is None:
            rehashed = (
                not has_succ[i - 1]
                and ok_list[i - 1]
                and prev_seq is not None
                and this_seq is not None
                and this_seq == prev_seq + 1
            )
            if rehashed:
                reported_modified.add(i - 1)
                add(
                    "modified",
                    i - 1,
                    f"{_where(_row(frame, i - 1))} was rewritten with a recomputed hash: nothing links to it and "
                    f"{_where(_row(frame, i))} links to a hash that is nowhere in the log",
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
                f"{what}: its prev_hash {frame['prev_hash'][i][:16]}… is the hash of no record in the log; "
                f"the record before it is {_where(_row(frame, i - 1))}",
                [i],
                [i],
                missing_records=missing,
                missing_sequence=list(range(prev_seq + 1, this_seq)) if missing and missing <= 1000 else None,
            )
            continue
        if p < i - 1 and all(not has_succ[k] for k in range(p + 1, i)):
            forged = list(range(p + 1, i))
            consumed.update(forged)
            add(
                "inserted",
                p + 1,
                f"{len(forged)} record{'s' if len(forged) != 1 else ''} spliced in: "
                f"{', '.join(_where(_row(frame, k)) for k in forged[:5])}{' …' if len(forged) > 5 else ''} "
                f"{'are' if len(forged) != 1 else 'is'} linked to by nothing; {_where(_row(frame, i))} still links to "
                f"{_where(_row(frame, p))}",
                forged,
                range(p + 1, i + 1),
            )
            continue
        j = i
        while j + 1 in broken_set and pred[j + 1] is not None:
            j += 1
        consumed.update(range(i, j + 1))
        moved = list(range(i, j)) if j > i else [i]
        first, nxt = _row(frame, moved[0]), _row(frame, moved[0] + 1) if moved[0] + 1 < n else None
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

    for pos in frame.filter(~pl.col("content_ok"))["position"].to_list():
        if pos not in reported_modified:
            row = _row(frame, pos)
            add(
                "modified",
                pos,
                f"{_where(row)}: {why.get(pos, 'the record does not hash to its stored hash')}; hash left unchanged",
                [pos],
                [pos],
            )

    _check_anchor(frame, report, source=source, previous_head=previous_head)
    last = _row(frame, n - 1)
    first_row = _row(frame, 0)
    report.head = {"hash": last["hash"], "seq": last["seq"], "event_id": last["event_id"], "position": n - 1}
    report.first = {"prev_hash": first_row["prev_hash"], "seq": first_row["seq"], "event_id": first_row["event_id"]}
    if report.stats.get("not_json"):
        report.stats["links_only"] = report.stats["not_json"]
    report.breaks.sort(key=lambda b: (b.position if b.position is not None else -1, b.kind))
    return report


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
