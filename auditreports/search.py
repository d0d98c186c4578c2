"""Find audit events in a store: who did what, to which conversation or subject, when.

``search(store, author="dana@acme.example", since="2026-07-01")`` returns a lazy
frame of canonical events (``schema.EVENT_SCHEMA``), ordered by time, that the CLI,
the exporters and notebooks collect when they need rows.

Why it is fast on a big store: the store is hive-partitioned by UTC date
(``events/event_date=YYYY-MM-DD/part-*.parquet``), so date bounds choose the
partition directories *before* any file is opened; every other filter is a Polars
predicate that the Parquet reader applies while scanning (equality filters also
skip whole row groups by their min/max statistics when the writer sorts them).

Filter semantics, chosen for an analyst typing into a terminal:

- ``conversation_id``, ``channel``: exact; several values mean "any of".
- ``author`` (or ``actor``): the actor's id (exact), or name or e-mail (case-insensitive, exact).
- ``event_type``: an exact canonical type (``auth.login.failure``) or the source's
  own action (``auth.login_failed``); a value ending in ``.`` or ``*`` is a prefix
  (``auth.`` = every authentication event).
- ``subject``: ``subject_id`` equals it, or ``subject_ids`` contains it (a bulk export
  touching that customer).
- ``text``: case-insensitive *literal* substring (user input is never a regex) of
  ``reason``, ``before`` or ``after`` (notes, reasons and state changes).
- ``since`` / ``until``: inclusive bounds; a bare date as ``until`` covers that whole day.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from .errors import StoreError, UsageError
from .schema import EVENT_SCHEMA, conform

__all__ = ["SearchFilters", "author_spellings", "scan_store", "search", "store_partitions"]

_REGEX_META = set("\\.+*?()|[]{}^$#&-~")


@dataclass(frozen=True)
class SearchFilters:
    """The filters of one search, normalised; ``as_dict()`` is what a manifest records."""

    conversation_id: tuple[str, ...] = ()
    author: str | None = None
    event_type: tuple[str, ...] = ()
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    until_exclusive: bool = False
    channel: tuple[str, ...] = ()
    subject: str | None = None
    text: str | None = None

    @classmethod
    def build(
        cls,
        *,
        conversation_id: str | Sequence[str] | None = None,
        author: str | None = None,
        event_type: str | Sequence[str] | None = None,
        since: str | dt.date | dt.datetime | None = None,
        until: str | dt.date | dt.datetime | None = None,
        channel: str | Sequence[str] | None = None,
        subject: str | None = None,
        text: str | None = None,
    ) -> SearchFilters:
        for name, value in (
            ("conversation_id", conversation_id),
            ("author", author),
            ("event_type", event_type),
            ("since", since),
            ("until", until),
            ("channel", channel),
            ("subject", subject),
            ("text", text),
        ):
            _refuse_blank(name, value)
        start, _ = _parse_bound(since, _FLAG["since"]) if since is not None else (None, False)
        end, end_is_date = _parse_bound(until, _FLAG["until"]) if until is not None else (None, False)
        if end is not None and end_is_date:
            end = end + dt.timedelta(days=1)  # a bare date covers the whole day
        if start is not None and end is not None and (end < start or (end_is_date and end <= start)):
            raise UsageError(
                f"{_FLAG['until']} {until} is before {_FLAG['since']} {since}: the window is empty; "
                "give an end after the start",
                since=since,
                until=until,
            )
        return cls(
            conversation_id=_values(conversation_id),
            author=author or None,
            event_type=_values(event_type),
            since=start,
            until=end,
            until_exclusive=end_is_date,
            channel=_values(channel),
            subject=subject or None,
            text=text or None,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready filters (datetimes as ISO 8601), empty ones left out."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key == "until_exclusive" or value in (None, ()):
                continue
            if isinstance(value, dt.datetime):
                value = value.isoformat().replace("+00:00", "Z")
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        if self.until is not None:
            out["until_exclusive"] = self.until_exclusive
        return out

    def predicate(self, author_spellings: tuple[list[str], list[str]] | None = None) -> pl.Expr | None:
        """One Polars predicate over canonical columns (None when nothing is filtered).

        Meant for ``filter``: a row whose filtered column is null gives null, which
        ``filter`` drops like false. There is deliberately no ``fill_null(False)``: it
        hides an equality from the Parquet reader's statistics and doubled the time of a
        one-conversation search in benchmarks/search.py. Do not negate the predicate.

        ``author_spellings`` are the stored e-mails and names that equal the author
        case-insensitively (see :func:`author_spellings`); with them the author filter is
        plain equality, which Parquet statistics can prune, instead of lower-casing every row.
        """
        parts: list[pl.Expr] = []
        if self.conversation_id:
            parts.append(_any_of("conversation_id", self.conversation_id))
        if self.channel:
            parts.append(_any_of("channel", self.channel))
        if self.author is not None:
            a = self.author
            if author_spellings is not None:
                emails, names = author_spellings
                parts.append(
                    (pl.col("actor_id") == a) | pl.col("actor_email").is_in(emails) | pl.col("actor_name").is_in(names)
                )
            else:
                parts.append(
                    (pl.col("actor_id") == a)
                    | (pl.col("actor_email").str.to_lowercase() == a.lower())
                    | (pl.col("actor_name").str.to_lowercase() == a.lower())
                )
        if self.event_type:
            ors: list[pl.Expr] = []
            for value in self.event_type:
                if value.endswith((".", "*")):
                    prefix = value.rstrip("*")
                    ors.append(pl.col("event_type").str.starts_with(prefix))
                    ors.append(pl.col("source_action").str.starts_with(prefix))
                else:
                    ors.append(pl.col("event_type") == value)
                    ors.append(pl.col("source_action") == value)
            parts.append(pl.any_horizontal(ors))
        if self.subject is not None:
            parts.append((pl.col("subject_id") == self.subject) | pl.col("subject_ids").list.contains(self.subject))
        if self.text is not None:
            pattern = "(?i)" + _regex_literal(self.text)
            parts.append(pl.any_horizontal(pl.col(c).str.contains(pattern) for c in ("reason", "before", "after")))
        if self.since is not None:
            parts.append(pl.col("timestamp") >= self.since)
        if self.until is not None:
            parts.append(
                pl.col("timestamp") < self.until if self.until_exclusive else pl.col("timestamp") <= self.until
            )
        if not parts:
            return None
        return pl.all_horizontal(parts)

    def partition_dates(self) -> tuple[dt.date | None, dt.date | None]:
        """The first and last ``event_date`` partition that can hold a match."""
        first = self.since.date() if self.since is not None else None
        last = None
        if self.until is not None:
            last_instant = self.until - dt.timedelta(microseconds=1) if self.until_exclusive else self.until
            last = last_instant.date()
        return first, last


def store_partitions(store: str | os.PathLike[str]) -> dict[dt.date, Path]:
    """The store's ``event_date`` partition directories by date."""
    events_dir = Path(store) / "events"
    if not events_dir.is_dir():
        from .store import store_problem

        problem = store_problem(store) or (
            f"{store}: not an auditreports store (no events/ directory); "
            "point --store at a directory made by `auditreports ingest`"
        )
        raise StoreError(problem, store=str(store))
    found: dict[dt.date, Path] = {}
    for child in events_dir.iterdir():
        name = child.name
        if not (child.is_dir() and name.startswith("event_date=")):
            continue
        try:
            found[dt.date.fromisoformat(name.removeprefix("event_date="))] = child
        except ValueError:
            continue  # not one of ours; the store writer never makes such a directory
    return found


