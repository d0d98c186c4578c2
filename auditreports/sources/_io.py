"""Finding input files and reading them: paths, directories, globs, gzip by magic.

Why a module of its own: what an auditor hands us is rarely one file. It is a
directory of daily exports, a glob, or a workspace-wide export split into files of
10,000 events, some gzipped and some not, whatever their extension says.
"""

from __future__ import annotations

import glob
import hashlib
import os
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

__all__ = ["InputFile", "read_input", "resolve_inputs"]

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
# Files picked up when a directory is walked; a file named explicitly is always read.
DIRECTORY_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".gz", ".log", ".txt")
_GLOB_CHARS = set("*?[")


# One background thread hashes each file while it is parsed (hashlib releases the GIL):
# on a large export that hides the SHA-256 (about half a second per 600 MB) behind the parse.
_HASHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="auditreports-sha256")


def _sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@dataclass
class InputFile:
    """One input file, read and decompressed."""

    path: str
    data: bytes  # decompressed content (a UTF-8 BOM removed)
    digest: Future[str]  # SHA-256 of the bytes on disk, being computed in the background
    size: int  # bytes on disk
    compressed: bool
    bom: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        """Of the bytes on disk, so a re-ingest of the same export is recognised."""
        return self.digest.result()


def _is_glob(text: str) -> bool:
    return any(c in _GLOB_CHARS for c in text)


def resolve_inputs(src: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[tuple[str, bool]]:
    """Every file named by ``src`` as ``(path, named)``: paths, directories (recursive) and globs, each once.

    ``named`` is true for a file the caller named itself (or a glob matched), false for one
    found by walking a directory: an unrecognised file found by walking is skipped, not
    quarantined (an export folder often holds a README or a customer list).

    Raises :class:`InputError` for a path that does not exist or a glob that matches nothing:
    that is the caller's mistake, not bad data.
    """
    items: Iterable[str | os.PathLike[str]] = [src] if isinstance(src, str | os.PathLike) else src
    found: list[tuple[str, bool]] = []
    for item in items:
        text = os.fspath(item)
        if os.path.isdir(text) and os.path.isfile(os.path.join(text, "ledger.json")):
            raise InputError(
                f"{text} is a store written by `auditreports ingest`, not a folder of audit logs; "
                f"pass it as --store {text}",
                path=text,
            )
        if os.path.isdir(text):
            found.extend((p, False) for p in _walk(text))
        elif os.path.isfile(text):
            found.append((text, True))
        elif _is_glob(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise InputError(f"{text}: the pattern matches no file; check the path and quoting", path=text)
            for match in matches:
                found.extend([(p, False) for p in _walk(match)] if os.path.isdir(match) else [(match, True)])
        else:
            raise InputError(f"{text}: no such file or directory; check the path", path=text)
    seen: set[str] = set()
    unique = []
    for path, named in found:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            unique.append((path, named))
    if not unique:
        raise InputError("no input files found; pass audit-log files, directories or globs", src=str(src))
    return unique


# A directory holding this file is not walked into (its first line says why, and the
# load summary lists it); naming the directory itself still loads it.
SKIP_MARKER = ".auditreports-skip"


def walk_skips(src: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[dict[str, str]]:
    """The directories under the directories of ``src`` that a walk leaves out, with the reason."""
    items: Iterable[str | os.PathLike[str]] = [src] if isinstance(src, str | os.PathLike) else src
    out = []
    for item in items:
        top = os.fspath(item)
        if not os.path.isdir(top):
            continue
        for root, dirs, _ in os.walk(top):
            kept = []
            for d in sorted(dirs):
                marker = os.path.join(root, d, SKIP_MARKER)
                if os.path.isfile(marker):
                    reason = Path(marker).read_text(encoding="utf-8", errors="replace").strip().splitlines()
                    out.append({"path": os.path.join(root, d), "reason": reason[0] if reason else SKIP_MARKER})
                elif not d.startswith("."):
                    kept.append(d)
            dirs[:] = kept
    return out


def _walk(directory: str) -> list[str]:
    out = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and not os.path.isfile(os.path.join(root, d, SKIP_MARKER))
        )
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(DIRECTORY_SUFFIXES):
                out.append(os.path.join(root, name))
    return sorted(out)


def read_input(path: str) -> InputFile:
    """Read one file; gunzip it when its first bytes are the gzip magic (not by extension).

    A gzip stream that is cut off is read as far as it goes and noted: the cut-off tail
    then shows up as a quarantined line, never as an exception.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}); check its permissions", path=path) from exc
    entry = InputFile(path=path, data=raw, digest=_HASHER.submit(_sha256, raw), size=len(raw), compressed=False)
    if raw.startswith(GZIP_MAGIC):
        entry.compressed = True
        entry.data, note = _gunzip(raw)
        if note:
            entry.notes.append(note)
    if entry.data.startswith(UTF8_BOM):
        entry.data = entry.data[len(UTF8_BOM) :]
        entry.bom = True
        entry.notes.append("a UTF-8 byte-order mark at the start was skipped (offsets count from after it)")
    return entry


def _gunzip(raw: bytes) -> tuple[bytes, str | None]:
    """Decompress every gzip member; keep what was readable if the stream is damaged."""
    out = bytearray()
    rest = raw
    while rest:
        d = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        try:
            out += d.decompress(rest)
        except zlib.error as exc:
            return bytes(
                out
            ), f"the gzip stream is damaged after {len(out)} decompressed bytes ({exc}); the rest is unreadable"
        if not d.eof:
            return bytes(
                out
            ), f"the gzip stream is cut off after {len(out)} decompressed bytes; the last record may be incomplete"
        rest = d.unused_data
        if rest and not rest.startswith(GZIP_MAGIC):
            if rest.strip(b"\x00"):
                return bytes(out), f"{len(rest)} bytes of trailing garbage after the gzip stream were not read"
            break
    return bytes(out), None
