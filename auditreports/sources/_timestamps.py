"""Timestamp normalisation: every source time becomes ``datetime[us, UTC]``.

Audit exports disagree on how they write time. The canonical form of both platform
formats is ISO 8601 with a fraction and ``Z`` (``2026-07-03T14:02:11.532Z``). Other
forms are accepted but flagged, so an auditor can see that the evidence was
normalised: no time zone (``naive_timestamp``, read as UTC), an offset, no fraction,
a space separator, a leap second (``23:59:60``, read as the next minute's first
instant) or epoch seconds / milliseconds (``odd_timestamp``). Anything else
is not a timestamp and its record is quarantined by the caller.
"""

from __future__ import annotations

import polars as pl

__all__ = ["normalise_timestamp", "normalise_timestamps"]

_ISO = r"^(\d{4}-\d{2}-\d{2})([Tt ])(\d{2}:\d{2})(:\d{2})?(\.\d+)?([Zz]|[+-]\d{2}(?::?\d{2})?)?$"
_EPOCH = r"^\d{9,16}(?:\.\d+)?$"
# Below this an epoch number is read as seconds (year 5138), above it as milliseconds.
_EPOCH_MS_THRESHOLD = 100_000_000_000


def normalise_timestamp(text: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """``(timestamp, kind)`` for a string column of source timestamps.

    ``timestamp`` is ``datetime[us, UTC]`` or null when the text is not a timestamp;
    ``kind`` is ``"canonical"``, ``"naive"`` or ``"odd"`` (null where unparseable).
    Pure Polars expressions: no row loop.
    """
    s = text.str.strip_chars()
    g = s.str.extract_groups(_ISO)
    date, sep, hm, sec, frac, tz = (g.struct.field(str(i)) for i in range(1, 7))
    tz_norm = (
        pl.when(tz.is_null() | tz.str.to_uppercase().eq("Z"))
        .then(pl.lit("+00:00"))
        .when(tz.str.len_chars() == 3)
        .then(tz + ":00")
        .when(tz.str.len_chars() == 5)
        .then(tz.str.slice(0, 3) + ":" + tz.str.slice(3, 2))
        .otherwise(tz)
    )
    iso_text = pl.concat_str(
        [date, pl.lit("T"), hm, sec.fill_null(":00"), frac.fill_null(".0"), tz_norm],
    )
    iso = iso_text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%z", time_unit="us", time_zone="UTC", strict=False)
    is_epoch = s.str.contains(_EPOCH)
    number = pl.when(is_epoch).then(s).cast(pl.Float64, strict=False)
    micros = pl.when(number >= _EPOCH_MS_THRESHOLD).then(number * 1_000).otherwise(number * 1_000_000)
    epoch = pl.from_epoch(micros.round(0).cast(pl.Int64, strict=False), time_unit="us").dt.replace_time_zone("UTC")
    timestamp = pl.when(is_epoch).then(epoch).otherwise(iso)
    # A leap second (:60) is read as the first instant of the next minute, which is a
    # normalisation the auditor must see: never "canonical".
    canonical = sep.eq("T") & sec.is_not_null() & frac.is_not_null() & tz.eq("Z") & sec.ne(":60")
    kind = (
        pl.when(timestamp.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(is_epoch)
        .then(pl.lit("odd"))
        .when(tz.is_null())
        .then(pl.lit("naive"))
        .when(canonical)
        .then(pl.lit("canonical"))
        .otherwise(pl.lit("odd"))
    )
    return timestamp, kind


# The canonical form with every field in range (a leap second or hour 24 takes the general path).
_CANONICAL = r"^\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{1,9}Z$"


def _canonical_timestamps(text: pl.Series, canonical: pl.Series) -> pl.Series:
    """``datetime[us, UTC]`` for the rows of ``text`` known to match ``_CANONICAL`` (null elsewhere).

    Built from fixed-position slices (the date by a strict date parse, so 2026-02-30 is
    null; the fraction truncated to microseconds): about twice as fast as a
    format-string parse of the whole text, which matters at a million events.
    """
    c = pl.col("t")

    def number(start: int, length: int) -> pl.Expr:
        return c.str.slice(start, length).cast(pl.Int64, strict=False)

    fraction = (c.str.slice(20).str.strip_suffix("Z") + "000000").str.slice(0, 6).cast(pl.Int64, strict=False)
    micros = ((number(11, 2) * 60 + number(14, 2)) * 60 + number(17, 2)) * 1_000_000 + fraction
    day = c.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us"))
    stamp = (day + pl.duration(microseconds=micros)).dt.replace_time_zone("UTC")
    frame = pl.DataFrame({"t": text, "ok": canonical}, schema={"t": pl.String, "ok": pl.Boolean})
    return frame.select(pl.when(pl.col("ok")).then(stamp)).to_series()


def normalise_timestamps(text: pl.Series) -> tuple[pl.Series, pl.Series]:
    """:func:`normalise_timestamp` for a whole column, with a fast path for the canonical form.

    Exports are almost always entirely canonical, so one vectorised parse covers them;
    only the rows that are not go through the general (regex) parser.
    """
    canonical = text.str.contains(_CANONICAL).fill_null(False)
    fast = _canonical_timestamps(text, canonical)
    ok = canonical & fast.is_not_null()
    kinds = pl.repeat("canonical", len(text), dtype=pl.String, eager=True).alias("kind")
    if bool(ok.all()):
        return fast.alias("timestamp"), kinds
    rest = (~ok).arg_true()
    ts_expr, kind_expr = normalise_timestamp(pl.col("t"))
    slow = pl.DataFrame({"t": text.gather(rest)}).select(ts_expr.alias("ts"), kind_expr.alias("kind"))
    timestamp = fast.scatter(rest, slow["ts"]).alias("timestamp")
    return timestamp, kinds.scatter(rest, slow["kind"])
