"""Format sniffing from the first bytes of a file: which keys or CSV headers it carries."""

from __future__ import annotations

__all__ = ["sniff_json_or_csv"]


def sniff_json_or_csv(head: bytes, json_markers: tuple[str, ...], csv_markers: tuple[str, ...]) -> float:
    """Confidence that ``head`` is this format: all JSON keys present, or all CSV headers in line 1."""
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    # Comment lines an exporter or a person put above the records (``# exported by ...``)
    # do not hide the format; the loader quarantines them as lines of their own.
    while text.startswith(("#", "//")):
        text = text.partition("\n")[2].lstrip("\ufeff \t\r\n")
    if not text:
        return 0.0
    if text[0] in "[{":
        found = sum(marker in text for marker in json_markers)
        return 0.9 if found == len(json_markers) else 0.0
    first = text.split("\n", 1)[0]
    headers = {h.strip().strip('"').strip() for h in first.split(",")}
    return 0.9 if all(m in headers for m in csv_markers) else 0.0
