"""The two audit logs being written: events are collected out of order, then sealed.

Simulation code adds events in whatever order is convenient (a conversation's whole
lifecycle at once, a night of integration traffic at once). :meth:`WorkspaceLog.seal`
then does what the platform does at write time: orders events by time, drops what the
platform lost (the planted logging gap), stamps ids, ``sequence`` and the hash chain.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import rfc8785

from .roster import WORKSPACE_ID, ApiKey, Staff
from .timeline import END_MS, START_MS, iso, utc_date

GENESIS = "0" * 64
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ")

Event = dict[str, Any]


def ulid(t: int, rng: random.Random) -> str:
    """A ULID (time-sortable id) for epoch ms ``t`` with 80 seeded random bits."""
    value = (t << 80) | rng.getrandbits(80)
    # 26 base-32 digits of the 128-bit value (the first digit holds 3 bits): shift so the
    # 130 bits fill standard base32's groups, then map its alphabet onto Crockford's.
    return base64.b32encode((value << 6).to_bytes(17, "big"))[:26].translate(_TO_CROCKFORD).decode()


def _json_safe(value: object) -> bool:
    """True if ``json.dumps`` writes ``value`` exactly as RFC 8785 does.

    That holds for null, booleans, strings (both escape only ``"``, ``\\`` and control
    characters, with the same short forms and lowercase ``\\u00xx``), integers within
    ±2**53, and objects whose keys are ASCII (code-point order is then UTF-16 order).
    Floats are where serialisers disagree (``5.0`` vs ``5``, ``1e-07`` vs ``1e-7``).
    """
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**53) < value < 2**53
    if isinstance(value, dict):
        return all(k.isascii() and _json_safe(v) for k, v in value.items())
    if isinstance(value, list):
        return all(isinstance(v, str) for v in value) or all(_json_safe(v) for v in value)
    return False


def canonical(event: object) -> bytes:
    """RFC 8785 (JSON Canonicalization Scheme) bytes of ``event``.

    The ``rfc8785`` package is the reference; it is pure Python (~70 µs per event), so
    values where the standard library provably writes the same bytes take that path.
    """
    if _json_safe(event):
        return json.dumps(event, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return rfc8785.dumps(event)  # type: ignore[arg-type]


def chain_hash(event: Event) -> str:
    """``sha256`` hex of the canonical JSON of the event without its ``hash`` member."""
    return hashlib.sha256(canonical({k: v for k, v in event.items() if k != "hash"})).hexdigest()


def _with_hash(body: bytes, event_id: str, digest: str) -> bytes:
    """The canonical bytes of the full event, spliced from the hashed body.

    In RFC 8785 key order ``hash`` sits right before ``id``; splicing saves a second
    canonicalisation per event (half the generation time).
    """
    marker = b',"id":"' + event_id.encode() + b'"'
    i = body.index(marker)
    if body.count(marker) != 1:  # pragma: no cover - ids are random ULIDs
        raise AssertionError(f"event id {event_id} occurs twice in its own record")
    return body[: i + 1] + b'"hash":"' + digest.encode() + b'",' + body[i + 1 :]


def key_actor(key: ApiKey) -> dict[str, object]:
    """An API key acts with its owner's identity (OpenAI / GitHub style)."""
    o = key.owner
    return {"type": "api_key", "id": key.id, "email": o.email, "name": o.name, "role": o.role}


SYSTEM_ACTOR = {"type": "system", "id": "sys_platform", "email": None, "name": "Platform", "role": None}
DEPLOY_ACTOR = {"type": "system", "id": "sys_deploy", "email": None, "name": "Deploy pipeline", "role": None}
WORKSPACE = {"type": "workspace", "id": WORKSPACE_ID}

CATEGORY_OF = {
    "auth": "authentication",
    "config": "configuration",
    "data": "data_access",
    "integration": "integration",
    "system": "system",
}


