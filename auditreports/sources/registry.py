"""The format registry: every source format the loaders understand.

A format is a :class:`FormatSpec`: a name, a ``sniff`` function that looks at the
first bytes of a (decompressed) file and says how sure it is that the file is in
this format, and a ``parse`` function that turns the whole file into canonical
events plus quarantined records. ``auditreports.sources.load`` decompresses,
sniffs (unless ``format=`` forces one), parses, reconciles and de-duplicates.

Built-in platform formats register in ``auditreports.sources.workspace`` and
``auditreports.sources.conversation``; vendor formats (CloudTrail, Okta, …) in
``auditreports.sources.vendors``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from ..errors import SourceFormatError

__all__ = ["FormatSpec", "ParsedFile", "detect_format", "formats", "get_format", "register_format"]


@dataclass(frozen=True)
class ParsedFile:
    """What a format's ``parse`` returns for one file.

    ``events`` has the canonical schema (``schema.EVENT_SCHEMA``) with
    ``source``, ``source_file``, ``source_line``, ``source_offset`` and ``raw`` filled;
    ``quarantine`` has ``schema.QUARANTINE_SCHEMA``. The counts must reconcile:
    ``lines_read == loaded + quarantined_lines + blank_lines`` where ``loaded`` counts
    the physical lines of loaded records (a CSV record may span lines).
    """

    events: pl.DataFrame
    quarantine: pl.DataFrame
    lines_read: int
    blank_lines: int
    loaded_lines: int
    quarantined_lines: int
    layout: str  # "ndjson", "json-array", "csv", "json-object", "text", ...
    notes: list[str] = field(default_factory=list)


_FORMATS: dict[str, FormatSpec] = {}


@dataclass(frozen=True)
class FormatSpec:
    """One source format.

    ``sniff(head, path)`` gets up to the first 64 KiB of the decompressed file and
    returns a confidence between 0 (not this format) and 1 (certainly this format).
    ``parse(data, path)`` gets the whole decompressed file.
    """

    name: str
    description: str
    sniff: Callable[[bytes, str], float]
    parse: Callable[[bytes, str], ParsedFile]
    origin: str = "built-in"  # where the format comes from: "built-in", or an organisation map's file


def register_format(spec: FormatSpec, *, replace: bool = False) -> FormatSpec:
    """Register a format; a second registration under the same name is a programming error
    unless ``replace`` (an organisation map re-loaded from the same file)."""
    if spec.name in _FORMATS and _FORMATS[spec.name] is not spec and not replace:
        raise ValueError(f"format {spec.name!r} is registered twice")
    _FORMATS[spec.name] = spec
    return spec


def formats() -> dict[str, FormatSpec]:
    """All registered formats by name."""
    _ensure_builtin_formats()
    return dict(_FORMATS)


def get_format(name: str) -> FormatSpec:
    _ensure_builtin_formats()
    try:
        return _FORMATS[name]
    except KeyError:
        known = ", ".join(sorted(_FORMATS))
        raise SourceFormatError(f"unknown format {name!r}; use one of: {known}", format=name) from None


def detect_format(head: bytes, path: str) -> FormatSpec:
    """The most likely format of a file from its first bytes; SourceFormatError if none fits."""
    _ensure_builtin_formats()
    scored = sorted(((spec.sniff(head, path), spec.name) for spec in _FORMATS.values()), reverse=True)
    if not scored or scored[0][0] <= 0:
        known = ", ".join(sorted(_FORMATS))
        raise SourceFormatError(
            f"{path}: cannot tell which audit-log format this is; force one with --format (one of: {known})",
            path=path,
        )
    return _FORMATS[scored[0][1]]


def _ensure_builtin_formats() -> None:
    # Importing these modules registers their formats. Imported lazily to avoid cycles.
    import importlib

    for module in ("workspace", "conversation", "vendors"):
        try:
            importlib.import_module(f"auditreports.sources.{module}")
        except ModuleNotFoundError as exc:  # a format family not built yet
            if exc.name != f"auditreports.sources.{module}":
                raise
