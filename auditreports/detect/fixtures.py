"""Rule fixtures: small positive/negative event lists that prove a rule fires when it should.

Every built-in rule has one fixture file in ``tests/fixtures/rules/<rule>.yml``; an
organisation writing its own rules can test them the same way::

    rule: brute_force_login
    settings: {rules: {brute_force_login: {threshold: 5}}}   # optional detection settings
    positive_findings: 1                                      # default 1
    positive:                                                 # must give the findings
      - {id: bf, at: "2026-07-01T10:00:00Z", repeat: 8, every: 30s, evidence: true,
         event_type: auth.login.failure, actor_id: usr_1, ip: 203.0.113.5}
    negative:                                                 # must give no finding
      - ...

An event is a mapping of canonical columns with a few conveniences: ``id`` for
``event_id``, ``at`` for ``timestamp``, ``repeat``/``every`` to expand one line into
a burst (ids ``<id>-1`` …; ``{n}`` in a text value becomes 1, 2, … so a burst can
touch distinct conversations or accounts), ``evidence: true`` to mark the events the findings must
cite. ``category`` and ``outcome`` default from ``event_type``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import ConfigError
from ..schema import EVENT_SCHEMA, conform
from .durations import parse_duration
from .yamlsource import load_yaml

__all__ = ["RuleFixture", "fixture_events", "load_rule_fixture"]

_EXTRA = {"id", "at", "repeat", "every", "evidence"}
_CATEGORY_BY_PREFIX = {
    "auth": "auth",
    "config": "config",
    "data": "data_access",
    "integration": "integration",
    "system": "system",
    "conversation": "conversation",
    "bot": "bot",
}


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _expand(records: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], set[str]]:
    rows: list[dict[str, Any]] = []
    evidence: set[str] = set()
    for n, record in enumerate(records):
        unknown = set(record) - set(EVENT_SCHEMA) - _EXTRA
        if unknown:
            raise ConfigError(
                f"fixture event {n + 1} has unknown key(s) {sorted(unknown)}; use canonical columns or id/at/repeat/every/evidence."
            )
        base = {k: v for k, v in record.items() if k not in _EXTRA}
        event_id = str(record.get("id", record.get("event_id", f"evt-{n + 1}")))
        start = _timestamp(record.get("at", record.get("timestamp", "2026-07-01T10:00:00Z")))
        repeat = int(record.get("repeat", 1))
        step = parse_duration(str(record.get("every", "1s"))) if repeat > 1 else timedelta(0)
        for i in range(repeat):
            row = {k: v.replace("{n}", str(i + 1)) if isinstance(v, str) and repeat > 1 else v for k, v in base.items()}
            row["event_id"] = f"{event_id}-{i + 1}" if repeat > 1 else event_id
            row["timestamp"] = start + i * step
            for key in ("before", "after"):
                if isinstance(row.get(key), Mapping | list):
                    row[key] = json.dumps(row[key], sort_keys=True)
            rows.append(row)
            if record.get("evidence"):
                evidence.add(row["event_id"])
    return rows, evidence


def fixture_events(records: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Canonical events (``schema.EVENT_SCHEMA``) from fixture records, defaults filled."""
    rows, _ = _expand(records)
    return _frame(rows)


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    filled = []
    for row in rows:
        event_type = str(row.get("event_type", "system.error"))
        full = {
            "category": _CATEGORY_BY_PREFIX.get(event_type.split(".")[0], "system"),
            "outcome": "failure" if event_type.endswith("failure") else "success",
            "actor_type": "user",
            "source": "fixture",
            "subject_ids": [],
            "flags": [],
            **row,
        }
        full["raw"] = json.dumps(
            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in full.items()}, sort_keys=True
        )
        filled.append(full)
    schema = {name: (pl.String() if isinstance(dtype, pl.Enum) else dtype) for name, dtype in EVENT_SCHEMA.items()}
    present = {k for row in filled for k in row}
    frame = (
        pl.DataFrame(filled, schema={k: v for k, v in schema.items() if k in present}, orient="row")
        if filled
        else pl.DataFrame(schema={})
    )
    return conform(frame).collect()


@dataclass(frozen=True)
class RuleFixture:
    """One rule's fixture file, expanded."""

    rule: str
    settings: Mapping[str, Any] | None
    positive: pl.DataFrame
    negative: pl.DataFrame
    positive_findings: int
    evidence_ids: frozenset[str]
    path: str


def load_rule_fixture(path: str | Path) -> RuleFixture:
    """Read a fixture file (see the module docstring)."""
    doc = load_yaml(Path(path))
    if not isinstance(doc, Mapping) or not {"rule", "positive", "negative"} <= set(doc):
        raise ConfigError(f"{path}: a rule fixture needs 'rule', 'positive' and 'negative'.")
    unknown = set(doc) - {"rule", "settings", "positive", "negative", "positive_findings", "description"}
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)} in rule fixture.")
    pos_rows, evidence = _expand(doc["positive"])
    neg_rows, _ = _expand(doc["negative"])
    return RuleFixture(
        rule=str(doc["rule"]),
        settings=doc.get("settings"),
        positive=_frame(pos_rows),
        negative=_frame(neg_rows),
        positive_findings=int(doc.get("positive_findings", 1)),
        evidence_ids=frozenset(evidence),
        path=str(path),
    )
