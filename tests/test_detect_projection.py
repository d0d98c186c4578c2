"""Detection over a store reads only the columns its rules read, and finds exactly what it finds with all of them.

``detect`` collects a lazy input (a store, a load) with only the columns some rule's
plan reads - found by resolving each plan without each column - so the stored
records (``raw``), user agents, file names and hashes are not held. These tests pin
that the findings are those of the same events held whole, for the built-in rules on
the sample quarter and for an organisation rule reading a column no built-in reads.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from auditreports.detect import detect
from auditreports.detect.engine import _needed_columns
from auditreports.detect.rules import load_rules
from auditreports.detect.settings import DetectionSettings
from auditreports.sources import load
from auditreports.store import open_store, write_store

BY_AGENT = """\
id: 0b9f4c1e-6d2a-4e8b-9c3f-5a7d1e2b4c6f
name: failures_by_agent
title: Failed logins by one user agent
description: Failed logins from one client.
severity: low
status: experimental
parameters:
  threshold: 2
summary: "{user_agent}: {count} failed logins"
logic:
  kind: threshold
  where:
    event_type: auth.login.failure
  group_by: [user_agent]
  window: 1d
  threshold: $threshold
why_it_matters: A client that keeps failing may be guessing passwords.
what_to_check: Which accounts the client tried.
"""


def _events(data_samples: Path) -> pl.DataFrame:
    return load([str(data_samples / "workspace"), str(data_samples / "conversations")]).events.collect()


def test_findings_over_a_store_read_with_the_rules_columns_equal_those_over_every_column(
    data_samples: Path, tmp_path: Path
) -> None:
    events = _events(data_samples)
    write_store(tmp_path / "store", events)
    settings = {"actors_csv": str(data_samples / "staff.csv")}
    whole = detect(events, settings=settings)  # a DataFrame: every column, as held
    projected = detect(open_store(tmp_path / "store").events, settings=settings)
    assert len(whole) > 0
    assert projected.to_json() == whole.to_json()


def test_an_organisation_rule_reading_a_column_no_built_in_reads_gets_it(data_samples: Path, tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "failures_by_agent.yml").write_text(BY_AGENT, encoding="utf-8")
    settings = DetectionSettings()
    builtin = [(r, *r.compile(settings.rules.get(r.name))) for r in load_rules(())]
    assert "user_agent" not in _needed_columns(builtin, settings)
    assert "raw" not in _needed_columns(builtin, settings)
    events = _events(data_samples)
    write_store(tmp_path / "store", events)
    whole = detect(events, rules=["failures_by_agent"], rules_dirs=[tmp_path / "rules"])
    projected = detect(
        open_store(tmp_path / "store").events, rules=["failures_by_agent"], rules_dirs=[tmp_path / "rules"]
    )
    assert len(whole) > 0 and all(f["group"]["user_agent"] for f in whole.to_dicts())
    assert projected.to_json() == whole.to_json()
