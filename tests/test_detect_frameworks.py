"""Framework maps cite only rules and integrity checks that exist, and an organisation can bring its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditreports.detect import INTEGRITY_CHECKS, builtin_frameworks, load_framework, load_rules
from auditreports.errors import ConfigError, UsageError

EXPECTED = {
    "soc2": ["CC6.1", "CC6.2", "CC6.3", "CC6.6", "CC6.7", "CC6.8", "CC7.2", "CC7.3", "CC8.1"],
    "hipaa": [
        "164.308(a)(1)(ii)(D)",
        "164.308(a)(5)(ii)(C)",
        "164.312(b)",
        "164.312(c)(1)",
        "164.308(a)(3)(ii)(C)",
        "164.312(d)",
        "164.316(b)(2)",
    ],
    "gdpr": ["Art. 5(1)(f)", "Art. 15", "Art. 30", "Art. 32", "Art. 33"],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_framework_has_its_requirements_and_every_reference_resolves(name: str) -> None:
    framework = load_framework(name)
    assert [r.id for r in framework.requirements] == EXPECTED[name]
    rule_names = {r.name for r in load_rules()}
    for requirement in framework.requirements:
        assert requirement.title and requirement.description
        assert set(requirement.rules) <= rule_names
        assert set(requirement.integrity_checks) <= set(INTEGRITY_CHECKS)
        assert requirement.rules or requirement.integrity_checks


def test_every_builtin_rule_evidences_some_requirement() -> None:
    cited = {name for fw in builtin_frameworks() for name in load_framework(fw).rule_names()}
    assert cited == {r.name for r in load_rules()}


def test_rules_do_not_name_frameworks() -> None:
    for rule in load_rules():
        text = Path(rule.path).read_text(encoding="utf-8")
        assert "framework" not in text and "CC6." not in text


def test_reverse_lookup_of_a_rule() -> None:
    assert load_framework("soc2").requirements_for_rule("privilege_escalation") == ("CC6.3", "CC7.3")


def test_an_organisation_framework_file_can_cite_its_own_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    source = (Path(load_rules()[0].path)).read_text(encoding="utf-8")
    own = source.replace(load_rules()[0].id, "0f0f0f0f-1111-4222-8333-444455556666").replace(
        f"name: {load_rules()[0].name}", "name: our_rule"
    )
    (rules / "our_rule.yml").write_text(own, encoding="utf-8")
    framework_file = tmp_path / "iso.yml"
    framework_file.write_text(
        "framework: iso27001\ntitle: ISO/IEC 27001 Annex A\nrequirements:\n"
        "  - id: A.8.15\n    title: Logging\n    description: Logs are produced and protected.\n"
        "    rules: [our_rule, config_change]\n    integrity_checks: [hash_chain]\n",
        encoding="utf-8",
    )
    framework = load_framework(framework_file, rules_dirs=[rules])
    assert framework.requirement("A.8.15").rules == ("our_rule", "config_change")
    with pytest.raises(ConfigError) as caught:
        load_framework(framework_file)  # without the organisation's rules, the reference dangles
    assert caught.value.errors == [(str(framework_file), 7, "requirement A.8.15 cites unknown rule 'our_rule'")]


def test_bad_framework_files_list_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(
        "framework: x\ntitle: X\nowner: me\nrequirements:\n"
        "  - id: R1\n    title: One\n    description: d\n    rules: [no_such_rule]\n    integrity_checks: [checksum]\n"
        "  - id: R1\n    title: Again\n    description: d\n    integrity_checks: [coverage]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_framework(path)
    lines = sorted(line for _, line, _ in caught.value.errors)
    assert lines == [3, 8, 9, 10]


def test_unknown_framework_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="neither a shipped framework"):
        load_framework("pci")


def test_a_framework_can_state_its_own_retention_minimum() -> None:
    hipaa = load_framework("hipaa")
    assert hipaa.retention_minimum_days == 2190 and "164.316(b)(2)" in hipaa.retention_minimum_citation
    assert load_framework("soc2").retention_minimum_days is None
    assert hipaa.requirements_for_rule("retention_below_required") == ("164.316(b)(2)",)
    assert set(load_framework("soc2").requirements_for_rule("retention_below_required")) == {"CC7.2", "CC8.1"}


def test_a_bad_retention_minimum_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "fw.yml"
    path.write_text(
        "framework: mine\ntitle: Mine\nretention_minimum: {days: six years}\nrequirements:\n"
        "  - {id: R1, title: T, description: D, rules: [config_change], integrity_checks: []}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_framework(path)
    assert any(line == 3 and "retention_minimum" in message for _, line, message in caught.value.errors)
