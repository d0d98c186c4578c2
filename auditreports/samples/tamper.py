"""Tampered copies of the first workspace file, each with the one break a verifier must report.

Positions are 0-based line indexes in the *tampered* file. Each copy has exactly one
break:

- ``modified``: one record's field edited, its stored ``hash`` left as it was; the
  record no longer hashes to its own ``hash`` (its successor still links to it).
- ``deleted``: one record removed; the record now at that position links to a hash
  that is not its predecessor's, and ``sequence`` skips one. The break names the
  record after the hole (a verifier cannot know the missing id; it is in ``detail``).
- ``reordered``: two adjacent records swapped; the break names the record that now
  comes first (the later one, whose ``sequence`` runs ahead).
- ``inserted``: a forged record whose own ``hash`` is right and whose ``prev_hash``
  links to its predecessor, as a careful forger would write it; its successor still
  links to the predecessor, so the chain skips the forged record.
"""

from __future__ import annotations

import json
import random
from typing import Any

from .logs import Event, canonical, chain_hash, ulid

KINDS = ("modified", "deleted", "swapped", "inserted")


def _parse(line: bytes) -> Event:
    event: Event = json.loads(line)
    return event


def tamper(kind: str, lines: list[bytes], rng: random.Random) -> tuple[list[bytes], dict[str, Any]]:
    """A tampered copy of ``lines`` (canonical NDJSON records) and its expected break."""
    n = len(lines)
    out = list(lines)
    if kind == "modified":
        p = rng.randrange(n // 10, n // 4)
        event = _parse(lines[p])
        old = event["ip_address"]
        event["ip_address"] = "198.51.100.254" if old != "198.51.100.254" else "198.51.100.253"
        out[p] = canonical(event)
        brk = {
            "kind": "modified",
            "event_id": event["id"],
            "position": p,
            "detail": f"ip_address changed from {old!r} to {event['ip_address']!r}; hash left unchanged",
        }
    elif kind == "deleted":
        p = rng.randrange(int(n * 0.3), int(n * 0.45))
        gone = _parse(out.pop(p))
        brk = {
            "kind": "deleted",
            "event_id": _parse(out[p])["id"],
            "position": p,
            "detail": f"record sequence {gone['sequence']} ({gone['id']}) removed before this one",
            "missing_event_id": gone["id"],
            "missing_sequence": gone["sequence"],
        }
    elif kind == "swapped":
        p = rng.randrange(int(n * 0.5), int(n * 0.65))
        out[p], out[p + 1] = out[p + 1], out[p]
        first, second = _parse(out[p]), _parse(out[p + 1])
        brk = {
            "kind": "reordered",
            "event_id": first["id"],
            "position": p,
            "detail": f"sequence {first['sequence']} stored before {second['sequence']} ({second['id']})",
        }
    elif kind == "inserted":
        p = rng.randrange(int(n * 0.7), int(n * 0.9))
        prev = _parse(out[p - 1])
        forged: Event = {
            "id": "evt_" + ulid(_ms(prev["occurred_at"]), rng),
            "sequence": prev["sequence"] + 1,
            "occurred_at": prev["occurred_at"],
            "category": "data_access",
            "action": "data.conversations_exported",
            "actor": prev["actor"] if prev["actor"]["type"] == "user" else {
                "type": "user", "id": "usr_101", "email": None, "name": "Unknown", "role": "owner"},
            "resource": {"type": "workspace", "id": "ws_1"},
            "outcome": "success",
            "ip_address": prev["ip_address"],
            "user_agent": prev["user_agent"],
            "details": {"reason": "CSV export", "before": None, "after": None, "record_count": 12, "subject_ids": []},
            "prev_hash": prev["hash"],
        }  # fmt: skip
        forged["hash"] = chain_hash(forged)
        out.insert(p, canonical(forged))
        brk = {
            "kind": "inserted",
            "event_id": forged["id"],
            "position": p,
            "detail": "forged export record; its successor's prev_hash still points at the record before it",
        }
    else:  # pragma: no cover - callers pass KINDS
        raise ValueError(kind)
    return out, brk


def _ms(stamp: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
