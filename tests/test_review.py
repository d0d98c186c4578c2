"""The review workflow without a PDF: stable finding ids, the review file, the review command, comparison.

``held_out`` (conftest) is a sample quarter of another seed than data_samples/, a
twentieth of its size: the same kind of data, with events and ids the tests were not
written against.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from auditreports.cli import main as cli_main
from auditreports.detect import detect
from auditreports.errors import InputError, ParameterError, ReviewFileError, UsageError
from auditreports.parameters import check_parameters
from auditreports.review import (
    Previous,
    compare_findings,
    final_blockers,
    load_previous,
    load_review,
    record_decision,
    undecided,
    write_review,
)
from auditreports.store import open_store


@pytest.fixture(scope="module")
def findings(held_out: Path) -> pl.DataFrame:
    return detect(open_store(held_out).events).frame


def _detect_json(store: Path, seed: str) -> list[dict[str, object]]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-m", "auditreports", "detect", "--store", str(store), "--json"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return list(json.loads(out.stdout)["findings"])


# ---------------------------------------------------------------- stable finding ids


def test_two_detect_json_runs_give_identical_finding_ids(held_out: Path) -> None:
    # Separate processes with different hash seeds: nothing in the id may depend on the process.
    first = _detect_json(held_out, "1")
    second = _detect_json(held_out, "2")
    assert len(first) >= 10
    assert [f["finding_id"] for f in first] == [f["finding_id"] for f in second]
    assert len({f["finding_id"] for f in first}) == len(first)


def test_finding_id_is_rule_group_and_first_evidence_event(findings: pl.DataFrame) -> None:
    # Pinned: a decision recorded against an id must keep applying, so the formula is part of the contract.
    for f in findings.iter_rows(named=True):
        key = "\x1f".join([f["rule_id"], f["group"], f["event_ids"][0]])
        assert f["finding_id"] == hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


def test_ids_do_not_change_when_unrelated_events_are_added_outside_the_window(
    held_out: Path, findings: pl.DataFrame
) -> None:
    events = open_store(held_out).events.collect()
    # A year later, every event again under new ids: far outside every finding's window.
    later = events.with_columns(
        (pl.col("timestamp") + pl.duration(days=400)).alias("timestamp"),
        (pl.lit("later_") + pl.col("event_id")).alias("event_id"),
    )
    more = detect(pl.concat([events, later])).frame
    before = findings.select("finding_id", "event_ids")
    after = more.select("finding_id", "event_ids")
    joined = before.join(after, on="finding_id", how="left", suffix="_after")
    assert joined["event_ids_after"].null_count() == 0, "a finding's id changed when unrelated events were added"
    assert joined["event_ids"].to_list() == joined["event_ids_after"].to_list()
    assert more.height > findings.height  # the later copy found its own bursts, under other ids


def test_a_burst_that_grows_keeps_its_id(findings: pl.DataFrame, held_out: Path) -> None:
    # A draft run mid-burst and the final run agree: the id does not hold the window's end.
    events = open_store(held_out).events.collect()
    burst = findings.filter(pl.col("rule_name") == "brute_force_login").row(0, named=True)
    cut = events.filter(~pl.col("event_id").is_in(burst["event_ids"][-1:]))
    early = detect(cut, rules=["brute_force_login"]).frame
    assert burst["finding_id"] in early["finding_id"].to_list()


# ---------------------------------------------------------------- the review file


def test_review_command_lists_every_finding_undecided_with_comments(
    held_out: Path, findings: pl.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "review.yml"
    assert cli_main(["review", "--store", str(held_out), "--period", "2026-Q3", "--out", str(out)]) == 0
    review = load_review(out, finding_ids=findings["finding_id"])
    assert list(review.entries) == findings["finding_id"].to_list()
    assert review.decisions == {}
    text = out.read_text(encoding="utf-8")
    first = findings.row(0, named=True)
    line = next(ln for ln in text.splitlines() if first["finding_id"] in ln)
    # title, severity and window as a comment on the finding's line
    assert f"# {first['severity']} · {first['title']} · {first['window_start']:%Y-%m-%d %H:%M}" in line
    assert "2026-Q3" in text.splitlines()[0]


def test_review_rerun_keeps_decisions_and_comments_and_adds_new_findings(
    held_out: Path, findings: pl.DataFrame, tmp_path: Path
) -> None:
    out = tmp_path / "review.yml"
    assert cli_main(["review", "--store", str(held_out), "--period", "2026-Q3", "--out", str(out)]) == 0
    ids = findings["finding_id"].to_list()
    record_decision(
        out, ids[0], "incident", note="INC-2291: password reset, IP blocked", by="Dana Lee", at="2026-10-03"
    )
    # The reviewer's own edits: a comment, the reviewer block, and an entry removed (a finding "new" to the file).
    text = out.read_text(encoding="utf-8").replace("  name:\n", "  name: Dana Lee  # signs the Q3 review\n")
    start = text.index(f"  - finding: {ids[1]}")
    end = text.index("  - finding:", start + 5)
    out.write_text(text[:start] + text[end:] + "# kept at the end\n", encoding="utf-8")
    assert cli_main(["review", "--store", str(held_out), "--period", "2026-Q3", "--out", str(out)]) == 0
    review = load_review(out, finding_ids=ids)
    assert set(review.entries) == set(ids)
    assert review.reviewer_name == "Dana Lee"
    kept = review.decisions[ids[0]]
    assert (kept.decision, kept.note, kept.by, kept.at) == (
        "incident",
        "INC-2291: password reset, IP blocked",
        "Dana Lee",
        dt.date(2026, 10, 3),
    )
    assert review.entries[ids[1]].decision is None
    after = out.read_text(encoding="utf-8")
    assert "# signs the Q3 review" in after and "# kept at the end" in after
    assert after.index(f"finding: {ids[1]}") > after.index(f"finding: {ids[-1]}")  # appended, not reordered


BAD = """\
reviewer: {{name: Dana Lee, role: Security lead}}
decisions:
  - finding: {a}
    decision: incdent
  - finding: not-a-finding
    decision: expected
  - finding: {b}
    decision: exception
    by: Dana Lee
  - finding: {c}
    decision: incident
    note: "   "
  - finding: {d}
    decision: expected
    at: 2026-13-01
  - finding: {a}
    decision: expected
  - finding: {e}
    decision: expected
    at: 3 October
