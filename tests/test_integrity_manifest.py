"""Evidence manifest, signing, quarter-to-quarter continuity and the verify / keygen / verify-manifest commands."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from test_integrity_chain import build_chain

from auditreports.cli import main
from auditreports.integrity import generate_keypair, load_private_key, load_public_key, verify_manifest

AS_OF = ["--as-of", "2026-10-15"]


def write_ndjson(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(rfc8785.dumps(r) + b"\n" for r in records))
    return path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()  # drop what earlier commands printed
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out)  # exactly one JSON document, nothing else, or this raises


@pytest.fixture
def quarters(tmp_path: Path) -> dict[str, Path]:
    """Two consecutive quarters of one chain, and a third log that does not continue it."""
    chain = build_chain(400)
    q2 = write_ndjson(tmp_path / "q2" / "workspace-0001.ndjson", chain[:200])
    q3 = write_ndjson(tmp_path / "q3" / "workspace-0002.ndjson", chain[200:])
    other = build_chain(200, first_seq=201, prev="b" * 64)
    stranger = write_ndjson(tmp_path / "stranger" / "workspace-0002.ndjson", other)
    return {"q2": q2, "q3": q3, "stranger": stranger, "dir": tmp_path}


def test_verify_json_exit_codes_and_one_document(quarters: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, doc = run_json(capsys, "verify", str(quarters["q2"]), *AS_OF)
    assert (code, doc["verdict"]) == (0, "VERIFIED")
    assert doc["events_checked"] == 200 and doc["breaks"] == [] and doc["unverified"] == []
    code, doc = run_json(capsys, "verify", str(quarters["q3"]), *AS_OF)
    assert (code, doc["verdict"]) == (3, "PARTIAL")  # starts mid-chain, no previous manifest
    assert doc["unverified"][0]["check"] == "hash_chain"


def test_a_tampered_file_fails_with_exit_1_and_the_readable_summary_names_the_break(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = build_chain(100)
    records[42] = {**records[42], "ip_address": "203.0.113.99"}
    path = write_ndjson(tmp_path / "ws.ndjson", records)
    assert main(["verify", str(path), *AS_OF]) == 1
    out = capsys.readouterr().out
    assert "Integrity: FAILED" in out and f"modified at position 42 (workspace, {records[42]['id']})" in out


def test_usage_errors_exit_2(quarters: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", *AS_OF]) == 2  # neither SRC nor --store
    assert main(["verify", str(quarters["q2"]), "--period", "2026-Q5"]) == 2
    assert main(["verify", str(quarters["dir"] / "nope.ndjson")]) == 2
    assert main(["verify", str(quarters["q2"]), "--sign-key", str(quarters["q2"])]) == 2  # not a key
    err = capsys.readouterr().err
    assert "Traceback" not in err


def test_next_quarter_continues_from_the_previous_manifest(
    quarters: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = quarters["dir"] / "evidence" / "q2-manifest.json"
    code, _ = run_json(capsys, "verify", str(quarters["q2"]), "--manifest-out", str(manifest), *AS_OF)
    assert code == 0
    doc = json.loads(manifest.read_text())
    assert doc["chains"]["workspace"]["head"]["seq"] == 200
    code, result = run_json(capsys, "verify", str(quarters["q3"]), "--previous-manifest", str(manifest), *AS_OF)
    assert (code, result["verdict"]) == (0, "VERIFIED")
    code, result = run_json(capsys, "verify", str(quarters["stranger"]), "--previous-manifest", str(manifest), *AS_OF)
    assert (code, result["verdict"]) == (1, "FAILED")
    assert [b["kind"] for b in result["breaks"]] == ["discontinuity"]
    assert "does not continue from the previous manifest" in result["breaks"][0]["detail"]


def test_a_log_cut_short_since_its_last_manifest_is_truncated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chain = build_chain(300)
    full = write_ndjson(tmp_path / "full" / "ws.ndjson", chain)
    manifest = tmp_path / "m.json"
    assert main(["verify", str(full), "--manifest-out", str(manifest), *AS_OF]) == 0
    cut = write_ndjson(tmp_path / "cut" / "ws.ndjson", chain[:280])
    capsys.readouterr()
    code, result = run_json(capsys, "verify", str(cut), "--previous-manifest", str(manifest), *AS_OF)
    assert code == 1
    assert [(b["kind"], b["position"]) for b in result["breaks"]] == [("truncated", 279)]
    assert "20 record(s) at the tail are gone" in result["breaks"][0]["detail"]


def test_keygen_writes_a_private_key_only_its_owner_can_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "--out", str(tmp_path / "keys")]) == 0
    private, public = tmp_path / "keys" / "auditreports.key", tmp_path / "keys" / "auditreports.pub"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    load_private_key(private), load_public_key(public)
    assert main(["keygen", "--out", str(tmp_path / "keys")]) == 2  # never overwrites a key
    assert "already exists" in capsys.readouterr().err


def test_signed_manifest_round_trip_and_tampering_is_detected(
    quarters: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    keys = quarters["dir"] / "keys"
    private, public, _ = generate_keypair(keys)
    _, other_public, _ = generate_keypair(keys, name="other")
    manifest = quarters["dir"] / "evidence" / "manifest.json"
    code = main(["verify", str(quarters["q2"]), "--manifest-out", str(manifest), "--sign-key", str(private), *AS_OF])
    assert code == 0
    capsys.readouterr()
    doc = json.loads(manifest.read_text())
    assert doc["verdict"] == "VERIFIED" and doc["signature"]["algorithm"] == "Ed25519"
    assert doc["inputs"][0]["path"] == "../q2/workspace-0001.ndjson"  # relative to the manifest: the folder can move
    assert main(["verify-manifest", str(manifest), "--public-key", str(public)]) == 0
    assert "Result: OK" in capsys.readouterr().out
    assert verify_manifest(manifest, public_key=load_public_key(other_public)).signature == "wrong-key"

    edited = dict(doc, verdict="FAILED")
    manifest.write_text(json.dumps(edited))
    assert main(["verify-manifest", str(manifest), "--public-key", str(public)]) == 1
    manifest.write_text(json.dumps(doc))
    with quarters["q2"].open("ab") as fh:
        fh.write(b"\n")
    code, result = run_json(capsys, "verify-manifest", str(manifest), "--public-key", str(public))
    assert code == 1 and result["signature"] == "valid"
    assert result["files"][0]["status"] == "changed"


def test_an_unsigned_manifest_cannot_pass_as_signed(
    quarters: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, public, _ = generate_keypair(quarters["dir"] / "keys")
    manifest = quarters["dir"] / "m.json"
    assert main(["verify", str(quarters["q2"]), "--manifest-out", str(manifest), *AS_OF]) == 0
    assert main(["verify-manifest", str(manifest)]) == 0  # files unchanged, and it says it is unsigned
    assert "not signed" in capsys.readouterr().out
    assert main(["verify-manifest", str(manifest), "--public-key", str(public)]) == 1
    assert main(["verify-manifest", str(quarters["dir"] / "missing.json")]) == 1
