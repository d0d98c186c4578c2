"""The fast canonical-JSON path writes exactly what rfc8785 writes, or defers to it."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import rfc8785

from auditreports.errors import SourceFormatError
from auditreports.sources._canonical import CanonicalizationError, _plain, canonical_json, canonical_json_lenient

HOSTILE_STRINGS = [
    "",
    'quote " backslash \\ slash /',
    "\b\f\n\r\t",
    "".join(chr(i) for i in range(0x20)),  # every control character
    "\x7f DEL and \x80\x9f C1 controls",
    "\u2028 line and \u2029 paragraph separators",
    "BMP: é ß 中文 \ue000 \uffff",
    "astral: \U0001f600 \U00010000 \U0010ffff",
    "</script><!-- -->",
    "\\u0041 is not an escape here",
]

HOSTILE_KEYS = ["a", "b", "A", "", "é", "\ue000", "\uffff", "\U0001f600", "\U00010000", "10", "1", "\x00", "a\nb"]


def _reference(value: Any) -> str:
    return rfc8785.dumps(value).decode("utf-8")


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
def test_strings_are_escaped_exactly_as_rfc8785(text: str) -> None:
    assert canonical_json(text) == _reference(text)
    assert canonical_json({"k": text, text: [text]}) == _reference({"k": text, text: [text]})


def test_keys_sort_by_utf16_code_units_even_beside_private_use_characters() -> None:
    # Python sorts U+1F600 after U+E000; RFC 8785 (UTF-16) sorts it before: the fast path must not apply.
    value = {key: i for i, key in enumerate(HOSTILE_KEYS)}
    assert not _plain(value)
    assert canonical_json(value) == _reference(value)
    assert json.loads(canonical_json(value)) == value
    bmp = {key: i for i, key in enumerate(HOSTILE_KEYS) if ord(max(key, default="a")) < 0x10000}
    assert _plain(bmp) and canonical_json(bmp) == _reference(bmp)


@pytest.mark.parametrize(
    "number",
    [0, -1, 1, 2**53 - 1, -(2**53) + 1, True, False, None],
)
def test_integers_inside_the_domain_and_literals_match(number: Any) -> None:
    assert canonical_json({"n": number, "l": [number]}) == _reference({"n": number, "l": [number]})


@pytest.mark.parametrize("value", [1.0, -0.0, 1e21, 1e-7, 0.1, 123456789.125, 5e-324, 1.7976931348623157e308])
def test_floats_take_the_reference_path(value: float) -> None:
    # json.dumps writes 1.0 and 1e+21; RFC 8785 writes 1 and 1e+21 per ECMAScript: never the fast path.
    assert not _plain({"f": value})
    assert canonical_json({"f": value}) == _reference({"f": value})


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**30, float("nan"), float("inf"), "lone \ud800 surrogate"])
def test_values_outside_rfc8785_are_refused_like_rfc8785_and_kept_by_the_lenient_form(value: Any) -> None:
    with pytest.raises(CanonicalizationError):
        canonical_json({"v": value})
    with pytest.raises(CanonicalizationError):
        rfc8785.dumps({"v": value})
    assert canonical_json_lenient({"v": value}).startswith('{"v":')


def test_other_python_types_defer_to_rfc8785() -> None:
    import enum

    class Level(enum.IntEnum):
        HIGH = 3

    for value in ({"t": (1, 2)}, {"e": Level.HIGH}):
        assert not _plain(value)
        assert canonical_json(value) == _reference(value)
    with pytest.raises(CanonicalizationError):
        canonical_json({1: "int key"})


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    alphabet = [*'abcAZ09 "\\/', "\n", "\t", "\x00", "\x1f", "\x7f", "é", "\u2028", "\ue000", "\uffff", "\U0001f600"]
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, 1, -1, 2**53 - 1, -(2**53) + 1, rng.randrange(-(10**9), 10**9)])
    if kind in (3, 4):
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))
    if kind == 5:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 4))) for _ in range(rng.randrange(5))]
    return {key: _random_value(rng, depth + 1) for key in keys}


def test_random_nested_values_match_rfc8785_byte_for_byte() -> None:
    rng = random.Random(8785)
    fast = 0
    for _ in range(3000):
        value = _random_value(rng)
        assert canonical_json(value) == _reference(value), value
        fast += _plain(value)
    assert fast > 1000  # the comparison exercised the fast path, not only the fallback


def test_events_from_records_keeps_rfc8785_raw_for_hostile_records() -> None:
    from auditreports.sources import events_from_records

    base: dict[str, Any] = {
        "conversation_id": "conv_1",
        "event_type": "note_added",
        "author": {"kind": "user", "id": "u_1", "name": "Zoë \U0001f600"},
        "timestamp": "2026-07-03T10:00:00.000Z",
        "customer_id": "cus_1",
    }
    page = [
        {**base, "event_id": "e1", "after": {"note": 'line\nbreak \x01 \u2028 "q" \\'}},
        {**base, "event_id": "e2", "after": {"score": 0.5, "ratio": 1.0}},  # floats: ECMAScript numbers
        {**base, "event_id": "e3", "after": {"\U0001f600": 1, "\ue000": 2}},  # astral key: UTF-16 order
        {**base, "event_id": "e4", "after": {"big": 2**53 - 1}},
    ]
    events, quarantine = events_from_records(page, source_file="api#page=1")
    assert quarantine.height == 0
    assert events["raw"].to_list() == [_reference(r) for r in page]
    beyond, rejected = events_from_records([{**base, "event_id": "e5", "n": 2**53}], source_file="api#page=2")
    assert beyond.height == 0 and "canonical JSON" in rejected["reason"][0]


@pytest.mark.shared
def test_events_from_records_maps_vendor_records_through_their_field_map(shared_real: Any) -> None:
    from auditreports.sources import events_from_records, get_format

    path = shared_real / "panther-analysis-fixtures/rule_tests/Okta.SystemLog.ndjson"
    file_events = get_format("okta").parse(path.read_bytes(), str(path)).events
    records = [json.loads(row) for row in file_events["raw"].head(10)]
    events, quarantine = events_from_records(records, format="okta", source_file="okta-api#page=1")
    assert quarantine.height == 0
    assert events["source"].unique().to_list() == ["okta"]
    same = ["timestamp", "event_type", "source_action", "actor_id", "outcome"]
    assert events.select(same).equals(file_events.head(10).select(same))
    with pytest.raises(SourceFormatError, match="unknown format"):
        events_from_records(records, format="nope", source_file="x")


_LOOKALIKES: list[Any] = [
    '{"a": 1}',  # a JSON string that reads like an object once Polars drops its quotes
    "[1, 2]",
    "{}",
    {"b": 1, "a": 2},  # unsorted keys
    {"a b": 1, "a": 2},  # a key that sorts after its prefix ("a" < "a b" although " " < '"')
    {"a": "back\\slash", 'k"ey': 1, "t": "tab\there"},  # Polars' own text loses these escapes
    {"x": -0, "y": 1.0, "z": 1e21, "w": 2**60, "v": 999_999_999_999_999},
    {"\U0001f600": 1, "\ue000": 2},
    {"s": "a, b: c", "q": 'x": y'},
    [],
    {"a": []},
]


@pytest.mark.parametrize("layout", ["ndjson", "ndjson-ascii", "json-array"])
def test_before_and_after_read_from_files_are_rfc8785_of_the_source_value(tmp_path: Any, layout: str) -> None:
    # The file loaders prove most values canonical with Polars expressions and parse the rest
    # from the record's raw text; either way the text must be what RFC 8785 writes for the value.
    from auditreports.sources import load

    rng = random.Random(2)
    values = _LOOKALIKES + [_random_value(rng) for _ in range(400)]
    ascii_only = layout == "ndjson-ascii"
    if ascii_only:  # only an escaped lone surrogate is valid in a UTF-8 file
        values.append({"lone": "\ud800"})
    values += [
        {f"k{j}": rng.choice([1, "v", None, True, [1, "x"]]) for j in rng.sample(range(9), 3)} for _ in range(200)
    ]
    records = [
        {
            "id": f"evt_{i}",
            "sequence": i + 1,
            "occurred_at": "2026-07-01T10:00:00.000Z",
            "category": "configuration",
            "action": "config.system_prompt_updated",
            "actor": {"type": "user", "id": "usr_1"},
            "details": {"before": value, "after": {"v": i}},
        }
        for i, value in enumerate(values)
    ]
    lines = [json.dumps(r, ensure_ascii=ascii_only) for r in records]
    text = "[\n" + ",\n".join(lines) + "\n]\n" if layout == "json-array" else "\n".join(lines) + "\n"
    path = tmp_path / "workspace.json"
    path.write_text(text, encoding="utf-8")
    result = load(path)
    assert result.quarantine.height == 0
    events = result.events.collect().sort("seq")
    expected = [None if v is None else canonical_json_lenient(v) for v in values]
    assert events["before"].to_list() == expected
    assert events["after"].to_list() == [f'{{"v":{i}}}' for i in range(len(values))]
