"""The canonical-timestamp fast path reads exactly what the general parser reads."""

from __future__ import annotations

import random

import polars as pl
import pytest

from auditreports.sources._timestamps import normalise_timestamp, normalise_timestamps

EDGE_CASES = [
    "2026-07-03T14:02:11.532Z",
    "2026-07-03T14:02:11.5Z",
    "2026-07-03T14:02:11.123456789Z",  # nanoseconds: truncated to microseconds
    "2024-02-29T23:59:59.999999Z",  # a leap day
    "2026-02-30T10:00:00.000Z",  # no such day: unreadable, not 2 March
    "2026-13-01T10:00:00.000Z",
    "2026-07-03T24:00:00.000Z",
    "2016-12-31T23:59:60.000Z",  # a leap second
    "0001-01-01T00:00:00.000Z",
    "9999-12-31T23:59:59.999Z",
    "2026-07-03T14:02:11Z",  # odd: no fraction
    "2026-07-03 14:02:11.1Z",
    "2026-07-03T14:02:11.532+02:00",
    "2026-07-03T14:02:11.532",  # naive
    "2026-07-03T14:02:11.532z",
    " 2026-07-03T14:02:11.532Z",
    "1782864000",
    "yesterday at noon",
    None,
]


def _general(values: list[str | None]) -> tuple[list[object], list[object]]:
    frame = pl.DataFrame({"t": values}, schema={"t": pl.String}).select(*normalise_timestamp(pl.col("t")))
    return frame.to_series(0).to_list(), frame.to_series(1).to_list()


@pytest.mark.parametrize("text", EDGE_CASES)
def test_fast_path_agrees_with_the_general_parser_on_edge_cases(text: str | None) -> None:
    timestamp, kind = normalise_timestamps(pl.Series([text], dtype=pl.String))
    assert (timestamp.to_list(), kind.to_list()) == _general([text])
    assert timestamp.dtype == pl.Datetime("us", "UTC")


def test_fast_path_agrees_with_the_general_parser_on_random_canonical_timestamps() -> None:
    rng = random.Random(3)
    values = [
        f"{rng.randrange(1, 10000):04d}-{rng.randrange(1, 14):02d}-{rng.randrange(1, 32):02d}T"
        f"{rng.randrange(25):02d}:{rng.randrange(61):02d}:{rng.randrange(61):02d}."
        + "".join(rng.choice("0123456789") for _ in range(rng.randrange(1, 10)))
        + "Z"
        for _ in range(5000)
    ]
    timestamp, kind = normalise_timestamps(pl.Series(values, dtype=pl.String))
    expected_ts, expected_kind = _general(values)
    assert timestamp.to_list() == expected_ts
    assert kind.to_list() == expected_kind
    assert kind.null_count() < len(values) // 2  # most were readable: the fast path was exercised


@pytest.mark.parametrize("text", ["2016-12-31T23:59:60.000Z", "2016-12-31T23:59:60.5Z", "2026-07-03T14:02:60.000Z"])
def test_a_leap_second_is_read_as_the_next_instant_and_flagged_odd(text: str) -> None:
    timestamp, kind = normalise_timestamps(pl.Series([text], dtype=pl.String))
    assert kind.to_list() == ["odd"]
    assert timestamp[0] is not None and timestamp[0].second == 0
