"""``auditreports verify-manifest``: is the evidence still what was signed?"""

from __future__ import annotations

import argparse
import json
import sys

from ..integrity import load_public_key, verify_manifest

HELP = "check an evidence manifest's signature and that the files it names still have their SHA-256"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", metavar="MANIFEST", help="the manifest.json written by verify --manifest-out")
    parser.add_argument(
        "--public-key", metavar="FILE", help="the signer's .pub file; the manifest must be signed by it"
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON document on stdout")
    parser.epilog = "Exit 0 when the signature and every file check out, 1 when anything does not, 2 for a usage error."


def run(args: argparse.Namespace) -> int:
    key = load_public_key(args.public_key) if args.public_key else None
    check = verify_manifest(args.manifest, public_key=key)
    if args.json:
        sys.stdout.write(json.dumps(check.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return 0 if check.ok else 1
    signature = {
        "valid": f"valid, by key {check.key_id}",
        "valid-embedded-key": f"valid against the key embedded in it ({check.key_id}); pass --public-key to prove who signed",
        "invalid": "INVALID",
        "wrong-key": "signed by another key",
        "unsigned": "none (the manifest is not signed)",
    }[check.signature]
    lines = [f"Manifest: {check.path}", f"Signature: {signature}"]
    ok_files = sum(1 for f in check.files if f["status"] == "ok")
    lines.append(f"Files: {ok_files} of {len(check.files)} unchanged")
    lines += [f"  - {f['path']}: {f['status'].upper()}" for f in check.files if f["status"] != "ok"]
    lines.append("Result: OK" if check.ok else "Result: FAILED - " + "; ".join(check.problems))
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if check.ok else 1
