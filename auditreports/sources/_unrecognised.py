"""What a file that is not an audit log is, in a few words, for the one line that says so.

A newcomer passes a screenshot, the export's README or a customer list to ``ingest``.
"format not recognised" followed by every format name does not tell them what went
wrong; "pic.png is a PNG image" does.
"""

from __future__ import annotations

import json

__all__ = ["describe_content", "not_an_audit_log"]

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"PAR1", "a Parquet file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program (ELF binary)"),
)


def describe_content(data: bytes, path: str) -> str:
    """What ``data`` looks like, when it is in no audit-log format: ``"a PNG image"``, ``"a CSV file whose …"``."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return what
    head = data[:65536]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "binary data, not text"
        text = head[: exc.start].decode("utf-8")
    if "\x00" in text:
        return "binary data, not text"
    body = text.lstrip("\ufeff \t\r\n")
    first = body.split("\n", 1)[0].strip()
    if body.startswith(("{", "[")):
        try:
            value = json.loads(first)
        except ValueError:
            return "JSON"
        if isinstance(value, list) and value and isinstance(value[0], dict):
            value = value[0]
        if isinstance(value, dict) and value:
            keys = ", ".join(list(value)[:5])
            return f"JSON with the fields {keys}{', …' if len(value) > 5 else ''}"
        return "JSON"
    if path.lower().endswith((".md", ".markdown")) or first.startswith("#"):
        return "a text document (Markdown)"
    if "," in first or ";" in first or "\t" in first:
        sep = "," if "," in first else (";" if ";" in first else "\t")
        columns = [c.strip().strip('"') for c in first.split(sep)]
        shown = ", ".join(columns[:5]) + (", …" if len(columns) > 5 else "")
        return f"a table with the columns {shown}"
    return "text that is neither JSON nor CSV"


_UNPACK = {
    "a ZIP archive (or an Office document)": "unpack it and give the audit-log files inside",
    "a bzip2 archive": "decompress it and give the result",
    "an xz archive": "decompress it and give the result",
    "a 7-Zip archive": "unpack it and give the audit-log files inside",
    "a Parquet file": "a store is read with --store DIR, not as input",
}


def not_an_audit_log(data: bytes, path: str) -> str:
    """The ledger's ``error`` for a named file in no audit-log format: what it is and what to do."""
    what = describe_content(data, path)
    todo = _UNPACK.get(what) or (
        "give audit-log exports (`auditreports formats` lists the formats read), "
        "or force one with --format NAME if it is one"
    )
    return f"{what}, not an audit log in a format auditreports reads; {todo}"
