"""One identity per actor across a report: staff directory first, then the log.

People are "Name (id)"; an API key is "key_id (API key of Owner (usr_…))", its owner taken
from the key's creation event, else the staff directory, else the name the log gives the
key's calls. Bots and system actors keep their id. Used to turn finding summaries such as
"usr_113 changed usr_113" into names a reviewer recognises.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from ..errors import ConfigError
from .model import LABEL_ROLE

__all__ = ["Identities", "copy_label_roles", "identities", "label_role_expr"]


class Identities:
    def __init__(self, people: dict[str, str], keys: dict[str, str]) -> None:
        self.people = people  # staff id -> name
        self.keys = keys  # key id -> owner staff id or name
        ids = sorted({*people, *keys}, key=len, reverse=True)
        self._pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, ids)) + r")(?![\w-])") if ids else None

    def name(self, actor_id: str) -> str:
        if actor_id in self.keys:
            owner = self.keys[actor_id]
            return f"{actor_id} (API key of {self.name(owner) if owner in self.people else owner})"
        if actor_id in self.people:
            return f"{self.people[actor_id]} ({actor_id})"
        return actor_id

    def text(self, value: str) -> str:
        """Every known id in ``value`` as the actor's name and id (each id once per mention)."""
        if not value or self._pattern is None:
            return value
        return self._pattern.sub(lambda m: self.name(m.group(1)), value)


def _directory(path: Path | None, column: str = "name") -> dict[str, str]:
    """staff id -> ``column`` (name, role) from the staff directory; empty without one."""
    if path is None:
        return {}
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ConfigError(f"staff directory {path} cannot be read ({exc}); check the staff setting.") from None
    id_col = next((c for c in ("staff_id", "actor_id", "id") if c in frame.columns), None)
    if id_col is None or column not in frame.columns:
        return {}
    return {k: v for k, v in frame.select(id_col, column).drop_nulls().rows() if v.strip()}


def label_role_expr(events: pl.DataFrame | pl.LazyFrame, staff: Path | None = None) -> pl.Expr:
    """The one role each person is printed with (column ``actor_label_role``), read from ``events`` once.

    A person whose role changed in the period (agent, then admin after a role change) is one
    person: the staff directory's role first, else the last role the log records for them.
    Each event keeps the role it recorded in ``actor_role`` (the evidence); only the printed
    label is shared. API keys, bots and system actors get no label role.
    """
    person = (pl.col("actor_type").cast(pl.String) == "user") & pl.col("actor_id").is_not_null()
    logged = (
        events.lazy()
        .filter(person & pl.col("actor_role").is_not_null())
        .group_by("actor_id")
        .agg(pl.col("actor_role").sort_by("timestamp").last())
        .collect()
    )
    roles = {**dict(logged.rows()), **_directory(staff, "role")}
    label = pl.col("actor_id").replace_strict(roles, default=None, return_dtype=pl.String)
    return pl.when(person).then(label).otherwise(None).alias(LABEL_ROLE)


def identities(events: pl.DataFrame | pl.LazyFrame, staff: Path | None = None) -> Identities:
    """Who is who in ``events``: the staff directory first, then the names the log records."""
    kind = pl.col("actor_type").cast(pl.String)
    # Lazy, so that only the columns each summary reads are filtered (not every column of the period).
    logged = (
        events.lazy()
        .filter((kind == "user") & pl.col("actor_id").is_not_null() & pl.col("actor_name").is_not_null())
        .group_by("actor_id")
        .agg(pl.col("actor_name").mode().first())
        .collect()
    )
    people = {**dict(logged.rows()), **_directory(staff)}
    created = (
        events.lazy()
        .filter(
            pl.col("event_type").str.contains(r"api_key[._]created")
            & pl.col("resource_id").is_not_null()
            & pl.col("actor_id").is_not_null()
        )
        .group_by("resource_id")
        .agg(pl.col("actor_id").first())
        .collect()
    )
    keys = {
        k: v
        for k, v in events.lazy()
        .filter((kind == "api_key") & pl.col("actor_id").is_not_null())
        .group_by("actor_id")
        .agg(pl.col("actor_name").drop_nulls().first())
        .collect()
        .rows()
        if v is not None
    }
    # A name the log gives a key's calls is its owner only if it is a person's name.
    by_name = {name: staff_id for staff_id, name in people.items()}
    keys = {k: by_name.get(v, v) for k, v in keys.items()}
    keys.update(dict(created.rows()))
    return Identities(people, keys)


def copy_label_roles(frame: pl.DataFrame, labelled: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """``frame`` with the label roles ``labelled`` settled on (rows read again from the source,
    such as the evidence rows of a report whose period was collected without ``raw``)."""
    if LABEL_ROLE in frame.columns or LABEL_ROLE not in labelled.collect_schema().names():
        return frame
    pairs = (
        labelled.lazy()
        .filter(pl.col(LABEL_ROLE).is_not_null())
        .select("actor_id", LABEL_ROLE)
        .unique("actor_id", maintain_order=True)
        .collect()
    )
    person = (pl.col("actor_type").cast(pl.String) == "user") & pl.col("actor_id").is_not_null()
    label = pl.col("actor_id").replace_strict(dict(pairs.rows()), default=None, return_dtype=pl.String)
    return frame.with_columns(pl.when(person).then(label).otherwise(None).alias(LABEL_ROLE))
