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
from typing import Any

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


@dataclass(frozen=True)
class GzipTail:
    """Bytes of a gzip file that did not decompress into lines."""

    raw: bytes  # as on disk (compressed bytes of a damaged member, or the plain bytes appended)
    disk_offset: int  # where they start in the file on disk
    reason: str
    plain: bool  # plain bytes after the gzip stream: quarantined line by line


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
    # What follows the readable part of a gzip file and could not become lines: a damaged
    # or cut-off stream, or plain bytes appended after the last member. The loader
    # quarantines it (after the decompressed lines) with its byte offset on disk.
    tail: GzipTail | None = None
    refused: str | None = None  # why the content was not read at all (a decompression bomb)

    @property
    def sha256(self) -> str:
        """Of the bytes on disk, so a re-ingest of the same export is recognised."""
        return self.digest.result()


def _is_glob(text: str) -> bool:
    return any(c in _GLOB_CHARS for c in text)


def resolve_inputs(
    src: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    skipped: list[dict[str, str]] | None = None,
) -> list[tuple[str, bool]]:
    """Every file named by ``src`` as ``(path, named)``: paths, directories (recursive) and globs, each once.

    ``named`` is true for a file the caller named itself (or a glob matched), false for one
    found by walking a directory: an unrecognised file found by walking is skipped, not
    quarantined (an export folder often holds a README or a customer list).

    Every path a directory walk passes over is appended to ``skipped`` as ``{"path",
    "reason"}`` (hidden names, names without an audit-log suffix such as ``x.ndjson.1`` or
    ``export.json.bak``, symbolic links to directories, which are not followed, dangling
    links, anything that is not a regular file): nothing is passed over silently.

    Raises :class:`InputError` for a path that does not exist or a glob that matches nothing:
    that is the caller's mistake, not bad data.
    """
    skipped = skipped if skipped is not None else []
    items: Iterable[str | os.PathLike[str]] = [src] if isinstance(src, str | os.PathLike) else src
    found: list[tuple[str, bool]] = []
    for item in items:
        text = os.fspath(item)
        if os.path.isdir(text):
            found.extend((p, False) for p in _walk(text, skipped))
        elif os.path.isfile(text):
            found.append((text, True))
        elif _is_glob(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise InputError(f"{text}: the pattern matches no file; check the path and quoting", path=text)
            for match in matches:
                if os.path.isdir(match):
                    found.extend((p, False) for p in _walk(match, skipped))
                elif os.path.isfile(match):
                    found.append((match, True))
                else:
                    skipped.append({"path": match, "reason": _not_a_file(match)})
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


def _not_a_file(path: str) -> str:
    if os.path.islink(path) and not os.path.exists(path):
        return "a symbolic link whose target does not exist"
    return "not a regular file (a device, pipe or socket)"


def _walk(directory: str, skipped: list[dict[str, str]]) -> list[str]:
    """The audit-log files under ``directory``, sorted; every other path goes to ``skipped`` with why."""
    out = []
    for root, dirs, files in os.walk(directory):
        keep = []
        for name in sorted(dirs):
            path = os.path.join(root, name)
            if name.startswith("."):
                skipped.append({"path": path, "reason": "a hidden directory; name it explicitly to read it"})
            elif os.path.islink(path):
                skipped.append(
                    {
                        "path": path,
                        "reason": "a symbolic link to a directory, not followed (it may loop or leave the export); "
                        "name it explicitly to read it",
                    }
                )
            else:
                keep.append(name)
        dirs[:] = keep
        for name in sorted(files):
            path = os.path.join(root, name)
            if name.startswith("."):
                skipped.append({"path": path, "reason": "a hidden file; name it explicitly to read it"})
            elif not name.lower().endswith(DIRECTORY_SUFFIXES):
                skipped.append(
                    {
                        "path": path,
                        "reason": f"the name does not end in {', '.join(DIRECTORY_SUFFIXES)} (a rotated or backup "
                        "copy?); name it explicitly to read it",
                    }
                )
            elif not os.path.isfile(path):
                skipped.append({"path": path, "reason": _not_a_file(path)})
            elif not os.access(path, os.R_OK):
                skipped.append({"path": path, "reason": "not readable (permission denied)"})
            else:
                out.append(path)
    return sorted(out)


def read_input(path: str) -> InputFile:
    """Read one file; gunzip it when its first bytes are the gzip magic (not by extension).

    A gzip stream is decoded as far as it goes: a damaged or cut-off member keeps every
    byte before the damage, and what could not be decoded (or plain bytes appended after
    the last member) is returned as ``tail`` for the loader to quarantine, never dropped.
    A stream that expands past the bomb guard (:data:`MAX_GZIP_RATIO` times its size on
    disk, and at least :data:`GZIP_FLOOR_BYTES`) is not read at all: ``refused`` says why.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}); check its permissions", path=path) from exc
    entry = InputFile(path=path, data=raw, digest=_HASHER.submit(_sha256, raw), size=len(raw), compressed=False)
    if raw.startswith(GZIP_MAGIC):
        entry.compressed = True
        entry.data, entry.tail, entry.refused, note = _gunzip(raw)
        if note:
            entry.notes.append(note)
    if entry.data.startswith(UTF8_BOM):
        entry.data = entry.data[len(UTF8_BOM) :]
        entry.bom = True
        entry.notes.append("a UTF-8 byte-order mark at the start was skipped (offsets count from after it)")
    return entry


# The decompression-bomb guard: real audit-log exports compress 5-30x; deflate's ceiling
# is about 1030x. A file may expand to MAX_GZIP_RATIO times its size on disk, and always
# to GZIP_FLOOR_BYTES (small, very repetitive files are normal).
MAX_GZIP_RATIO = 200
GZIP_FLOOR_BYTES = 64 * 1024 * 1024
_CHUNK = 1 << 20


def _gunzip(raw: bytes) -> tuple[bytes, GzipTail | None, str | None, str | None]:
    """Decompress every gzip member as far as the stream goes.

    Returns (decompressed bytes, what could not be decompressed, why the file was refused,
    a note for the ledger). Input is fed in chunks, and a chunk that hits damage is fed
    again in small pieces from a copy of the decompressor, so that everything before the
    damaged bytes is kept (zlib raises on damage and drops that call's output).
    """
    limit = max(GZIP_FLOOR_BYTES, MAX_GZIP_RATIO * len(raw))
    out = bytearray()
    pos = 0  # offset on disk of the member being decoded

    def feed(d: Any, piece: bytes) -> None:
        out.extend(d.decompress(piece, limit - len(out) + 1))
        while d.unconsumed_tail and len(out) <= limit:
            out.extend(d.decompress(d.unconsumed_tail, limit - len(out) + 1))
        if len(out) > limit:
            raise _Bomb

    while pos < len(raw):
        d = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        fed = where = pos
        try:
            while not d.eof and fed < len(raw):
                chunk = raw[fed : fed + _CHUNK]
                saved = d.copy()
                try:
                    feed(d, chunk)
                except zlib.error:
                    d = saved
                    for i in range(0, len(chunk), 256):
                        where = fed + i
                        feed(d, chunk[i : i + 256])  # raises again at the damaged piece
                fed += len(chunk)
        except zlib.error as exc:
            return (
                bytes(out),
                GzipTail(
                    raw=raw[where:],
                    disk_offset=where,
                    reason=f"the gzip stream is damaged ({exc}) within 256 bytes of byte {where} on disk, "
                    f"after {len(out):,} decompressed bytes; the {len(raw) - where:,} bytes from there on "
                    "could not be decompressed",
                    plain=False,
                ),
                None,
                f"the gzip stream is damaged after {len(out):,} decompressed bytes; what came before was read, "
                f"the rest ({len(raw) - where:,} bytes on disk from byte {where}) is quarantined",
            )
        except _Bomb:
            bound = (
                f"{MAX_GZIP_RATIO} times its {len(raw):,} bytes"
                if MAX_GZIP_RATIO * len(raw) > GZIP_FLOOR_BYTES
                else f"the {GZIP_FLOOR_BYTES:,}-byte allowance for a file of {len(raw):,} bytes"
            )
            return (
                b"",
                None,
                f"the gzip stream expands to more than {limit:,} bytes ({bound}): refused as a possible "
                "decompression bomb; if it is a genuine export, decompress it yourself and ingest the result",
                None,
            )
        if not d.eof:
            return (
                bytes(out),
                None,
                None,
                f"the gzip stream is cut off after {len(out):,} decompressed bytes; the last record may be incomplete",
            )
        pos = fed - len(d.unused_data)
        rest = raw[pos:]
        if rest and not rest.startswith(GZIP_MAGIC):
            if not rest.strip(b"\x00"):
                break  # zero padding after the stream (some exporters write it): nothing to read
            return (
                bytes(out),
                GzipTail(
                    raw=rest,
                    disk_offset=pos,
                    reason=f"plain (not gzip-compressed) bytes after the end of the gzip stream (byte {pos} on disk)",
                    plain=True,
                ),
                None,
                f"{len(rest):,} plain bytes follow the gzip stream at byte {pos} on disk; they are quarantined",
            )
    return bytes(out), None, None, None


class _Bomb(Exception):
    """The decompressed size passed the guard."""
