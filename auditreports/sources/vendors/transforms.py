"""Named Python steps for what a YAML field map cannot say.

A map lists them under ``transforms:``; each takes the lazy frame after field
extraction (``text`` plus ``_<column>`` columns) and returns it with columns
filled. They exist because some vendors key a sub-object by the value of another
field, which a static path cannot express:

- OpenAI's audit log puts the details of a ``role.assignment.created`` event under
  the key ``role_assignment_created`` (the type with dots as underscores).
- Slack's audit log puts the touched entity under ``entity.<entity.type>``
  (``entity.user``, ``entity.channel``, ``entity.workspace`` ...).
"""

from __future__ import annotations

import polars as pl

from .fieldmap import FieldMap
from .mapping import field_expr, transform

__all__ = ["keyed_payload"]


def keyed_payload(lf: pl.LazyFrame, key_column: str, key_of: dict[str, str], sub_path: str) -> pl.Expr:
    """``<key_of[value]>.<sub_path>`` per row, chosen by the value in ``key_column``."""
    expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for value, key in sorted(key_of.items()):
        path = f"{key}.{sub_path}" if sub_path else key
        expr = pl.when(pl.col(key_column) == value).then(field_expr(path)).otherwise(expr)
    return expr


def _distinct(lf: pl.LazyFrame, column: str) -> list[str]:
    values = lf.select(pl.col(column).drop_nulls().unique()).collect().to_series().to_list()
    # Only keys that are plain identifiers can be addressed as a path segment.
    return [v for v in values if v and all(ch.isalnum() or ch in "_.-" for ch in v)]


@transform("openai_payload")
def openai_payload(lf: pl.LazyFrame, fmap: FieldMap) -> pl.LazyFrame:
    """Details object ``<type with _>`` -> ``after`` (JSON), and its id/principal -> resource."""
    keys = {t: t.replace(".", "_") for t in _distinct(lf, "_action")}
    payload = keyed_payload(lf, "_action", keys, "")
    principal = keyed_payload(lf, "_action", keys, "principal_id")
    object_id = keyed_payload(lf, "_action", keys, "id")
    object_type = keyed_payload(lf, "_action", keys, "principal_type")
    return lf.with_columns(
        _after=pl.coalesce(pl.col("_after"), payload) if "_after" in lf.collect_schema() else payload,
        _resource_id=pl.coalesce(principal, object_id, pl.col("_resource_id"))
        if "_resource_id" in lf.collect_schema()
        else pl.coalesce(principal, object_id),
        _resource_type=pl.coalesce(object_type, pl.col("_action").str.extract(r"^([a-z_]+)\.", 1)),
    )


@transform("slack_entity")
def slack_entity(lf: pl.LazyFrame, fmap: FieldMap) -> pl.LazyFrame:
    """``entity.<entity.type>.id`` -> resource_id (the user, channel, app or workspace touched)."""
    kind = field_expr("entity.type")
    lf = lf.with_columns(_entity_type=kind)
    keys = {t: f"entity.{t}" for t in _distinct(lf, "_entity_type")}
    entity_id = keyed_payload(lf, "_entity_type", keys, "id")
    entity_name = keyed_payload(lf, "_entity_type", keys, "name")
    schema = lf.collect_schema()
    resource_id = pl.coalesce(entity_id, entity_name)
    if "_resource_id" in schema:
        resource_id = pl.coalesce(resource_id, pl.col("_resource_id"))
    return lf.with_columns(_resource_id=resource_id, _resource_type=pl.col("_entity_type")).drop("_entity_type")