@dataclass
class WorkspaceLog:
    """Workspace audit log (docs/formats.md, format 1) under construction."""

    rng: random.Random
    events: list[tuple[int, int, Event]] = field(default_factory=list)
    role_changes: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    removals: dict[str, int] = field(default_factory=dict)  # staff id -> removal time
    gap_dates: set[date] = field(default_factory=set)
    sealed: list[Event] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)

    def add(
        self,
        t: int,
        action: str,
        actor: Mapping[str, object],
        *,
        resource: Mapping[str, object] | None = None,
        outcome: str = "success",
        ip: str | None = None,
        user_agent: str | None = None,
        reason: str | None = None,
        before: object = None,
        after: object = None,
        record_count: int | None = None,
        subject_ids: list[str] | None = None,
        owner: Staff | None = None,
    ) -> Event:
        event: Event = {
            "occurred_at": t,
            "category": CATEGORY_OF[action.split(".", 1)[0]],
            "action": action,
            "actor": dict(actor),
            "resource": dict(resource or WORKSPACE),
            "outcome": outcome,
            "ip_address": ip,
            "user_agent": user_agent,
            "details": {
                "reason": reason,
                "before": before,
                "after": after,
                "record_count": record_count,
                "subject_ids": list(subject_ids or []),
            },
        }
        if owner is not None:
            event["_owner"] = owner.id
        self.events.append((t, len(self.events), event))
        return event

    def seal(self) -> list[Event]:
        """Order by time, drop the lost day, then stamp ids, sequence and the hash chain."""
        self.events.sort(key=lambda x: (x[0], x[1]))
        prev = GENESIS
        out: list[Event] = []
        lines: list[bytes] = []
        for t, _, ev in self.events:
            if not START_MS <= t < END_MS:  # spilled past the quarter: in next quarter's export
                continue
            if utc_date(t) in self.gap_dates:
                ev["lost"] = True
                continue
            self._render_identity(t, ev)
            ev.pop("_owner", None)
            ev["id"] = "evt_" + ulid(t, self.rng)
            ev["sequence"] = len(out) + 1
            ev["occurred_at"] = iso(t)
            ev["prev_hash"] = prev
            body = canonical(ev)
            prev = hashlib.sha256(body).hexdigest()
            ev["hash"] = prev
            lines.append(_with_hash(body, ev["id"], prev))
            out.append(ev)
        self.sealed = out
        self.lines = lines
        return out

    def _render_identity(self, t: int, ev: Event) -> None:
        """The role and name an event records are those in force when it was written."""
        actor = ev["actor"]
        uid = ev.get("_owner") if actor["type"] == "api_key" else actor["id"]
        if uid is None:
            return
        for when, role in self.role_changes.get(uid, ()):
            if when < t:
                actor["role"] = role
        removed = self.removals.get(uid)
        if removed is not None and removed < t:
            actor.update({"email": None, "name": "Removed user", "role": None})


@dataclass
class ConversationLog:
    """Conversation audit log (docs/formats.md, format 2) under construction."""

    rng: random.Random
    events: list[tuple[int, int, Event]] = field(default_factory=list)
    last_t: dict[str, int] = field(default_factory=dict)

    def add(
        self,
        t: int,
        conversation_id: str,
        event_type: str,
        author: Mapping[str, object],
        *,
        customer_id: str,
        channel: str,
        before: object = None,
        after: object = None,
        reason: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> int:
        """Add an event; returns its time, nudged so a conversation's events never tie."""
        t = max(t, self.last_t.get(conversation_id, -1) + 1)
        self.last_t[conversation_id] = t
        event: Event = {
            "event_id": None,
            "conversation_id": conversation_id,
            "event_type": event_type,
            "author": dict(author),
            "timestamp": t,
            "before": before,
            "after": after,
            "reason": reason,
            "ip_address": ip,
            "user_agent": user_agent,
            "channel": channel,
            "customer_id": customer_id,
        }
        self.events.append((t, len(self.events), event))
        return t

    def seal(self) -> list[Event]:
        """Stamp ids and order as the platform's API does: by (timestamp, event_id)."""
        self.events.sort(key=lambda x: (x[0], x[1]))
        out = []
        for t, _, ev in self.events:
            if not START_MS <= t < END_MS:  # a conversation's later events fall in the next quarter
                continue
            ev["event_id"] = "aev_" + ulid(t, self.rng)
            ev["timestamp"] = iso(t)
            out.append(ev)
        out.sort(key=lambda e: (e["timestamp"], e["event_id"]))
        return out
