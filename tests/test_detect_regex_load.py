"""A rule regex the engine (Polars, Rust ``regex``) cannot run is rejected when the rule loads, with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_detect_loader import GOOD, write

from auditreports.detect import load_rules
from auditreports.errors import RuleError


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("(?=curl)cur", "look-ahead, look-behind and back-references are not supported"),
        ("(?<!x)curl", "look-ahead, look-behind and back-references are not supported"),
        ("(a)\\\\1", "look-ahead, look-behind and back-references are not supported"),
        ("(a{1000}){1000}", "exceeds the engine's size limit"),
    ],
)
def test_a_regex_the_engine_cannot_run_fails_at_load_with_file_and_line(
    tmp_path: Path, pattern: str, says: str
) -> None:
    rule = GOOD.replace(
        "    event_type: data.export", f'    event_type: data.export\n    user_agent: {{regex: "{pattern}"}}'
    )
    write(tmp_path, "agent.yml", rule)
    with pytest.raises(RuleError) as caught:
        load_rules([tmp_path], builtin=False)
    problems = [(Path(f).name, line, message) for f, line, message in caught.value.errors]
    assert len(problems) == 1
    name, line, message = problems[0]
    assert (name, line) == ("agent.yml", 14)
    assert "cannot run in the rule engine" in message and says in message
    assert "agent.yml:14:" in caught.value.message


def test_a_regex_the_engine_can_run_loads(tmp_path: Path) -> None:
    rule = GOOD.replace(
        "    event_type: data.export", '    event_type: data.export\n    user_agent: {regex: "^curl/[0-9]+"}'
    )
    write(tmp_path, "agent.yml", rule)
    assert [r.name for r in load_rules([tmp_path], builtin=False)] == ["many_exports"]
