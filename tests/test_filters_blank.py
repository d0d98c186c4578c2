"""An empty or blank filter value is a usage error in search, export and fetch, never "every event"."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_sources_formats import records, render

from auditreports.cli import main
from auditreports.errors import UsageError
from auditreports.search import SearchFilters

BLANKS = [
    ("--subject", ""),
    ("--subject", "   "),
    ("--conversation-id", ""),
    ("--conversation-id", "conv_1,"),
    ("--author", ""),
    ("--author", "\t"),
    ("--channel", " "),
    ("--channel", "web, ,email"),
    ("--event-type", ","),
    ("--event-type", ""),
    ("--text", ""),
    ("--from", ""),
    ("--to", " "),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("blank")
    src = base / "c.ndjson"
    src.write_bytes(render("conversation", "ndjson", records("conversation")))
    assert main(["ingest", str(src), "--store", str(base / "store")]) == 0
    return base / "store"


@pytest.mark.parametrize(("flag", "value"), BLANKS)
def test_search_refuses_a_blank_filter(store: Path, flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["search", "--store", str(store), f"{flag}={value}"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "empty or blank" in err and flag in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("flag", "value"), BLANKS)
def test_export_refuses_a_blank_filter(store: Path, tmp_path: Path, flag: str, value: str, capsys) -> None:
    assert main(["export", "--store", str(store), "--out", str(tmp_path / "out"), f"{flag}={value}"]) == 2
    assert "empty or blank" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--conversation-id", ""), ("--author", " "), ("--event-type", ","), ("--event-type", "claimed,")],
)
def test_fetch_refuses_a_blank_filter(tmp_path: Path, flag: str, value: str, capsys, monkeypatch) -> None:
    monkeypatch.setenv("AUDITREPORTS_TOKEN", "tok_test_0123456789")
    code = main(["fetch", "http://127.0.0.1:9/v1/audit-log", "--store", str(tmp_path / "s"), f"{flag}={value}"])
    assert code == 2
    assert "empty or blank" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_a_real_value_still_filters() -> None:
    filters = SearchFilters.build(subject="cus_1", channel="web,email", event_type="claimed")
    assert filters.subject == "cus_1" and filters.channel == ("web", "email")
    with pytest.raises(UsageError):
        SearchFilters.build(channel=["web", ""])
