"""Detection over a store runs rule by rule, streaming, and finds exactly what it finds over the events held whole.

``detect`` given a lazy input (a store, a load) never collects the log: each rule's plan
reads the input itself on Polars' streaming engine, one rule after another, so what is
held at once is one rule's rows. These tests pin that every built-in rule - including
those the sample quarter never fires (MFA left off, an API key's new IP, PHI retrieval,
mass deletion) - gives over a store the findings it gives over the same events as a
DataFrame, that allow-lists apply the same way, and that no frame of the whole log is
collected on the way.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from auditreports.detect import detect
from auditreports.detect.compiler import _always
from auditreports.detect.engine import _needed_columns, _plan
from auditreports.detect.fixtures import load_rule_fixture
from auditreports.detect.rules import load_rules
from auditreports.detect.settings import DetectionSettings
from auditreports.sources import load
from auditreports.store import open_store, write_store

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
RULE_NAMES = sorted(p.stem for p in (Path(__file__).parents[1] / "auditreports" / "rules").glob("*.yml"))


@pytest.mark.parametrize("rule_name", RULE_NAMES)
def test_each_rule_finds_over_a_store_what_it_finds_over_the_events_held(rule_name: str, tmp_path: Path) -> None:
    fixture = load_rule_fixture(FIXTURES / f"{rule_name}.yml")
    for kind, events in (("positive", fixture.positive), ("negative", fixture.negative)):
        write_store(tmp_path / kind, events)
        held = detect(events, rules=[rule_name], settings=fixture.settings)
        stored = detect(open_store(tmp_path / kind).events, rules=[rule_name], settings=fixture.settings)
        assert stored.to_json() == held.to_json(), kind
        assert stored.events_scanned == events.height
    # Not two empty answers: the positive events give the rule's findings, citing the intended events.
    positive = detect(open_store(tmp_path / "positive").events, rules=[rule_name], settings=fixture.settings)
    assert len(positive) == fixture.positive_findings
    assert {e for ids in positive.frame.get_column("event_ids").to_list() for e in ids} == set(fixture.evidence_ids)


@pytest.fixture(scope="module")
def sample_store(data_samples: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, Path]:
    events = load([str(data_samples / "workspace"), str(data_samples / "conversations")]).events.collect()
    path = tmp_path_factory.mktemp("sample") / "store"
    write_store(path, events)
    return events, path


def test_allow_lists_remove_the_same_findings_over_a_store(
    sample_store: tuple[pl.DataFrame, Path], data_samples: Path
) -> None:
    events, path = sample_store
    plain = {"actors_csv": str(data_samples / "staff.csv")}
    # The sample's password spraying comes from 192.0.2.202 and its failed-then-success is usr_115's.
    allowed = {**plain, "allow_ips": ["192.0.2.0/24"], "service_accounts": ["usr_115"]}
    held = detect(events, settings=allowed)
    stored = detect(open_store(path).events, settings=allowed)
    assert stored.to_json() == held.to_json()
    without = {f["rule_name"] for f in detect(open_store(path).events, settings=plain).to_dicts()}
    with_lists = {f["rule_name"] for f in stored.to_dicts()}
    assert {"password_spraying", "failed_then_success"} <= without
    assert not {"password_spraying", "failed_then_success"} & with_lists


def test_detect_over_a_store_collects_no_frame_of_the_whole_log(
    sample_store: tuple[pl.DataFrame, Path], data_samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events, path = sample_store
    collected: list[tuple[int, object]] = []
    real_collect = pl.LazyFrame.collect

    def spy(self: pl.LazyFrame, *args: object, **kwargs: object) -> pl.DataFrame:
        out = real_collect(self, *args, **kwargs)  # type: ignore[arg-type]
        assert isinstance(out, pl.DataFrame)
        collected.append((out.height, kwargs.get("engine")))
        return out

    def no_collect_all(*args: object, **kwargs: object) -> None:
        raise AssertionError("every plan at once holds every rule's working set at once")

    monkeypatch.setattr(pl.LazyFrame, "collect", spy)
    monkeypatch.setattr(pl, "collect_all", no_collect_all)
    found = detect(open_store(path).events, settings={"actors_csv": str(data_samples / "staff.csv")})
    assert len(found) > 0 and found.events_scanned == events.height
    # One streaming collection per rule (and the count); none of them is the log, or a large part of it.
    streaming = [height for height, engine in collected if engine == "streaming"]
    assert len(streaming) > len(found.rules)
    assert max(height for height, _ in collected) < events.height // 100


def test_every_rule_with_event_conditions_reads_only_matching_rows_from_a_store(
    sample_store: tuple[pl.DataFrame, Path],
) -> None:
    # A rule's conditions on ordinary columns reach the Parquet scan, so rows of other kinds
    # are dropped as they are read rather than streamed through the rule's plan (a condition
    # left above the scan made config_change's memory grow with the log).
    _, path = sample_store
    settings = DetectionSettings()
    for rule in load_rules(()):
        compiled, params = rule.compile(settings.rules.get(rule.name))
        if _always(compiled.pre):
            continue
        events = open_store(path).events.select(_needed_columns([(rule, compiled, params)], settings))
        plan = _plan(rule, compiled, params, events, settings, None).explain(engine="streaming")
        scans = [line.strip() for line in plan.splitlines() if line.strip().startswith("SELECTION:")]
        assert scans and "SELECTION: true" not in scans, (rule.name, scans)
