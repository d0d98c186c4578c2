"""Charts where a picture beats a table: events over time, failed logins, exports.

Each ``*_figure`` function returns a Plotly figure (for notebooks, interactive).
:class:`ChartExporter` turns figures into SVG through kaleido with **one** Chromium
export server for the whole run (starting Chromium per chart costs ~2 s; a kept
server ~0.15 s per chart). Kaleido finds Chromium through ``BROWSER_PATH``; we point
it at Debian's ``/usr/bin/chromium`` when it is unset. Running as root needs no extra
flag here: choreographer adds ``--no-sandbox`` itself when the user is root.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import plotly.graph_objects as go
import polars as pl

from ..errors import DependencyError, ReportError
from .safety import data_uri

__all__ = [
    "ChartExporter",
    "draw_charts",
    "events_over_time_figure",
    "exports_figure",
    "failed_logins_figure",
    "phi_access_figure",
    "subject_activity_figure",
]

_LAYOUT = {
    "template": "plotly_white",
    "font": {"family": "DejaVu Sans, sans-serif", "size": 11},
    "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
    "legend": {"orientation": "h", "y": -0.18},
}
_CATEGORY_COLOURS = {
    "auth": "#1f77b4",
    "config": "#d62728",
    "data_access": "#ff7f0e",
    "integration": "#9467bd",
    "system": "#7f7f7f",
    "conversation": "#2ca02c",
    "bot": "#17becf",
}


def _daily(events: pl.DataFrame, by: str | None = None, value: pl.Expr | None = None) -> pl.DataFrame:
    agg = (value if value is not None else pl.len()).alias("n")
    keys = [pl.col("timestamp").dt.date().alias("day")] + ([pl.col(by).cast(pl.String)] if by else [])
    return events.group_by(keys).agg(agg).sort("day")


def events_over_time_figure(events: pl.DataFrame, title: str = "Events per day by category") -> go.Figure:
    """Daily event counts stacked by category: gaps and bursts show at a glance."""
    daily = _daily(events, "category")
    fig = go.Figure()
    for cat in sorted(daily["category"].drop_nulls().unique().to_list()):
        part = daily.filter(pl.col("category") == cat)
        fig.add_bar(x=part["day"].to_list(), y=part["n"].to_list(), name=cat, marker_color=_CATEGORY_COLOURS.get(cat))
    fig.update_layout(title=title, barmode="stack", yaxis_title="events", **_LAYOUT)
    return fig


def failed_logins_figure(events: pl.DataFrame, title: str = "Failed logins per day") -> go.Figure:
    """Daily failed logins: brute-force bursts stand out as spikes."""
    daily = _daily(events.filter(pl.col("event_type") == "auth.login.failure"))
    fig = go.Figure(go.Bar(x=daily["day"].to_list(), y=daily["n"].to_list(), marker_color="#d62728", name="failed"))
    fig.update_layout(title=title, yaxis_title="failed logins", **_LAYOUT)
    return fig


def exports_figure(events: pl.DataFrame, title: str = "Data exports per day (records)") -> go.Figure:
    """Records exported per day: a bulk export is a tall bar."""
    exports = events.filter(pl.col("event_type") == "data.export")
    daily = _daily(exports, value=pl.col("record_count").fill_null(0).sum())
    fig = go.Figure(go.Bar(x=daily["day"].to_list(), y=daily["n"].to_list(), marker_color="#ff7f0e", name="records"))
    fig.update_layout(title=title, yaxis_title="records exported", **_LAYOUT)
    return fig


def phi_access_figure(access: pl.DataFrame, title: str = "PHI conversation accesses per day") -> go.Figure:
    """Daily staff accesses to PHI conversations, after-hours ones separately."""
    daily = _daily(
        access.with_columns(
            pl.when(pl.col("after_hours")).then(pl.lit("after hours")).otherwise(pl.lit("business hours")).alias("when")
        ),
        "when",
    )
    fig = go.Figure()
    for when, colour in (("business hours", "#1f77b4"), ("after hours", "#d62728")):
        part = daily.filter(pl.col("when") == when)
        fig.add_bar(x=part["day"].to_list(), y=part["n"].to_list(), name=when, marker_color=colour)
    fig.update_layout(title=title, barmode="stack", yaxis_title="accesses", **_LAYOUT)
    return fig


_SUBJECT_KINDS = (
    ("exports that included you", "#d62728"),
    ("staff actions", "#ff7f0e"),
    ("assistant (bot)", "#17becf"),
    ("your conversations", "#2ca02c"),
    ("other", "#7f7f7f"),
)


def subject_activity_figure(events: pl.DataFrame, title: str = "Events about you per week") -> go.Figure:
    """What touched one data subject, week by week: their conversations, the bot, staff, exports."""
    kind = (
        pl.when(pl.col("event_type") == "data.export")
        .then(pl.lit("exports that included you"))
        .when(pl.col("category") == "bot")
        .then(pl.lit("assistant (bot)"))
        .when(pl.col("actor_type").cast(pl.String).is_in(["user", "api_key"]))
        .then(pl.lit("staff actions"))
        .when(pl.col("category") == "conversation")
        .then(pl.lit("your conversations"))
        .otherwise(pl.lit("other"))
        .alias("kind")
    )
    weekly = (
        events.with_columns(kind, pl.col("timestamp").dt.truncate("1w").dt.date().alias("week"))
        .group_by("week", "kind")
        .len()
        .sort("week")
    )
    fig = go.Figure()
    for name, colour in _SUBJECT_KINDS:
        part = weekly.filter(pl.col("kind") == name)
        if part.height:
            fig.add_bar(x=part["week"].to_list(), y=part["len"].to_list(), name=name, marker_color=colour)
    fig.update_layout(title=title, barmode="stack", yaxis_title="events per week", **_LAYOUT)
    return fig


class ChartExporter:
    """One kaleido export server for all charts of a run; a context manager.

    ``svg(fig)`` returns the figure as SVG bytes; ``data_uri(fig)`` as an inline
    ``data:image/svg+xml`` URI the PDF renderer may load.
    """

    def __init__(self, width: int = 900, height: int = 320) -> None:
        self.width = width
        self.height = height
        self._started = False

    def __enter__(self) -> ChartExporter:
        try:
            import kaleido
        except ImportError:  # pragma: no cover - kaleido is a dependency
            raise DependencyError("charts need kaleido; install it with `pip install 'kaleido>=1,<2'`.") from None
        if "BROWSER_PATH" not in os.environ:
            for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("google-chrome")):
                if candidate and os.path.exists(candidate):
                    os.environ["BROWSER_PATH"] = candidate
                    break
        try:
            kaleido.start_sync_server(silence_warnings=True)
        except Exception as exc:
            raise DependencyError(
                f"charts need Chromium for kaleido and it could not start ({exc}); install chromium or set BROWSER_PATH, "
                "or turn charts off in the report settings."
            ) from None
        self._started = True
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._started:
            import kaleido

            kaleido.stop_sync_server(silence_warnings=True)
            self._started = False

    def svg(self, fig: go.Figure) -> bytes:
        if not self._started:
            raise ReportError("ChartExporter is not started; use it as `with ChartExporter() as charts:`.")
        import kaleido

        out = kaleido.calc_fig_sync(fig, opts={"format": "svg", "width": self.width, "height": self.height})
        return out if isinstance(out, bytes) else bytes(out)

    def data_uri(self, fig: go.Figure) -> str:
        return data_uri(self.svg(fig), "image/svg+xml")


def draw_charts(charts: Mapping[str, Any], exporter: ChartExporter) -> None:
    """Export every chart's figure to an inline SVG URI with one running exporter."""
    for chart in charts.values():
        figure = getattr(chart, "figure", None)
        if figure is not None:
            chart.uri = exporter.data_uri(figure)  # type: ignore[attr-defined]
