"""Integrity verification: is the log complete and untampered, and can we prove it?

    verify(events, ...) -> Verification      hash chain, sequence, coverage, continuity, verdict
    build_manifest / write_manifest          the evidence manifest of a verification
    verify_manifest(path, public_key=...)    signature and input files still as recorded
    generate_keypair(dir)                    an Ed25519 key pair for signing manifests

docs/integrity.md explains each check, the break kinds and how the verdict is reached.
"""

from __future__ import annotations

from .chain import GENESIS, physical_order, verify_chain
from .hashing import canonical_hash
from .manifest import ManifestCheck, build_manifest, verify_manifest, write_manifest
from .model import FAILED, PARTIAL, VERIFIED, Break, CheckResult, Unverified, Verification
from .period import parse_period
from .settings import IntegritySettings
from .signing import generate_keypair, load_private_key, load_public_key
from .verify import verify

__all__ = [
    "FAILED",
    "GENESIS",
    "PARTIAL",
    "VERIFIED",
    "Break",
    "CheckResult",
    "IntegritySettings",
    "ManifestCheck",
    "Unverified",
    "Verification",
    "build_manifest",
    "canonical_hash",
    "generate_keypair",
    "load_private_key",
    "load_public_key",
    "parse_period",
    "physical_order",
    "verify",
    "verify_chain",
    "verify_manifest",
    "write_manifest",
]