def scan_store(
    store: str | os.PathLike[str], *, first: dt.date | None = None, last: dt.date | None = None
) -> pl.LazyFrame:
    """Canonical events of the partitions between ``first`` and ``last`` (inclusive).

    Partitions outside the bounds are never opened: the scan is built from the
    chosen directories only.
    """
    parts = store_partitions(store)
    chosen = sorted(
        path for day, path in parts.items() if (first is None or day >= first) and (last is None or day <= last)
    )
    files = [str(f) for d in chosen for f in sorted(d.glob("*.parquet"))]
    if not files:
        return pl.LazyFrame(schema=EVENT_SCHEMA)
    lf = pl.scan_parquet(files, hive_partitioning=False, missing_columns="insert", extra_columns="ignore")
    return conform(lf).select(list(EVENT_SCHEMA))


def search(
    store: str | os.PathLike[str] | pl.LazyFrame | pl.DataFrame | Any,
    *,
    conversation_id: str | Sequence[str] | None = None,
    author: str | None = None,
    event_type: str | Sequence[str] | None = None,
    since: str | dt.date | dt.datetime | None = None,
    until: str | dt.date | dt.datetime | None = None,
    channel: str | Sequence[str] | None = None,
    subject: str | None = None,
    text: str | None = None,
    limit: int | None = None,
    actor: str | None = None,
) -> pl.LazyFrame:
    """Events of ``store`` matching every given filter, ordered by (timestamp, event_id).

    ``store`` is a store directory (fast path: partition pruning and Parquet
    predicates), an object with ``.root``/``.path`` and ``.events`` (a
    ``open_store`` result), or an events frame. See the module docstring for
    the meaning of each filter. ``actor`` is another name for ``author`` (the
    notebooks' and the CLI's ``--actor``).
    """
    if actor is not None and author is not None and actor != author:
        raise UsageError(f"actor {actor!r} and author {author!r} are the same filter; give one of them")
    author = author if author is not None else actor
    filters = SearchFilters.build(
        conversation_id=conversation_id,
        author=author,
        event_type=event_type,
        since=since,
        until=until,
        channel=channel,
        subject=subject,
        text=text,
    )
    return search_with(store, filters, limit=limit)