"""


def test_every_problem_is_one_line_with_file_and_line(
    held_out: Path, findings: pl.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = findings["finding_id"].to_list()
    path = tmp_path / "review.yml"
    path.write_text(BAD.format(a=ids[0], b=ids[1], c=ids[2], d=ids[3], e=ids[4]), encoding="utf-8")
    code = cli_main(["review", "--store", str(held_out), "--period", "2026-Q3", "--out", str(path)])
    assert code == 2
    err = [ln for ln in capsys.readouterr().err.strip().splitlines() if not ln.startswith("[auditreports]")]
    err[0] = err[0].removeprefix("auditreports: error: ")
    assert err == [
        f"{path}:4: unknown decision 'incdent'; use one of: expected, exception, incident, false_positive",
        f"{path}:8: decision 'exception' on finding {ids[1]} needs a note (ticket, what was done)",
        f"{path}:11: decision 'incident' on finding {ids[2]} needs a note (ticket, what was done)",
        f"{path}:15: bad date '2026-13-01' in 'at'; write it as YYYY-MM-DD, e.g. 2026-10-03",
        f"{path}:16: finding {ids[0]} is listed twice (first at line 3); keep one entry",
        f"{path}:20: bad date '3 October' in 'at'; write it as YYYY-MM-DD, e.g. 2026-10-03",
    ]
    assert path.read_text(encoding="utf-8") == BAD.format(a=ids[0], b=ids[1], c=ids[2], d=ids[3], e=ids[4])
    # An unknown id shows once the findings are known (after detection), with the same one-line form.
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:2] + lines[4:6]) + "\n", encoding="utf-8")
    assert cli_main(["review", "--store", str(held_out), "--period", "2026-Q3", "--out", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (
        f"auditreports: error: {path}:3: unknown finding id 'not-a-finding': no such finding in this period; "
        "fix the id or remove the entry"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("decisions: [\n", ":2: not valid YAML"),
        ("- just a list\n", ":1: the review file must be a mapping"),
        ("reviewer: Dana\n", ":1: reviewer must be a mapping"),
        ("decisions:\n  - finding: x\n    decision: yes\n", ":3: unknown decision 'yes'"),
        ("decisions:\n  - decision: expected\n", ":2: a decision without a finding id"),
        ("decisions:\n  - finding: x\n    owner: me\n", ":3: unknown key 'owner'"),
        ("signed: true\n", ":1: unknown key 'signed'"),
        ("decisions:\n  - finding: x\n    decision: expected\n    note: [a, b]\n", ":4: note must be text"),
        ("decisions:\n  - finding: [x, y]\n", ":2: finding must be one finding id"),
    ],
)
def test_malformed_review_files(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "review.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReviewFileError) as caught:
        load_review(path)
    assert caught.value.exit_code == 2
    assert f"{path}{expected}" in caught.value.message.splitlines()[0]


def test_a_missing_review_file_says_how_to_write_one(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="auditreports review --store"):
        load_review(tmp_path / "nope.yml")


def test_record_decision_refuses_bad_decisions_and_leaves_the_file(findings: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "review.yml"
    write_review(path, findings)
    before = path.read_bytes()
    ids = findings["finding_id"]
    with pytest.raises(UsageError, match="needs a note"):
        record_decision(path, ids[0], "exception", finding_ids=ids)
    with pytest.raises(UsageError, match="unknown decision"):
        record_decision(path, ids[0], "accepted", finding_ids=ids)
    with pytest.raises(UsageError, match="unknown finding id"):
        record_decision(path, "deadbeef", "expected", finding_ids=ids)
    assert path.read_bytes() == before
    entry = record_decision(path, ids[0], "false_positive", note=None, by="Sam Ortiz", at=dt.date(2026, 10, 4))
    assert entry.describe() == "false positive (Sam Ortiz, 2026-10-04)"


def test_final_blockers_are_the_undecided_critical_and_high(findings: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "review.yml"
    write_review(path, findings)
    high = findings.filter(pl.col("severity").cast(pl.String).is_in(["critical", "high"]))["finding_id"].to_list()
    assert final_blockers(findings, load_review(path)) == high
    record_decision(path, high[0], "incident", note="INC-1", by="Dana Lee")
    review = load_review(path)
    assert final_blockers(findings, review) == high[1:]
    assert undecided(findings, review).height == findings.height - 1
    for fid in high[1:]:
        record_decision(path, fid, "expected", by="Dana Lee")
    assert final_blockers(findings, load_review(path)) == []


# ---------------------------------------------------------------- quarter over quarter


def _frame(rows: list[tuple[str, str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"finding_id": i, "rule_id": r, "severity": "high", "title": t, "group": g} for i, r, t, g in rows],
        schema={
            "finding_id": pl.String,
            "rule_id": pl.String,
            "severity": pl.String,
            "title": pl.String,
            "group": pl.String,
        },
    )


def test_compare_new_recurring_resolved_with_suggestions(tmp_path: Path) -> None:
    previous_review = tmp_path / "old.yml"
    previous_review.write_text(
        "reviewer: {name: Dana Lee}\ndecisions:\n"
        "  - finding: p1\n    decision: expected\n    note: quarterly key rotation\n    by: Dana Lee\n    at: 2026-07-02\n",
        encoding="utf-8",
    )
    previous = Previous(
        tmp_path,
        "2026-Q2",
        _frame(
            [
                ("p1", "R1", "key used from a new IP", '{"actor_id":"key_1","ip":"192.0.2.1"}'),
                ("p2", "R2", "brute force", '{"actor_id":"usr_9"}'),
            ]
        ),
        load_review(previous_review),
    )
    # Same rule and group (keys in another order), a new group, and R2/usr_9 gone.
    current = _frame(
        [
            ("c1", "R1", "key used from a new IP", '{"ip":"192.0.2.1","actor_id":"key_1"}'),
            ("c2", "R1", "key used from a new IP", '{"actor_id":"key_2","ip":"192.0.2.1"}'),
        ]
    )
    out = compare_findings(current, previous)
    rows = {(r["finding_id"], r["status"]): r for r in out.iter_rows(named=True)}
    assert set(rows) == {("c1", "recurring"), ("c2", "new"), (None, "resolved")}
    assert rows["c1", "recurring"]["previous_ids"] == ["p1"]
    assert rows["c1", "recurring"]["suggestion"] == "expected — quarterly key rotation (Dana Lee, 2026-07-02)"
    assert rows["c2", "new"]["suggestion"] is None
    assert rows[None, "resolved"]["previous_ids"] == ["p2"]


def test_previous_folder_must_hold_a_report(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        load_previous(tmp_path / "missing")
    with pytest.raises(InputError, match=r"evidence/findings\.json does not exist"):
        load_previous(tmp_path)


# ---------------------------------------------------------------- parameters, before any kernel


def test_parameters_validate_the_review_file_and_previous_folder(held_out: Path, tmp_path: Path) -> None:
    base = {"store": str(held_out), "period": "2026-Q3"}
    bad = tmp_path / "review.yml"
    bad.write_text("decisions:\n  - finding: x\n    decision: maybe\n", encoding="utf-8")
    with pytest.raises(ReviewFileError, match=re.escape(f"{bad}:3: unknown decision 'maybe'")):
        check_parameters("soc2", {**base, "review_file": str(bad)})
    with pytest.raises(ParameterError, match="does not exist"):
        check_parameters("hipaa", {**base, "review_file": str(tmp_path / "none.yml")})
    with pytest.raises(InputError, match=r"findings\.json"):
        check_parameters("soc2", {**base, "previous_dir": str(tmp_path)})
    with pytest.raises(ParameterError, match="unknown parameter 'review_file' for a gdpr report"):
        check_parameters("gdpr", {**base, "subject": "cus_1", "received": "2026-10-01", "review_file": str(bad)})
    assert check_parameters("soc2", {**base, "final": "yes"})["final"] is True


def test_report_review_options_are_for_framework_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli_main(
        ["report", "gdpr", "--store", str(tmp_path), "--period", "2026-Q3", "--subject", "cus_1", "--received",
         "2026-10-01", "--final", "--out", str(tmp_path / "o")]
    )  # fmt: skip
    assert code == 2
    assert "--final are for framework reports (soc2, hipaa, …), not gdpr" in capsys.readouterr().err


def test_ids_and_notes_that_look_like_numbers_stay_text(tmp_path: Path) -> None:
    # A 24-hex-digit id can be all digits; a note can be a bare ticket number.
    frame = pl.DataFrame(
        {"finding_id": ["000000000000000000000123", "1e5000000000000000000000"], "severity": ["high", "low"]},
        schema={"finding_id": pl.String, "severity": pl.String},
    )
    path = tmp_path / "review.yml"
    write_review(path, frame)
    record_decision(path, "000000000000000000000123", "incident", note="2291", by="Dana Lee", at="2026-10-03")
    update = write_review(path, frame)
    assert update.added == [] and update.listed == 2
    review = load_review(path, finding_ids=frame["finding_id"])
    assert list(review.entries) == frame["finding_id"].to_list()
    assert review.decisions["000000000000000000000123"].note == "2291"
