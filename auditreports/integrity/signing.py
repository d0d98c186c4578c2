"""Ed25519 keys and signatures for evidence manifests.

A manifest is signed over its RFC 8785 canonical JSON without the ``signature``
member, so key order and whitespace in the file do not matter but every value does.
The private key is written with 0600 permissions from the moment it exists (the file
is created with that mode, never chmod-ed afterwards).
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import UsageError
from ..progress import say

__all__ = [
    "ALGORITHM",
    "embedded_public_key",
    "generate_keypair",
    "key_id",
    "load_private_key",
    "load_public_key",
    "sign_document",
    "signature_matches",
    "signed_bytes",
]

ALGORITHM = "Ed25519"


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short fingerprint: the first 16 hex digits of SHA-256 of the raw public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_keypair(out_dir: str | os.PathLike[str], *, name: str = "auditreports") -> tuple[Path, Path, str]:
    """Write ``<name>.key`` (PKCS#8 PEM, mode 0600) and ``<name>.pub``; return both paths and the key id."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    private_path, public_path = out / f"{name}.key", out / f"{name}.pub"
    for path in (private_path, public_path):
        if path.exists():
            raise UsageError(
                f"{path} already exists; remove it or choose another --out directory (keys are never overwritten)"
            )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    os.chmod(private_path, 0o600)  # in case a umask widened nothing but the platform ignored the mode
    public_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return private_path, public_path, key_id(key.public_key())


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path`` (PEM); a UsageError if it is not one."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"cannot read signing key {p} ({exc.strerror}); create one with `auditreports keygen --out DIR`"
        ) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise UsageError(
            f"{p} is not an unencrypted Ed25519 private key (PEM); create one with `auditreports keygen`"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{p} holds a {type(key).__name__}, not an Ed25519 key; create one with `auditreports keygen`")
    mode = stat.S_IMODE(p.stat().st_mode)
    if mode & 0o077:
        say(f"[auditreports] warning: signing key {p} is readable by others (mode {mode:o}); chmod 600 it")
    return key


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """The Ed25519 public key in ``path`` (PEM); a UsageError if it is not one."""
    p = Path(path)
    try:
        key = serialization.load_pem_public_key(p.read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read public key {p} ({exc.strerror}); pass the .pub file written by keygen") from None
    except (ValueError, TypeError):
        raise UsageError(f"{p} is not a PEM public key; pass the .pub file written by `auditreports keygen`") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"{p} holds a {type(key).__name__}, not an Ed25519 public key; pass the .pub from keygen")
    return key


def signed_bytes(document: dict[str, Any]) -> bytes:
    """What is signed: the canonical JSON of the document without its ``signature``."""
    return rfc8785.dumps({k: v for k, v in document.items() if k != "signature"})


def sign_document(document: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The ``signature`` member for ``document``."""
    public = key.public_key()
    return {
        "algorithm": ALGORITHM,
        "key_id": key_id(public),
        "public_key": base64.b64encode(
            public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        ).decode("ascii"),
        "value": base64.b64encode(key.sign(signed_bytes(document))).decode("ascii"),
    }


def signature_matches(document: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    """Whether ``document['signature']`` is a valid signature of the document by ``public_key``."""
    sig = document.get("signature")
    if not isinstance(sig, dict) or sig.get("algorithm") != ALGORITHM:
        return False
    try:
        value = base64.b64decode(str(sig.get("value", "")), validate=True)
        public_key.verify(value, signed_bytes(document))
    except (InvalidSignature, ValueError):
        return False
    return True


def embedded_public_key(document: dict[str, Any]) -> Ed25519PublicKey | None:
    """The public key a signature carries (proves the document is unchanged, not who signed it)."""
    sig = document.get("signature")
    if not isinstance(sig, dict):
        return None
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(str(sig.get("public_key", "")), validate=True))
    except ValueError:
        return None