def search_with(store: Any, filters: SearchFilters, *, limit: int | None = None) -> pl.LazyFrame:
    """:func:`search` with filters already built (the exporters reuse them)."""
    if limit is not None and limit < 1:
        raise UsageError(f"limit must be a positive number of events, not {limit}", limit=limit)
    lf = _events_of(store, filters)
    spellings = author_spellings(lf, filters.author) if filters.author is not None else None
    predicate = filters.predicate(spellings)
    if predicate is not None:
        lf = lf.filter(predicate)
    lf = lf.sort("timestamp", "event_id", nulls_last=True)
    if limit is not None:
        lf = lf.head(limit)
    return lf


def author_spellings(events: pl.LazyFrame, author: str) -> tuple[list[str], list[str]]:
    """The stored e-mails and names equal to ``author`` ignoring case.

    Why: lower-casing two string columns of every row cost more than the rest of an
    author search (6.4 s against 2.7 s on 3M events); the distinct e-mails and names are
    few (one per person), so they are read once, matched here, and the search itself
    becomes equality that Parquet statistics can prune. Same results, by construction.
    """
    wanted = author.lower()
    emails, names = pl.collect_all(
        events.select(pl.col(c).unique()).filter(pl.col(c).str.to_lowercase() == wanted)
        for c in ("actor_email", "actor_name")
    )
    return emails.to_series().to_list(), names.to_series().to_list()


def _events_of(store: Any, filters: SearchFilters) -> pl.LazyFrame:
    if isinstance(store, pl.LazyFrame | pl.DataFrame):
        return conform(store).select(list(EVENT_SCHEMA))
    if isinstance(store, str | os.PathLike):
        first, last = filters.partition_dates()
        return scan_store(store, first=first, last=last)
    for attr in ("root", "path", "directory", "dir"):
        root = getattr(store, attr, None)
        if isinstance(root, str | os.PathLike) and (Path(root) / "events").is_dir():
            first, last = filters.partition_dates()
            return scan_store(root, first=first, last=last)
    events = getattr(store, "events", None)
    if isinstance(events, pl.LazyFrame | pl.DataFrame):
        return conform(events).select(list(EVENT_SCHEMA))
    raise UsageError(
        f"cannot search {type(store).__name__}; pass a store directory, an open_store() result or an events frame",
        store=repr(store),
    )


_FLAG = {"since": "--from", "until": "--to"}


def _refuse_blank(name: str, value: object) -> None:
    """A filter that is given must say something: an empty value would silently mean "every event"."""
    if value is None or isinstance(value, dt.date):
        return
    flag = _FLAG.get(name, "--" + name.replace("_", "-"))
    items = value.split(",") if isinstance(value, str) and name not in ("author", "subject", "text") else value
    if isinstance(items, str):
        items = [items]
    texts = [str(v) for v in items] if isinstance(items, Sequence) else [str(items)]
    if not texts or any(not t.strip() for t in texts):
        raise UsageError(
            f"{flag} {value!r} is empty or blank (or has an empty item); give a value, or leave {flag} out "
            "to not filter on it (an empty filter is never read as 'every event')",
            filter=name,
        )


def _values(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    items = [v.strip() for v in items]
    return tuple(v for v in items if v)


def _any_of(column: str, values: tuple[str, ...]) -> pl.Expr:
    if len(values) == 1:
        return pl.col(column) == values[0]
    return pl.col(column).is_in(list(values))


def _regex_literal(text: str) -> str:
    return "".join("\\" + ch if ch in _REGEX_META else ch for ch in text)


def _parse_bound(value: str | dt.date | dt.datetime, name: str) -> tuple[dt.datetime, bool]:
    """A UTC datetime and whether the input was a bare date."""
    if isinstance(value, dt.datetime):
        stamp = value
        is_date = False
    elif isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC), True
    else:
        text = value.strip()
        try:
            if len(text) == 10:
                day = dt.date.fromisoformat(text)
                return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC), True
            stamp = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise UsageError(
                f"{name} {value!r} is not a date or time; use YYYY-MM-DD or an ISO 8601 time like 2026-07-03T14:02:11Z",
                **{name.lstrip("-"): value},
            ) from None
        is_date = False
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)  # the store is in UTC; so are bare times
    return stamp.astimezone(dt.UTC), is_date
