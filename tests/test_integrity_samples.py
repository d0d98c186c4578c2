"""End to end on the committed sample quarter: exactly the planted breaks and gap, nothing else."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from auditreports.integrity import Verification, verify
from auditreports.sources import load

AS_OF = datetime(2026, 10, 15, tzinfo=UTC)


def ground_truth(data_samples: Path) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads((data_samples / "ground_truth.json").read_text(encoding="utf-8"))
    return truth


@pytest.mark.parametrize("kind", ["modified", "deleted", "swapped", "inserted"])
def test_each_tampered_copy_shows_exactly_its_ground_truth_breaks(data_samples: Path, kind: str) -> None:
    (entry,) = [t for t in ground_truth(data_samples)["tampered"] if t["kind"] == kind]
    v = verify(load(data_samples / entry["path"]), as_of=AS_OF)
    assert v.events_checked == entry["events"]
    found = [(b.kind, b.event_id, b.position) for b in v.breaks]
    assert found == [(b["kind"], b["event_id"], b["position"]) for b in entry["breaks"]]
    assert v.verdict == "FAILED"


@pytest.fixture(scope="module")
def quarter(data_samples: Path) -> Verification:
    events = load([data_samples / "workspace", data_samples / "conversations"]).events
    return verify(events, period="2026-Q3", as_of=AS_OF)


@pytest.mark.slow
def test_the_clean_quarter_has_an_intact_chain_and_consistent_conversations(quarter: Verification) -> None:
    assert quarter.breaks == []
    assert quarter.check_verdict("hash_chain", "workspace") == "VERIFIED"
    assert quarter.check_verdict("sequence", "workspace") == "VERIFIED"
    assert quarter.check_verdict("continuity", "conversation") == "VERIFIED"
    assert quarter.check_verdict("hash_chain", "conversation") == "PARTIAL"  # no chain: never VERIFIED


@pytest.mark.slow
def test_the_planted_logging_gap_is_the_only_outage_and_keeps_the_quarter_from_verified(
    quarter: Verification, data_samples: Path
) -> None:
    (planted,) = [i for i in ground_truth(data_samples)["incidents"] if i.get("kind") == "logging_gap"]
    outages = [g for g in quarter.gaps if g["status"] == "likely_outage"]
    assert [(g["source"], g["start"][:10]) for g in outages] == [(planted["source"], planted["date"])]
    assert outages[0]["hours"] >= 20
    assert quarter.check_verdict("coverage", "workspace") == "PARTIAL"
    assert quarter.verdict == "PARTIAL"


@pytest.mark.slow
def test_audit_settings_and_retention_changes_of_the_quarter_are_listed(quarter: Verification) -> None:
    kinds = {n["kind"] for n in quarter.notices}
    assert {"retention_change", "audit_log_settings_change"} <= kinds


def test_a_csv_export_is_verified_by_rebuilding_each_json_record(data_samples: Path, tmp_path: Path) -> None:
    (csv_path,) = sorted((data_samples / "exports").glob("workspace-*.csv"))
    v = verify(load(csv_path), as_of=AS_OF)
    assert v.breaks == []
    reasons = [u.reason for u in v.unverified]
    assert len(reasons) == 1 and "previous period's manifest" in reasons[0]  # an export starts mid-chain

    lines = csv_path.read_text(encoding="utf-8").split("\n")
    lines[101] = lines[101].replace(",success,", ",failure,", 1)
    assert lines[101] != csv_path.read_text(encoding="utf-8").split("\n")[101]
    tampered = tmp_path / csv_path.name
    tampered.write_text("\n".join(lines), encoding="utf-8")
    v = verify(load(tampered), as_of=AS_OF)
    assert [(b.kind, b.position) for b in v.breaks] == [("modified", 100)]


def test_a_vendor_log_without_a_chain_is_partial(shared_real: Path) -> None:
    candidates = sorted(p for p in shared_real.rglob("*.json") if "cloudtrail" in str(p).lower())[:1]
    if not candidates:
        pytest.skip("no CloudTrail sample among the shared real logs")
    result = load(candidates[0])
    events = result.events.collect()
    if events.height == 0:
        pytest.skip(f"{candidates[0]} loaded no events")
    v = verify(events, as_of=AS_OF)
    assert v.verdict in ("PARTIAL", "FAILED")
    assert v.check_verdict("hash_chain") == "PARTIAL"
    assert pl.Series([u.check for u in v.unverified]).is_in(["hash_chain"]).any()


def test_verify_a_store_names_its_files_in_the_manifest(data_samples: Path, tmp_path: Path) -> None:
    from auditreports.cli import main

    (entry,) = [t for t in ground_truth(data_samples)["tampered"] if t["kind"] == "deleted"]
    store = tmp_path / "store"
    assert main(["ingest", str(data_samples / entry["path"]), "--store", str(store)]) == 0
    manifest = tmp_path / "manifest.json"
    code = main(["verify", "--store", str(store), "--manifest-out", str(manifest), "--as-of", "2026-10-15"])
    assert code == 1
    doc = json.loads(manifest.read_text(encoding="utf-8"))
    assert [(b["kind"], b["event_id"], b["position"]) for b in doc["breaks"]] == [
        (b["kind"], b["event_id"], b["position"]) for b in entry["breaks"]
    ]
    roles = {i["role"] for i in doc["inputs"]}
    assert roles == {"store"} and any(i["path"].endswith("ledger.json") for i in doc["inputs"])
    assert doc["origins"][0]["sha256"]  # the original export, from the store's ledger
    assert main(["verify-manifest", str(manifest)]) == 0


@pytest.mark.parametrize("relink", [False, True], ids=["copy-of-next-record", "own-hash-successor-relinked"])
def test_a_held_out_forgery_in_a_real_export_is_inserted_naming_only_the_forged_record(
    data_samples: Path, tmp_path: Path, relink: bool
) -> None:
    # Held out: not one of the generator's tampered copies. The forger copies a genuine
    # record with a new id and reason, keeping its prev_hash, hash and sequence - or
    # (relink) writes a valid record of its own and re-points the successor's prev_hash.
    import gzip

    import rfc8785

    from auditreports.integrity import canonical_hash

    lines = gzip.decompress((data_samples / "workspace" / "workspace-audit-2026-Q3-0002.ndjson.gz").read_bytes())
    records = [json.loads(line) for line in lines.splitlines() if line.strip()]
    at = 4321
    genuine = records[at]
    forged = {**genuine, "id": "evt_HELDOUTFORGERY0000000000", "details": {**genuine["details"], "reason": "ok'd"}}
    if relink:
        forged["prev_hash"] = records[at - 1]["hash"]
        forged["hash"] = canonical_hash(forged)
        records[at] = {**genuine, "prev_hash": forged["hash"]}
    records.insert(at, forged)
    path = tmp_path / "workspace-audit-2026-Q3-0002.ndjson"
    path.write_bytes(b"".join(rfc8785.dumps(r) + b"\n" for r in records))
    v = verify(load(path), as_of=AS_OF)
    assert [(b.kind, b.event_id, b.position) for b in v.breaks] == [("inserted", forged["id"], at)]
    assert v.breaks[0].event_ids == (forged["id"],)
