"""Write the simulated quarter to disk, byte-identically for the same seed.

gzip members are written with ``mtime=0`` and no file name, JSON with fixed key order,
CSV with a fixed dialect, so two runs with one seed produce the same bytes.

Each log is written as it is sealed: a file of 10,000 events is compressed and put on
disk before the next is made, the week's CSV example is appended to as its events go
by, and only the first workspace file (the tampered copies' original) and the example
conversation's events are kept until the end.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import itertools
import json
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import UsageError
from .logs import Event, canonical
from .processing_record import PROCESSING_RECORD, README
from .quarter import DEFAULT_SEED, simulate_quarter
from .tamper import KINDS, tamper
from .timeline import QUARTER

FILE_EVENTS = 10_000
WORKSPACE_CSV_COLUMNS = (
    "id", "sequence", "occurred_at", "category", "action",
    "actor.type", "actor.id", "actor.email", "actor.name", "actor.role",
    "resource.type", "resource.id", "outcome", "ip_address", "user_agent",
    "details.reason", "details.before", "details.after", "details.record_count", "details.subject_ids",
    "prev_hash", "hash",
)  # fmt: skip
CONVERSATION_CSV_COLUMNS = (
    "event_id", "conversation_id", "event_type", "author_kind", "author_id", "author_name", "timestamp",
    "before", "after", "reason", "ip_address", "user_agent", "channel", "customer_id",
)  # fmt: skip
# The week shown in the plain workspace CSV example: ISO week 28 (Mon 6 – Sun 12 July).
CSV_WEEK = ("2026-07-06", "2026-07-13")

# The sample workspace's settings file (docs/settings.md): what `auditreports demo` and a
# reader running the CLI on data_samples/ pass as --settings.
SAMPLE_SETTINGS = """\
# Settings for the sample workspace (Acme Health Ltd, 2026-Q3).
# Paths are relative to this file. Every key and its default: docs/settings.md.
organisation:
  name: Acme Health Ltd
  timezone: UTC                    # for anyone not in the staff directory
  business_hours: "08:00-18:00"
  business_days: [mon, tue, wed, thu, fri]
  # Staff work in London, New York and Manila: off-hours rules and the HIPAA report's
  # after-hours access judge each person in their own zone.
  staff_directory: staff.csv
  phi_tags: [phi]
  customer_directory: customers.csv
  processing_record: processing_record.yml
"""


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def _json_text(value: object) -> str:
    """JSON-in-a-cell: RFC 8785 text, so rebuilding the event reproduces the hashed bytes."""
    return "" if value is None else canonical(value).decode("utf-8")


def workspace_lines(events: Iterable[Event]) -> list[bytes]:
    """Each event as exactly its RFC 8785 canonical bytes: what the chain hashes, plus ``hash``."""
    return [canonical(e) for e in events]


def conversation_json(events: list[Event]) -> bytes:
    """A JSON array, one event per line, keys in the platform's order."""
    body = ",\n".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in events)
    return ("[\n" + body + "\n]\n").encode("utf-8")


