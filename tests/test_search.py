"""Search over a Parquet store: filter semantics, and that filters push down to the files."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
import pytest

from auditreports.cli import main
from auditreports.errors import StoreError, UsageError
from auditreports.schema import EVENT_SCHEMA, conform
from auditreports.search import search

T0 = dt.datetime(2026, 7, 1, 9, 0, tzinfo=dt.UTC)


def _events() -> pl.DataFrame:
    rows = [
        # id, day offset, type, source action, actor id, name, email, conversation, channel, subject, subject_ids, reason
        (
            "e1",
            0,
            "auth.login.failure",
            "auth.login_failed",
            "usr_9",
            "Dana Lee",
            "dana@acme.example",
            None,
            None,
            None,
            [],
            "bad_password",
        ),
        (
            "e2",
            0,
            "auth.login.success",
            "auth.login_succeeded",
            "usr_9",
            "Dana Lee",
            "dana@acme.example",
            None,
            None,
            None,
            [],
            None,
        ),
        ("e3", 1, "conversation.claimed", "claimed", "usr_7", "Sam Roe", None, "conv_1", "web", "cus_1", [], None),
        (
            "e4",
            1,
            "conversation.note_added",
            "note_added",
            "usr_7",
            "Sam Roe",
            None,
            "conv_1",
            "web",
            "cus_1",
            [],
            "Customer asked for (a+b)* refund",
        ),
        (
            "e5",
            2,
            "data.export",
            "data.conversations_exported",
            "usr_9",
            "Dana Lee",
            "dana@acme.example",
            None,
            None,
            None,
            ["cus_1", "cus_2"],
            "quarterly",
        ),
        ("e6", 2, "conversation.claimed", "claimed", "bot_1", "Helper", None, "conv_2", "email", "cus_2", [], None),
        (
            "e7",
            3,
            "config.system_prompt.update",
            "config.system_prompt_updated",
            "usr_8",
            "Ann Bo",
            "ANN@acme.example",
            None,
            None,
            None,
            [],
            "tone",
        ),
    ]
    records = [
        {
            "event_id": r[0],
            "timestamp": T0 + dt.timedelta(days=r[1], minutes=i),
            "event_type": r[2],
            "source_action": r[3],
            "category": r[2].split(".")[0].replace("data", "data_access"),
            "outcome": "success",
            "actor_type": "bot" if r[4].startswith("bot") else "user",
            "actor_id": r[4],
            "actor_name": r[5],
            "actor_email": r[6],
            "conversation_id": r[7],
            "channel": r[8],
            "subject_id": r[9],
            "subject_ids": r[10],
            "reason": r[11],
            "source": "test",
            "raw": "{}",
        }
        for i, r in enumerate(rows)
    ]
    return conform(pl.DataFrame(records, schema_overrides={"subject_ids": pl.List(pl.String)})).collect()


def write_store(root: Path, events: pl.DataFrame) -> Path:
    """A store in the documented layout: events/event_date=YYYY-MM-DD/part-<16 hex>.parquet."""
    with_day = events.with_columns(pl.col("timestamp").dt.date().alias("_day"))
    for i, ((day,), part) in enumerate(with_day.group_by("_day", maintain_order=True)):
        d = root / "events" / f"event_date={day.isoformat()}"
        d.mkdir(parents=True, exist_ok=True)
        part.drop("_day").write_parquet(d / f"part-{i:016x}.parquet")
    return root


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "store", _events())


def ids(lf: pl.LazyFrame) -> list[str]:
    return lf.collect()["event_id"].to_list()


def test_no_filter_returns_every_event_in_time_order_with_the_canonical_schema(store: Path) -> None:
    out = search(store).collect()
    assert out["event_id"].to_list() == ["e1", "e2", "e3", "e4", "e5", "e6", "e7"]
    assert dict(out.schema) == EVENT_SCHEMA


def test_author_matches_id_name_or_email_case_insensitively(store: Path) -> None:
    assert ids(search(store, author="usr_9")) == ["e1", "e2", "e5"]
    assert ids(search(store, author="dana lee")) == ["e1", "e2", "e5"]
    assert ids(search(store, author="ann@ACME.example")) == ["e7"]
    assert ids(search(store, author="usr")) == []  # not a substring match


def test_event_type_exact_source_action_or_prefix(store: Path) -> None:
    assert ids(search(store, event_type="auth.login.failure")) == ["e1"]
    assert ids(search(store, event_type="auth.login_failed")) == ["e1"]
    assert ids(search(store, event_type="auth.")) == ["e1", "e2"]
    assert ids(search(store, event_type="auth")) == []  # a bare word is exact, not a prefix
    assert ids(search(store, event_type=["auth.login.success", "config."])) == ["e2", "e7"]


def test_subject_matches_subject_id_or_bulk_export_membership(store: Path) -> None:
    assert ids(search(store, subject="cus_2")) == ["e5", "e6"]
    assert ids(search(store, subject="cus_1")) == ["e3", "e4", "e5"]


def test_text_is_literal_and_case_insensitive(store: Path) -> None:
    assert ids(search(store, text="(A+B)*")) == ["e4"]  # regex metacharacters are literal
    assert ids(search(store, text="BAD_PASS")) == ["e1"]
    assert ids(search(store, text=".*")) == []


def test_conversation_channel_and_combined_filters(store: Path) -> None:
    assert ids(search(store, conversation_id="conv_1")) == ["e3", "e4"]
    assert ids(search(store, channel="email")) == ["e6"]
    assert ids(search(store, conversation_id="conv_1", text="refund")) == ["e4"]
    assert ids(search(store, author="usr_9", limit=2)) == ["e1", "e2"]


def test_date_bounds_are_inclusive_and_a_bare_until_date_covers_the_day(store: Path) -> None:
    assert ids(search(store, since="2026-07-02", until="2026-07-03")) == ["e3", "e4", "e5", "e6"]
    assert ids(search(store, since="2026-07-02T09:03:00Z", until="2026-07-02T09:03:00Z")) == ["e4"]


def test_one_day_search_reads_only_that_partition(store: Path) -> None:
    """Date bounds prune partitions: the other days' files are unreadable and never opened."""
    target = store / "events" / "event_date=2026-07-02"
    for part in (store / "events").glob("event_date=*/*.parquet"):
        if part.parent != target:
            part.write_bytes(b"not parquet at all")
    assert ids(search(store, since="2026-07-02", until="2026-07-02")) == ["e3", "e4"]
    with pytest.raises(pl.exceptions.ComputeError):
        search(store).collect()  # proof the files really are unreadable


