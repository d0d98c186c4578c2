"""The evidence manifest: what was verified, with which result, in a form anyone can re-check.

``manifest.json`` names every input with its SHA-256, counts, first/last event of
each source, the chain head of each hash-chained source (the hash and sequence the
next period must continue from), the verifier's version and parameters, and the
verdict. Signed with Ed25519 when a key is given. ``verify_manifest`` re-checks the
signature and that every named file still has the recorded SHA-256 - an auditor's
"has anything changed since this was signed?".
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import IntegrityError
from .model import Verification
from .signing import embedded_public_key, key_id, sign_document, signature_matches, signed_bytes

__all__ = ["MANIFEST_KIND", "ManifestCheck", "build_manifest", "file_entry", "verify_manifest", "write_manifest"]

MANIFEST_KIND = "auditreports.evidence-manifest"
MANIFEST_VERSION = 1


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def file_entry(path: str | os.PathLike[str], *, role: str = "input", base: Path | None = None) -> dict[str, Any]:
    """One ``inputs`` entry: the path (relative to ``base`` when below it), SHA-256 and size."""
    p = Path(path).resolve()
    sha, size = _sha256_file(p)
    shown = str(p)
    if base is not None:
        try:
            shown = os.path.relpath(p, base.resolve())
        except ValueError:  # another drive
            shown = str(p)
    return {"path": shown, "sha256": sha, "bytes": size, "role": role}


def build_manifest(
    verification: Verification,
    *,
    inputs: list[dict[str, Any]],
    origins: list[dict[str, Any]] | None = None,
    previous_manifest: str | os.PathLike[str] | None = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """The manifest of ``verification`` over ``inputs`` (see :func:`file_entry`)."""
    from .._version import __version__

    previous = None
    if previous_manifest is not None:
        sha, _ = _sha256_file(Path(previous_manifest))
        prev_doc = json.loads(Path(previous_manifest).read_text(encoding="utf-8"))
        previous = {"path": str(previous_manifest), "sha256": sha, "manifest_id": prev_doc.get("manifest_id")}
    doc: dict[str, Any] = {
        "kind": MANIFEST_KIND,
        "manifest_version": MANIFEST_VERSION,
        "created_at": (created_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "verifier": {"name": "auditreports", "version": __version__, "parameters": verification.parameters},
        "verdict": verification.verdict,
        "events_checked": verification.events_checked,
        "checks": [c.to_dict() for c in verification.checks],
        "breaks": [b.to_dict() for b in verification.breaks],
        "unverified": [u.to_dict() for u in verification.unverified],
        "sources": list(verification.sources),
        "chains": verification.chain_heads,
        "inputs": inputs,
        "origins": origins or [],
        "previous_manifest": previous,
    }
    doc["manifest_id"] = hashlib.sha256(signed_bytes(doc)).hexdigest()
    return doc


def write_manifest(
    manifest: dict[str, Any], path: str | os.PathLike[str], *, sign_key: Ed25519PrivateKey | None = None
) -> Path:
    """Write ``manifest`` (signed when ``sign_key`` is given) as indented JSON; return the path."""
    doc = dict(manifest)
    doc.pop("signature", None)
    if sign_key is not None:
        doc["signature"] = sign_document(doc, sign_key)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out


@dataclass
class ManifestCheck:
    """The result of :func:`verify_manifest`: ``ok`` only if signature and every file check out."""

    path: str
    signature: str  # "valid", "valid-embedded-key", "invalid", "unsigned", "wrong-key"
    key_id: str | None
    files: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "manifest": self.path, "signature": self.signature, "key_id": self.key_id,
                "files": self.files, "problems": self.problems}  # fmt: skip


def verify_manifest(path: str | os.PathLike[str], *, public_key: Ed25519PublicKey | None = None) -> ManifestCheck:
    """Check a manifest's signature and that the files it names still have their SHA-256.

    With ``public_key`` the manifest must be signed by that key. Without it a signature
    is checked against the key embedded in it, which proves the manifest is unchanged
    since signing but not who signed it. Raises IntegrityError when the manifest
    cannot be read at all.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IntegrityError(f"manifest {p} does not exist; pass the manifest.json written by verify") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"manifest {p} is not valid JSON ({exc}); it was damaged or is not a manifest") from None
    if not isinstance(doc, dict) or doc.get("kind") != MANIFEST_KIND:
        raise IntegrityError(f"{p} is not an auditreports evidence manifest; pass the manifest.json written by verify")
    problems: list[str] = []
    embedded = embedded_public_key(doc)
    if "signature" not in doc:
        status, kid = "unsigned", None
        if public_key is not None:
            problems.append("the manifest is not signed, but a public key was given to check it against")
    elif public_key is not None:
        kid = key_id(public_key)
        if signature_matches(doc, public_key):
            status = "valid"
        else:
            wrong_key = embedded is not None and key_id(embedded) != kid and signature_matches(doc, embedded)
            status = "wrong-key" if wrong_key else "invalid"
            problems.append(
                f"the manifest is signed by another key ({key_id(embedded)})" if wrong_key and embedded is not None
                else "the signature does not match: the manifest was changed after it was signed"
            )  # fmt: skip
    else:
        kid = key_id(embedded) if embedded is not None else None
        if embedded is not None and signature_matches(doc, embedded):
            status = "valid-embedded-key"
        else:
            status = "invalid"
            problems.append("the signature does not match: the manifest was changed after it was signed")
    if doc.get("manifest_id") is not None:
        body = {k: v for k, v in doc.items() if k not in ("signature", "manifest_id")}
        if hashlib.sha256(signed_bytes(body)).hexdigest() != doc["manifest_id"]:
            problems.append("manifest_id does not match the manifest's content: it was edited")
    files: list[dict[str, Any]] = []
    for entry in doc.get("inputs", []):
        named = Path(str(entry.get("path", "")))
        target = named if named.is_absolute() else p.parent / named
        if not target.is_file():
            files.append({**entry, "status": "missing"})
            problems.append(f"{entry.get('path')} is missing")
            continue
        sha, size = _sha256_file(target)
        status_f = "ok" if sha == entry.get("sha256") else "changed"
        files.append({**entry, "status": status_f, "actual_sha256": sha, "actual_bytes": size})
        if status_f != "ok":
            problems.append(
                f"{entry.get('path')} has changed (SHA-256 {sha[:16]}…, recorded {str(entry.get('sha256'))[:16]}…)"
            )
    return ManifestCheck(str(p), status, kid, files, problems)
