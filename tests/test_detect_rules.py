"""Every built-in rule fires on its positive fixture with exactly the intended evidence, and stays silent on its negative one."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditreports.detect import detect, load_rules
from auditreports.detect.fixtures import load_rule_fixture

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
RULE_NAMES = sorted(r.name for r in load_rules())


def test_every_rule_has_a_fixture_and_every_fixture_a_rule() -> None:
    fixture_rules = sorted(load_rule_fixture(p).rule for p in FIXTURES.glob("*.yml"))
    assert fixture_rules == RULE_NAMES


@pytest.mark.parametrize("rule_name", RULE_NAMES)
def test_positive_fixture_gives_the_findings_with_their_evidence(rule_name: str) -> None:
    fixture = load_rule_fixture(FIXTURES / f"{rule_name}.yml")
    findings = detect(fixture.positive, rules=[rule_name], settings=fixture.settings)
    assert len(findings) == fixture.positive_findings, findings.frame.select("summary", "event_ids").to_dicts()
    cited = {e for ids in findings.frame.get_column("event_ids").to_list() for e in ids}
    assert cited == set(fixture.evidence_ids)
    for finding in findings.to_dicts():
        assert finding["rule_name"] == rule_name
        assert finding["count"] == len(finding["event_ids"])
        assert finding["window_start"] <= finding["window_end"]


@pytest.mark.parametrize("rule_name", RULE_NAMES)
def test_negative_fixture_gives_no_finding(rule_name: str) -> None:
    fixture = load_rule_fixture(FIXTURES / f"{rule_name}.yml")
    findings = detect(fixture.negative, rules=[rule_name], settings=fixture.settings)
    assert len(findings) == 0, findings.frame.select("summary", "event_ids").to_dicts()