def test_other_filters_are_parquet_predicates_in_the_plan(store: Path) -> None:
    """The filter is evaluated by the Parquet reader (SELECTION of the scan), not a FILTER after it."""
    plan = search(store, author="usr_9", conversation_id="conv_1").explain()
    scan = plan[plan.index("Parquet SCAN") :]
    assert "FILTER" not in plan
    assert "SELECTION" in scan and '"conv_1"' in scan and '"usr_9"' in scan


def test_author_by_name_is_equality_on_the_stored_spelling_so_statistics_can_prune(store: Path) -> None:
    """No row is lower-cased: the name is matched against the few distinct stored names first."""
    plan = search(store, author="DANA LEE").explain()
    assert "to_lowercase" not in plan and '"Dana Lee"' in plan
    assert ids(search(store, author="DANA LEE")) == ids(search(store, author="usr_9"))


def test_bad_inputs_are_usage_or_store_errors(tmp_path: Path, store: Path) -> None:
    with pytest.raises(StoreError, match="no such store; create it with `auditreports ingest"):
        search(tmp_path / "nowhere")
    with pytest.raises(UsageError, match="not a date"):
        search(store, since="last tuesday")
    with pytest.raises(UsageError, match="empty"):
        search(store, since="2026-07-03", until="2026-07-01")


def test_cli_json_is_one_document_and_table_is_readable(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "--store", os.fspath(store), "--author", "usr_9", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["event_id"] for e in doc["events"]] == ["e1", "e2", "e5"]
    assert doc["count"] == 3 and doc["filters"]["author"] == "usr_9"
    assert main(["search", "--store", os.fspath(store), "--event-type", "auth."]) == 0
    out = capsys.readouterr().out
    assert "auth.login.failure" in out and "Dana Lee" in out
    assert main(["search", "--store", os.fspath(store), "--from", "junk"]) == 2


def test_actor_is_the_cli_and_notebook_name_of_the_author_filter(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "--store", os.fspath(store), "--actor", "Dana Lee", "--json"]) == 0
    by_actor = capsys.readouterr().out
    assert main(["search", "--store", os.fspath(store), "--author", "Dana Lee", "--json"]) == 0
    assert capsys.readouterr().out == by_actor and "Dana Lee" in by_actor
    assert search(store, actor="Dana Lee").collect().equals(search(store, author="Dana Lee").collect())
    with pytest.raises(UsageError, match="same filter"):
        search(store, actor="Dana Lee", author="usr_9")


def test_cli_table_shows_who_from_where_and_which_event_in_utc(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "--store", os.fspath(store), "--author", "usr_9"]) == 0
    header, *rows = [line for line in capsys.readouterr().out.splitlines() if "┆" in line]
    for column in ("time (UTC)", "actor_id", "actor_type", "ip", "event_id", "reason"):
        assert column in header
    assert any("e1" in row and "bad_password" in row for row in rows)


def test_cli_period_is_the_reporting_period_and_excludes_from_to(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "--store", os.fspath(store), "--period", "2026-07", "--json"]) == 0
    by_period = json.loads(capsys.readouterr().out)
    assert main(["search", "--store", os.fspath(store), "--from", "2026-07-01", "--to", "2026-07-31", "--json"]) == 0
    by_dates = json.loads(capsys.readouterr().out)
    assert by_period["events"] == by_dates["events"] and by_period["count"] > 0
    assert main(["search", "--store", os.fspath(store), "--period", "2026-06", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 0
    assert main(["search", "--store", os.fspath(store), "--period", "2026-07", "--from", "2026-07-02"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "auditreports: error: give either --period or --from/--to, not both"
    assert main(["search", "--store", os.fspath(store), "--period", "2026-Q9"]) == 2
    assert "--period '2026-Q9' is not a period" in capsys.readouterr().err


def test_cli_table_cuts_a_long_reason_with_an_ellipsis(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from auditreports.store import write_store

    long = "x" * 59 + "TAIL-NOT-SHOWN" + "y" * 40
    row = {
        "event_id": "long1",
        "timestamp": T0,
        "event_type": "config.system_prompt.update",
        "category": "config",
        "outcome": "success",
        "actor_type": "user",
        "actor_id": "usr_1",
        "reason": long,
        "source": "workspace",
        "raw": "{}",
        "subject_ids": [],
    }
    frame = conform(pl.DataFrame([row], schema_overrides={"subject_ids": pl.List(pl.String)}))
    write_store(tmp_path / "s", frame)
    assert main(["search", "--store", os.fspath(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "x" * 59 + "…" in out and "TAIL-NOT-SHOWN" not in out
