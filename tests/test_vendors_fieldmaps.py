"""The vendor mapping engine on small synthetic inputs (no ../shared needed)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from auditreports.errors import ConfigError
from auditreports.sources.registry import detect_format, formats, get_format
from auditreports.sources.vendors import MAPS_DIR, load_field_map, vendor_field_maps
from auditreports.sources.vendors.mapping import TRANSFORMS

OKTA = {
    "uuid": "e1",
    "published": "2024-05-01T10:00:00.123Z",
    "eventType": "user.session.start",
    "actor": {"id": "00u1", "type": "User", "alternateId": "dana@acme.example", "displayName": "Dana"},
    "client": {"ipAddress": "198.51.100.7", "userAgent": {"rawUserAgent": "Mozilla/5.0"}},
    "outcome": {"result": "FAILURE", "reason": "INVALID_CREDENTIALS"},
}


def _line(record: dict[str, object]) -> bytes:
    return json.dumps(record).encode() + b"\n"


def test_shipped_maps_all_load_and_register_as_formats() -> None:
    maps = vendor_field_maps()
    assert set(maps) == {
        "cloudtrail",
        "okta",
        "github",
        "zendesk",
        "openai",
        "slack",
        "google-workspace",
        "google-workspace-alert",
        "azure-ad",
        "office365",
    }
    assert set(maps) <= set(formats())
    assert all(t in TRANSFORMS for m in maps.values() for t in m.transforms)


def test_every_line_of_a_damaged_ndjson_file_is_loaded_quarantined_or_blank() -> None:
    ok = _line(OKTA)
    data = (
        ok
        + b"\n"  # blank
        + b'{"uuid": "e2", "published": "2024-05-01T10:00:01Z", "eventType": "user.sess\n'  # truncated
        + b"[1, 2]\n"  # JSON, not an object
        + _line({**OKTA, "uuid": "e3", "published": "redacted"})
        + _line({k: v for k, v in OKTA.items() if k != "published"})
        + b'{"eventType": "x", "published": "2024-05-01T10:00:00Z", "actor": {"id": "\xff"}}\n'  # not UTF-8
        + _line({**OKTA, "uuid": "e4", "outcome": {"result": "SUCCESS"}})
    )
    parsed = get_format("okta").parse(data, "okta.ndjson")
    assert parsed.lines_read == 8 == parsed.loaded_lines + parsed.quarantined_lines + parsed.blank_lines
    assert (parsed.loaded_lines, parsed.quarantined_lines, parsed.blank_lines) == (2, 5, 1)
    q = parsed.quarantine.sort("source_line")
    assert q["source_line"].to_list() == [3, 4, 5, 6, 7]
    reasons = q["reason"].to_list()
    assert "not valid JSON" in reasons[0]
    assert "not an object" in reasons[1]
    assert "redacted" in reasons[2] and "not a date" in reasons[2]
    assert "no timestamp" in reasons[3] and "published" in reasons[3]
    assert "UTF-8" in reasons[4]
    for row in q.iter_rows(named=True):  # the quarantined bytes are exactly what the file holds there
        assert data[row["source_offset"] : row["source_offset"] + len(row["raw"])] == row["raw"]
    events = parsed.events
    assert events["event_type"].to_list() == ["auth.login.failure", "auth.login.success"]
    assert events["outcome"].cast(pl.String).to_list() == ["failure", "success"]
    first = events.row(0, named=True)
    assert (first["actor_email"], first["ip"], first["user_agent"]) == (
        "dana@acme.example",
        "198.51.100.7",
        "Mozilla/5.0",
    )
    assert first["raw"] == ok.decode().rstrip("\n")
    assert first["source_offset"] == 0 and events["source_offset"][1] == data.rindex(b'{"uuid": "e4"')


def test_json_array_and_envelope_layouts_account_for_their_framing_lines() -> None:
    records = [OKTA, {**OKTA, "uuid": "e2"}]
    array = json.dumps(records, indent=2).encode()
    parsed = get_format("okta").parse(array, "page.json")
    assert parsed.layout == "json-array" and parsed.events.height == 2
    assert parsed.lines_read == array.count(b"\n") + 1 == parsed.loaded_lines
    trail = json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "1.08",
                    "eventID": "a",
                    "eventTime": "2024-05-01T10:00:00Z",
                    "eventSource": "cloudtrail.amazonaws.com",
                    "eventName": "StopLogging",
                    "userIdentity": {"type": "Root", "arn": "arn:aws:iam::1:root"},
                }
            ]
        },
        indent=1,
    ).encode()
    # A truncated envelope (cut inside the second record) keeps the first and quarantines the rest.
    cut = trail[:-3] + b',\n {"eventID": "b", "eventName": "Del'
    parsed = get_format("cloudtrail").parse(cut, "trail.json")
    assert parsed.events["event_type"].to_list() == ["config.audit_log_settings.update"]
    assert parsed.quarantine.height == 1 and "not valid JSON" in parsed.quarantine["reason"][0]
    assert parsed.lines_read == parsed.loaded_lines + parsed.quarantined_lines + parsed.blank_lines


def test_timestamps_in_epoch_and_naive_forms_are_normalised_and_flagged() -> None:
    base = {"action": "user.login", "actor": "octo"}
    data = b"".join(
        _line({**base, "_document_id": str(i), "@timestamp": ts})
        for i, ts in enumerate([1711431195806, "2024-03-26 05:33:15.806", "2024-03-26T07:33:15.806+02:00", 1711431195])
    )
    events = get_format("github").parse(data, "gh.ndjson").events
    assert events["timestamp"].dt.epoch("ms").to_list() == [1711431195806] * 3 + [1711431195000]
    flags = events["flags"].to_list()
    assert flags[0] == []  # epoch ms is GitHub's own form
    assert "naive_timestamp" in flags[1] and "odd_timestamp" in flags[1]
    assert "odd_timestamp" in flags[2] and "odd_timestamp" in flags[3]


def test_values_that_change_type_between_rows_are_kept_as_text() -> None:
    rows = [
        {"action": "repo.create", "actor": "a", "created_at": 1700000000000, "org": "acme", "org_id": 7},
        {"action": "repo.create", "actor": "a", "created_at": 1700000000001, "org": [], "org_id": [8, 9]},
    ]
    events = get_format("github").parse(b"".join(_line(r) for r in rows), "gh.ndjson").events
    assert events["resource_id"].to_list() == ["acme", "[]"]
    assert events["event_type"].to_list() == ["github.repo.create"] * 2
    assert events["flags"].list.contains("synthetic_id").all()
    assert events["event_id"].str.starts_with("sha256:").all() and events["event_id"].n_unique() == 2


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (OKTA, "okta"),
        (
            {"eventVersion": "1.05", "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "eventTime": "x"},
            "cloudtrail",
        ),
        ({"action": "user.login", "actor": "octo", "@timestamp": 1}, "github"),
        ({"action": "update", "actor_id": 1, "source_type": "user", "created_at": "x"}, "zendesk"),
        ({"type": "login.failed", "effective_at": 1, "actor": {}, "object": "organization.audit_log"}, "openai"),
        ({"action": "user_login", "actor": {}, "context": {}, "date_create": 1}, "slack"),
        (
            {
                "id": {"applicationName": "login", "time": "x"},
                "name": "login_success",
                "kind": "admin#reports#activity",
            },
            "google-workspace",
        ),
        ({"ResultType": "0", "UserPrincipalName": "u", "TimeGenerated": "x", "IPAddress": "1"}, "azure-ad"),
    ],
)
def test_vendor_is_detected_from_record_keys(record: dict[str, object], expected: str) -> None:
    assert detect_format(_line(record) * 3, "export.ndjson").name == expected


def test_an_invalid_field_map_names_the_file_and_the_problem(tmp_path: Path) -> None:
    good = (MAPS_DIR / "okta.yml").read_text()
    bad = tmp_path / "bad.yml"
    bad.write_text(good.replace("actor_id: [actor.id]", "actor_id: ['actor..id']"))
    with pytest.raises(ConfigError, match=r"bad\.yml.*actor\.\.id"):
        load_field_map(bad)
    bad.write_text(good + "\nsurprise: 1\n")
    with pytest.raises(ConfigError, match=r"bad\.yml:\d+: unknown key .surprise"):
        load_field_map(bad)
    bad.write_text(
        good.replace("event_type: auth.login.failure", "event_type: auth.login.failure\n    outcome: maybe", 1)
    )
    with pytest.raises(ConfigError, match="outcome must be one of"):
        load_field_map(bad)
