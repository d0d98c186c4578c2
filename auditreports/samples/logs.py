"""The two audit logs being written: events are collected out of order, then sealed.

Simulation code adds events in whatever order is convenient (a conversation's whole
lifecycle at once, a night of integration traffic at once). :meth:`WorkspaceLog.sealed`
then does what the platform does at write time: orders events by time, drops what the
platform lost (the planted logging gap), stamps ids, ``sequence`` and the hash chain.

Memory: a log keeps each event as a compact record from the moment it is added, not
as nested dicts: its time in an array, the rest a ``marshal`` blob (~90 bytes) appended
to one buffer, in which repeated values (actor, resource, address, user agent) are
indexes into a table of distinct values. Sealing sorts the times and rebuilds, stamps and yields one event at a
time, so a writer can put each file on disk before the next is made; nothing holds
every sealed event or every file's bytes. An event dict a caller still holds when the
log is sealed (an incident's events, say) is completed in place, as if it had been
sealed itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import marshal
import random
import weakref
from array import array
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import rfc8785

from .roster import WORKSPACE_ID, ApiKey, Staff
from .timeline import END_MS, START_MS, iso, utc_date

GENESIS = "0" * 64
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ")
_ORDER_BATCH = 65_536  # sorted positions turned into Python ints at a time

Event = dict[str, Any]


class _LiveEvent(dict[str, Any]):
    """An event dict handed to the simulation; weakly referenced so sealing can complete it."""

    __slots__ = ("__weakref__",)


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
class _Values:
    """Distinct values, each held once; a record holds a value's index.

    Only strings, ``None`` and tuples of (name, string or ``None``) pairs go in, so no two
    equal keys differ in type (as ``1`` and ``True`` would).
    """

    index: dict[Hashable, int] = field(default_factory=dict)
    values: list[Any] = field(default_factory=list)

    def of(self, value: Hashable) -> int:
        i = self.index.get(value)
        if i is None:
            i = self.index[value] = len(self.values)
            self.values.append(value)
        return i

    def items_of(self, mapping: Mapping[str, object]) -> int:
        return self.of(tuple(mapping.items()))


@dataclass
class _Records:
    """Events as added: the time of each in an array, the rest ``marshal`` blobs end to end."""

    times: array[int] = field(default_factory=lambda: array("q"))
    data: bytearray = field(default_factory=bytearray)
    ends: array[int] = field(default_factory=lambda: array("q"))  # where each blob ends in data
    sealing: bool = False

    def add(self, t: int, record: tuple[Any, ...]) -> int:
        if self.sealing:
            raise RuntimeError("an event was added to a log already being sealed")
        self.times.append(t)
        self.data += marshal.dumps(record)
        self.ends.append(len(self.data))
        return len(self.ends) - 1

    def record(self, i: int) -> tuple[Any, ...]:
        start = self.ends[i - 1] if i else 0
        record: tuple[Any, ...] = marshal.loads(memoryview(self.data)[start : self.ends[i]])
        return record

    def in_time_order(self) -> Iterator[tuple[int, int, tuple[Any, ...]]]:
        """``(t, position, record)`` ordered by time, ties in the order added; once."""
        if self.sealing:
            raise RuntimeError("a log is sealed once")
        self.sealing = True
        order = np.argsort(np.frombuffer(self.times, dtype=np.int64), kind="stable")
        for start in range(0, len(order), _ORDER_BATCH):
            for i in order[start : start + _ORDER_BATCH].tolist():
                yield self.times[i], i, self.record(i)
        del order
        self.times, self.data, self.ends = array("q"), bytearray(), array("q")


@dataclass
class WorkspaceLog:
    """Workspace audit log (docs/formats.md, format 1) under construction."""

    rng: random.Random
    role_changes: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    removals: dict[str, int] = field(default_factory=dict)  # staff id -> removal time
    gap_dates: set[date] = field(default_factory=set)
    sealed_events: int = 0  # events stamped so far
    last_hash: str = GENESIS
    done: bool = False  # every event has been sealed
    _records: _Records = field(default_factory=_Records)
    _values: _Values = field(default_factory=_Values)
    _actions: _Values = field(default_factory=_Values)
    _action_of: array[int] = field(default_factory=lambda: array("H"))
    _live: weakref.WeakValueDictionary[int, _LiveEvent] = field(default_factory=weakref.WeakValueDictionary)

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
        """Add an event; the dict returned is completed with id, hash etc. when the log is sealed."""
        v = self._values
        owner_id = owner.id if owner is not None else None
        record = (
            v.items_of(actor), v.items_of(resource or WORKSPACE), v.of(outcome), v.of(ip), v.of(user_agent),
            reason, before, after, record_count, list(subject_ids or []), v.of(owner_id),
        )  # fmt: skip
        i = self._records.add(t, record)
        self._action_of.append(self._actions.of(action))
        event = _LiveEvent(self._event(t, action, record))
        self._live[i] = event
        return event

    def _event(self, t: int, action: str, record: tuple[Any, ...]) -> Event:
        """The event dict of a record, in the order the simulation builds it."""
        values = self._values.values
        actor, resource, outcome, ip, ua, reason, before, after, record_count, subject_ids, owner = record
        event: Event = {
            "occurred_at": t,
            "category": CATEGORY_OF[action.split(".", 1)[0]],
            "action": action,
            "actor": dict(values[actor]),
            "resource": dict(values[resource]),
            "outcome": values[outcome],
            "ip_address": values[ip],
            "user_agent": values[ua],
            "details": {
                "reason": reason,
                "before": before,
                "after": after,
                "record_count": record_count,
                "subject_ids": subject_ids,
            },
        }
        if values[owner] is not None:
            event["_owner"] = values[owner]
        return event

    def find(self, action: str) -> list[Event]:
        """The events added so far with ``action``, as dicts that sealing completes."""
        code = self._actions.index.get(action)
        out: list[Event] = []
        for i, a in enumerate(self._action_of):
            if a == code:
                event = self._live.get(i)
                if event is None:
                    event = _LiveEvent(self._event(self._records.times[i], action, self._records.record(i)))
                    self._live[i] = event
                out.append(event)
        return out

    def sealed(self) -> Iterator[tuple[Event, bytes]]:
        """Order by time, drop the lost day, then stamp ids, sequence and the hash chain.

        Yields each kept event with its line (its canonical bytes) in order; once.
        """
        actions = self._actions.values
        action_of = self._action_of
        prev = GENESIS
        for t, i, record in self._records.in_time_order():
            if not START_MS <= t < END_MS:  # spilled past the quarter: in next quarter's export
                continue
            live = self._live.pop(i, None)
            if utc_date(t) in self.gap_dates:
                if live is not None:
                    live["lost"] = True
                continue
            ev = self._event(t, actions[action_of[i]], record)
            self._render_identity(t, ev)
            ev.pop("_owner", None)
            ev["id"] = "evt_" + ulid(t, self.rng)
            ev["sequence"] = self.sealed_events + 1
            ev["occurred_at"] = iso(t)
            ev["prev_hash"] = prev
            body = canonical(ev)
            prev = hashlib.sha256(body).hexdigest()
            ev["hash"] = prev
            self.sealed_events += 1
            self.last_hash = prev
            if live is not None:
                live.clear()
                live.update(ev)
            yield ev, _with_hash(body, ev["id"], prev)
        self._action_of = array("H")
        self.done = True

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
    last_t: dict[str, int] = field(default_factory=dict)
    # Per conversation, the event types its sealed history holds, as bits of _types' indexes.
    event_types: dict[str, int] = field(default_factory=dict)
    _records: _Records = field(default_factory=_Records)
    _values: _Values = field(default_factory=_Values)
    _types: _Values = field(default_factory=_Values)

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
        v = self._values
        self._records.add(
            t,
            (
                conversation_id, v.of(event_type), v.items_of(author), before, after, reason,
                v.of(ip), v.of(user_agent), v.of(channel), customer_id,
            ),
        )  # fmt: skip
        if START_MS <= t < END_MS:
            bit = 1 << self._types.of(event_type)
            self.event_types[conversation_id] = self.event_types.get(conversation_id, 0) | bit
        return t

    def most_varied_conversation(self) -> str:
        """The conversation whose history holds the most event types (ties: lowest id)."""
        kinds = self.event_types
        return min(kinds, key=lambda cid: (-kinds[cid].bit_count(), cid))

    def sealed(self) -> Iterator[Event]:
        """Stamp ids and order as the platform's API does: by (timestamp, event_id); once.

        Ids are drawn in (time, order added); events of one millisecond are then put in
        id order, so the stream is the whole log sorted by (timestamp, event_id).
        """
        values = self._values.values
        same_ms: list[Event] = []  # the events of one millisecond
        same_t = -1
        for t, _, record in self._records.in_time_order():
            if not START_MS <= t < END_MS:  # a conversation's later events fall in the next quarter
                continue
            if t != same_t:
                yield from sorted(same_ms, key=lambda e: e["event_id"])
                same_ms, same_t = [], t
            conversation_id, event_type, author, before, after, reason, ip, ua, channel, customer_id = record
            same_ms.append(
                {
                    "event_id": "aev_" + ulid(t, self.rng),
                    "conversation_id": conversation_id,
                    "event_type": values[event_type],
                    "author": dict(values[author]),
                    "timestamp": iso(t),
                    "before": before,
                    "after": after,
                    "reason": reason,
                    "ip_address": values[ip],
                    "user_agent": values[ua],
                    "channel": values[channel],
                    "customer_id": customer_id,
                }
            )
        yield from sorted(same_ms, key=lambda e: e["event_id"])
