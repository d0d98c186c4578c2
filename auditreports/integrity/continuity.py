"""Conversation continuity: replaying each conversation's states to prove nothing is missing or invented.

The conversation log has no hash chain, but every state change carries the keys it
changes with their previous value (``before``) and the new one (``after``), and
``created`` carries the full initial state. Replaying a conversation is therefore a
proof of continuity: each event's ``before`` must equal what the events before it
left. A removed or forged state change breaks that equality (it cannot remove a
``note_added``, which changes no state - so continuity is PARTIAL evidence, not a
chain). The replay is vectorised: per state key, the value each event leaves is
forward-filled over the conversation and shifted one event, then compared.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import polars as pl

from .model import Break, Unverified
from .settings import IntegritySettings

__all__ = ["STATE_KEYS", "carried_over", "conversation_breaks"]

CHECK = "continuity"
STATE_KEYS = ("status", "assignee", "priority", "tags", "escalated")
_NULL = "\u0000null"  # a JSON null as a value (distinct from "key absent", which is a Polars null)

# (event type, statuses it cannot follow, why)
_CANNOT_FOLLOW: tuple[tuple[str | None, tuple[str, ...], str], ...] = (
    ("wakened", ("open", "resolved", "deleted", "archived"), "wakened but was not snoozed"),
    ("resolved", ("resolved",), "resolved twice without being reopened"),
    ("reopened", ("open", "snoozed", "deleted", "archived"), "reopened but was not resolved"),
    ("snoozed", ("snoozed",), "snoozed while already snoozed"),
)


def _key_value(column: str, key: str) -> pl.Expr:
    present = pl.col(column).str.contains(f'"{key}"\\s*:').fill_null(False)
    value = pl.col(column).str.json_path_match(f"$.{key}")
    return pl.when(present).then(value.fill_null(_NULL)).otherwise(None)


def _shown(value: str | None) -> str:
    return "null" if value == _NULL else str(value)


def conversation_breaks(
    ordered: pl.DataFrame, *, source: str, settings: IntegritySettings, log_start: Any = None
) -> tuple[list[Break], list[Unverified], dict[str, int]]:
    """Replay every conversation of one source; breaks, unverifiable conversations and counts.

    ``log_start``: when the log starts (its first conversation event), where ``ordered`` holds
    only some of its conversations (a bounded verification replays them a bucket at a time);
    by default the first timestamp of ``ordered``.
    """
    frame = (
        ordered.filter(pl.col("conversation_id").is_not_null())
        .with_columns(
            kind=pl.coalesce(pl.col("source_action"), pl.col("event_type").str.split(".").list.last()),
        )
        .sort(["conversation_id", "timestamp", "position"])
    )
    if frame.height == 0:
        return [], [], {"conversations": 0}
    conv = "conversation_id"
    cols = []
    for key in STATE_KEYS:
        cols += [_key_value("before", key).alias(f"b_{key}"), _key_value("after", key).alias(f"a_{key}")]
    frame = frame.with_columns(cols).with_columns(
        [pl.col(f"a_{k}").forward_fill().over(conv).shift(1).over(conv).alias(f"s_{k}") for k in STATE_KEYS]
        + [
            pl.int_range(pl.len()).over(conv).alias("nth"),
            (pl.col("kind") == "created").any().over(conv).alias("has_created"),
            pl.col("timestamp").min().over(conv).alias("conv_first"),
        ]
    )
    breaks: list[Break] = []

    differs = [
        pl.col(f"b_{k}").is_not_null() & pl.col(f"s_{k}").is_not_null() & (pl.col(f"b_{k}") != pl.col(f"s_{k}"))
        for k in STATE_KEYS
    ]
    mism = frame.filter(pl.any_horizontal(differs))

    def mismatch(r: dict[str, Any]) -> str:
        parts = [
            f"{k}: before says {_shown(r[f'b_{k}'])} but the previous event left {_shown(r[f's_{k}'])}"
            for k in STATE_KEYS
            if r[f"b_{k}"] is not None and r[f"s_{k}"] is not None and r[f"b_{k}"] != r[f"s_{k}"]
        ]
        return f"conversation {r[conv]}, {r['kind']}: " + "; ".join(parts)

    breaks += _rows(mism, "state_mismatch", source, mismatch)

    status = pl.when(pl.col("s_status") == _NULL).then(None).otherwise(pl.col("s_status"))
    # Each rule yields the index of its reason; the first that applies wins (reasons are formatted per break).
    reasons = ["created again after earlier events", "{kind} after the conversation was deleted",
               "{kind} after the conversation was archived"]  # fmt: skip
    rules = [
        pl.when((pl.col("kind") == "created") & (pl.col("nth") > 0)).then(0),
        pl.when((status == "deleted") & (pl.col("nth") > 0)).then(1),
        pl.when((status == "archived") & ~pl.col("kind").is_in(["deleted", "note_added", "archived"])
                & pl.col("before").is_not_null()).then(2),
    ]  # fmt: skip
    for kind, statuses, why in _CANNOT_FOLLOW:
        reasons.append(why + " (status was {status})")
        rules.append(pl.when((pl.col("kind") == kind) & status.is_in(list(statuses))).then(len(reasons) - 1))
    impossible = frame.with_columns(_rule=pl.coalesce(rules), _status=status).filter(pl.col("_rule").is_not_null())
    breaks += _rows(
        impossible,
        "impossible_transition",
        source,
        lambda r: f"conversation {r[conv]}: " + reasons[r["_rule"]].format(kind=r["kind"], status=r["_status"]),
    )

    if log_start is None:
        log_start = frame["timestamp"].min()
    carry = timedelta(days=settings.carryover_days)
    orphans = frame.filter(~pl.col("has_created") & (pl.col("nth") == 0))
    late = orphans.filter(pl.col("conv_first") > pl.lit(log_start) + carry) if log_start is not None else orphans
    breaks += _rows(
        late,
        "unknown_conversation",
        source,
        lambda r: (
            f"conversation {r[conv]} has no created event, yet its first event ({r['kind']}, "
            f"{r['timestamp']:%Y-%m-%dT%H:%M:%SZ}) comes {(r['conv_first'] - log_start).days} days after the log starts"
        ),
    )
    carried = orphans.height - late.height
    unverified = carried_over(carried, source=source, settings=settings)
    stats = {"conversations": frame[conv].n_unique(), "events": frame.height, "carried_over": carried}
    return breaks, unverified, stats


def carried_over(carried: int, *, source: str, settings: IntegritySettings) -> list[Unverified]:
    """What cannot be checked of ``carried`` conversations that began before the log."""
    if not carried:
        return []
    return [
        Unverified(
            CHECK,
            f"{carried} conversation(s) began before the log (no created event, first seen within "
            f"{settings.carryover_days} days of its start): their first events' before-states cannot be checked",
            source=source,
            events=carried,
        )
    ]


def _rows(frame: pl.DataFrame, kind: str, source: str, detail: Callable[[dict[str, Any]], str]) -> list[Break]:
    # Per-break formatting (breaks are few); pl.format panics in Polars 2.1 on some filtered string columns.
    return [
        Break(kind, CHECK, r["event_id"], r["position"], detail(r), source=source, source_file=r["source_file"],
              source_line=r["source_line"])
        for r in frame.sort("position").iter_rows(named=True)
    ]  # fmt: skip