def _csv(rows: Iterable[Iterable[object]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue().encode("utf-8")


def _workspace_row(e: Event) -> list[object]:
    """A row of the workspace CSV layout: dotted headers; ``details.before``/``after`` as JSON text; null is empty."""
    a, r, d = e["actor"], e["resource"], e["details"]
    return [
        e["id"], e["sequence"], e["occurred_at"], e["category"], e["action"],
        a["type"], a["id"], a["email"], a["name"], a["role"], r["type"], r["id"],
        e["outcome"], e["ip_address"], e["user_agent"],
        d["reason"], _json_text(d["before"]), _json_text(d["after"]), d["record_count"],
        _json_text(d["subject_ids"]), e["prev_hash"], e["hash"],
    ]  # fmt: skip


def conversation_csv(events: list[Event]) -> bytes:
    def row(e: Event) -> list[object]:
        a = e["author"]
        return [
            e["event_id"], e["conversation_id"], e["event_type"], a["kind"], a["id"], a["name"], e["timestamp"],
            _json_text(e["before"]), _json_text(e["after"]), e["reason"], e["ip_address"], e["user_agent"],
            e["channel"], e["customer_id"],
        ]  # fmt: skip

    return _csv([CONVERSATION_CSV_COLUMNS, *(row(e) for e in events)])


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` items (the last shorter); one empty list if there are none."""
    chunk: list[Any] = []
    empty = True
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk, empty = [], False
    if chunk or empty:
        yield chunk


def content_sha256(path: Path) -> str:
    """sha256 of a file's content (decompressed for ``.gz``), stable across zlib builds."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return hashlib.sha256(data).hexdigest()


def check_parameters(seed: int, scale: float) -> None:
    """Raise :class:`UsageError` for a seed or scale the generator cannot use."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed must be a non-negative integer, got {seed!r}; pass e.g. --seed 20260701.")
    if not (0.01 <= scale <= 50):
        raise UsageError(f"scale must be between 0.01 and 50, got {scale}; 1.0 is ~150,000 events, 7 is ~1M.")


class _Writer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.written: list[str] = []

    def put(self, rel: str, data: bytes) -> None:
        with self.open(rel) as f:
            f.write(data)

    def open(self, rel: str) -> IO[bytes]:
        """A new file to write in pieces (the caller closes it)."""
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        self.written.append(rel)
        return path.open("wb")


SKIP_TAMPERED = (
    "tampered copies of the first workspace file, for the integrity checks; "
    "verify one with `auditreports verify data_samples/tampered/modified`\n"
)
SKIP_EXPORTS = (
    "other layouts (CSV, a conversation export) repeating events of the full logs; "
    "load them with `auditreports ingest data_samples/exports`\n"
)


def _clear_previous(root: Path) -> None:
    """Remove files an earlier generation wrote (only our own names), so none go stale."""
    patterns = (
        f"workspace/workspace-audit-{QUARTER}-*.ndjson.gz",
        f"conversations/conversation-audit-{QUARTER}-*.json.gz",
        f"tampered/*/workspace-audit-{QUARTER}-*.ndjson.gz",
        "exports/conv_*.json",
        "exports/conv_*.csv",
        f"exports/workspace-audit-{QUARTER}-week-*.csv",
    )
    for pattern in patterns:
        for path in root.glob(pattern):
            path.unlink()


def generate_samples(out_dir: str | Path, *, seed: int = DEFAULT_SEED, scale: float = 1.0) -> dict[str, Any]:
    """Write the sample quarter 2026-Q3 under ``out_dir``; returns the summary also saved in ground_truth.json.

    The same ``seed`` and ``scale`` always give byte-identical files. ``scale`` multiplies
    customers, conversations and integration traffic (1.0 ≈ 150,000 events, 7 ≈ 1M).
    """
    check_parameters(seed, scale)
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} is a file; give a directory to write the sample quarter into.")
    root.mkdir(parents=True, exist_ok=True)
    _clear_previous(root)
    q = simulate_quarter(seed, scale)
    w = _Writer(root)

    # The workspace log, file by file as it is sealed; the week's CSV example alongside.
    ws_files = []
    first: list[bytes] = []  # the first file's lines: the tampered copies' original
    week_rel = f"exports/workspace-audit-{QUARTER}-week-28.csv"
    week_events = 0
    with w.open(week_rel) as week_csv:
        week_csv.write(_csv([WORKSPACE_CSV_COLUMNS]))
        for i, chunk in enumerate(_chunks(q.workspace_records(), FILE_EVENTS), start=1):
            rel = f"workspace/workspace-audit-{QUARTER}-{i:04d}.ndjson.gz"
            w.put(rel, _gzip(b"".join(line + b"\n" for _, line in chunk)))
            ws_files.append({"path": rel, "events": len(chunk)})
            week = [e for e, _ in chunk if CSV_WEEK[0] <= e["occurred_at"][:10] < CSV_WEEK[1]]
            week_csv.write(_csv(_workspace_row(e) for e in week))
            week_events += len(week)
            if i == 1:
                first = [line for _, line in chunk]
    cv_files = []
    conv_id = q.representative_conversation()
    conv_events: list[Event] = []
    for i, cv_chunk in enumerate(_chunks(q.conversation_events(), FILE_EVENTS), start=1):
        rel = f"conversations/conversation-audit-{QUARTER}-{i:04d}.json.gz"
        w.put(rel, _gzip(conversation_json(cv_chunk)))
        cv_files.append({"path": rel, "events": len(cv_chunk)})
        conv_events.extend(e for e in cv_chunk if e["conversation_id"] == conv_id)

    w.put(f"exports/{conv_id}.json", conversation_json(conv_events))
    w.put(f"exports/{conv_id}.csv", conversation_csv(conv_events))

    w.put(
        "customers.csv",
        _csv(
            [
                ("customer_id", "email", "name", "country"),
                *((c.id, c.email, c.name, c.country) for c in q.roster.customers),
            ]
        ),
    )
    w.put(
        "staff.csv",
        _csv(
            [
                ("staff_id", "name", "email", "role", "time_zone"),
                *((p.id, p.name, p.email, p.role, p.tz) for p in q.roster.staff),
            ]
        ),
    )
    w.put("processing_record.yml", PROCESSING_RECORD.encode("utf-8"))
    w.put("settings.yml", SAMPLE_SETTINGS.encode("utf-8"))
    w.put("README.md", README.replace("{seed}", str(seed)).replace("{scale}", str(scale)).encode("utf-8"))

    # `auditreports ingest data_samples` loads the quarter, not these copies: a walk does not
    # enter a folder with a .auditreports-skip file (naming the folder still loads it).
    w.put("tampered/.auditreports-skip", SKIP_TAMPERED.encode("utf-8"))
    w.put("exports/.auditreports-skip", SKIP_EXPORTS.encode("utf-8"))

    tampered = []
    trng = random.Random(seed + 3)
    for kind in KINDS:
        lines, brk = tamper(kind, first, trng)
        rel = f"tampered/{kind}/workspace-audit-{QUARTER}-0001.ndjson.gz"
        w.put(rel, _gzip(b"".join(line + b"\n" for line in lines)))
        tampered.append(
            {"path": rel, "kind": kind, "original": ws_files[0]["path"], "events": len(lines), "breaks": [brk]}
        )

    summary: dict[str, Any] = {
        "generator": {
            "seed": seed,
            "scale": scale,
            "command": f"auditreports samples DIR --seed {seed} --scale {scale}",
        },
        "period": {"quarter": QUARTER, "start": "2026-07-01T00:00:00.000Z", "end": "2026-09-30T23:59:59.999Z"},
        "workspace": {
            "events": q.workspace_log.sealed_events,
            "first_sequence": 1,
            "last_sequence": q.workspace_log.sealed_events,
            "last_hash": q.workspace_log.last_hash,
            "files": ws_files,
        },
        "conversations": {
            "events": sum(f["events"] for f in cv_files),
            "conversations": len(q.conversations),
            "customers": len(q.roster.customers),
            "staff": len(q.roster.staff),
            "files": cv_files,
        },
        "examples": {
            "conversation_export": {
                "conversation_id": conv_id,
                "json": f"exports/{conv_id}.json",
                "csv": f"exports/{conv_id}.csv",
            },
            "workspace_csv": {"path": week_rel, "from": CSV_WEEK[0], "until": CSV_WEEK[1], "events": week_events},
        },
        "api_keys": [
            {
                "id": k.id,
                "label": k.label,
                "owner_id": k.owner.id,
                "scopes": k.scopes,
                "ip": k.ip,
                "created_in_quarter": k.created_in_quarter or k.id == "key_analytics_v2",
                "revoked": k.revoked_at is not None,
            }
            for k in q.roster.keys.values()
        ],
        "incidents": q.incidents(),
        "erasures": q.erasures(),
        "tampered": tampered,
        "untrusted_text": {
            "conversation_ids": q.hostile_note_conversations,
            "note": "notes holding markup, spreadsheet formulas or prompt-injection text; reports must show them as plain text",
        },
    }
    summary["files"] = {rel: content_sha256(root / rel) for rel in sorted(w.written)}
    (root / "ground_truth.json").write_bytes((json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return summary


def _scale_for(n_events: int, per_unit: int) -> float:
    return min(50.0, max(0.01, n_events / per_unit * 1.1))


def _write_maybe_gzip(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_gzip(data) if path.suffix == ".gz" else data)


def generate_workspace_ndjson(path: str | Path, n_events: int, seed: int = DEFAULT_SEED) -> int:
    """Write the first ``n_events`` of a simulated workspace log (hash-chained NDJSON, gzip if ``.gz``).

    For benchmarks: the file is a valid chain from the genesis hash. Returns events written
    (fewer than asked only beyond ~4M events, the largest scale).
    """
    check_parameters(seed, 1.0)
    if n_events < 1:
        raise UsageError(f"n_events must be at least 1, got {n_events}.")
    q = simulate_quarter(seed, _scale_for(n_events, 87_000))
    lines = [line for _, line in itertools.islice(q.workspace_records(), n_events)]
    _write_maybe_gzip(Path(path), b"".join(line + b"\n" for line in lines))
    return len(lines)


def generate_conversation_ndjson(path: str | Path, n_events: int, seed: int = DEFAULT_SEED) -> int:
    """Write ``n_events`` conversation-log events, one JSON object per line (gzip if ``.gz``)."""
    check_parameters(seed, 1.0)
    if n_events < 1:
        raise UsageError(f"n_events must be at least 1, got {n_events}.")
    q = simulate_quarter(seed, _scale_for(n_events, 54_000))
    events = list(itertools.islice(q.conversation_events(), n_events))
    body = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in events)
    _write_maybe_gzip(Path(path), body.encode("utf-8"))
    return len(events)
