"""Charts where a picture beats a table: events over time, failed logins, exports.

Each ``*_figure`` function returns a Plotly figure (for notebooks, interactive).
:class:`ChartExporter` turns figures into SVG through kaleido with **one** Chromium
export server for the whole run (starting Chromium per chart costs ~2 s; a kept
server ~0.15 s per chart). Kaleido finds Chromium through ``BROWSER_PATH``; we point
it at Debian's ``/usr/bin/chromium`` when it is unset. Running as root needs no extra
flag here: choreographer adds ``--no-sandbox`` itself when the user is root.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import shutil
import signal
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import plotly.graph_objects as go
import polars as pl
from plotly.io.base_renderers import MimetypeRenderer

from ..errors import DependencyError, ReportError
from ..progress import say
from .safety import data_uri

__all__ = [
    "ChartExporter",
    "StaticImageRenderer",
    "draw_charts",
    "events_over_time_figure",
    "exports_figure",
    "failed_logins_figure",
    "phi_access_figure",
    "subject_activity_figure",
    "use_static_images",
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


def _daily(events: pl.DataFrame | pl.LazyFrame, by: str | None = None, value: pl.Expr | None = None) -> pl.DataFrame:
    agg = (value if value is not None else pl.len()).alias("n")
    keys = [pl.col("timestamp").dt.date().alias("day")] + ([pl.col(by)] if by else [])
    # Grouped on the column as it is (an Enum is one byte a row), named as text afterwards.
    daily = events.lazy().group_by(keys).agg(agg)
    return (daily.with_columns(pl.col(by).cast(pl.String)) if by else daily).sort("day").collect()


def events_over_time_figure(
    events: pl.DataFrame | pl.LazyFrame, title: str = "Events per day by category"
) -> go.Figure:
    """Daily event counts stacked by category: gaps and bursts show at a glance."""
    daily = _daily(events, "category")
    fig = go.Figure()
    for cat in sorted(daily["category"].drop_nulls().unique().to_list()):
        part = daily.filter(pl.col("category") == cat)
        fig.add_bar(x=part["day"].to_list(), y=part["n"].to_list(), name=cat, marker_color=_CATEGORY_COLOURS.get(cat))
    fig.update_layout(title=title, barmode="stack", yaxis_title="events", **_LAYOUT)
    return fig


def failed_logins_figure(events: pl.DataFrame | pl.LazyFrame, title: str = "Failed logins per day") -> go.Figure:
    """Daily failed logins: brute-force bursts stand out as spikes."""
    daily = _daily(events.filter(pl.col("event_type") == "auth.login.failure"))
    fig = go.Figure(go.Bar(x=daily["day"].to_list(), y=daily["n"].to_list(), marker_color="#d62728", name="failed"))
    fig.update_layout(title=title, yaxis_title="failed logins", **_LAYOUT)
    return fig


def exports_figure(events: pl.DataFrame | pl.LazyFrame, title: str = "Data exports per day (records)") -> go.Figure:
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

    Kaleido runs in a thread of its own here (not kaleido's global "sync server"):
    when Chromium cannot start, kaleido raises inside its background thread and its
    synchronous calls wait forever. Here the start-up is awaited for at most
    ``start_timeout`` seconds and each chart for at most ``figure_timeout``; either
    failure raises :class:`DependencyError` (what failed and what to do).
    """

    def __init__(
        self,
        width: int = 900,
        height: int = 320,
        *,
        start_timeout: float | None = None,
        figure_timeout: float = 120.0,
    ) -> None:
        self.width = width
        self.height = height
        self.start_timeout = start_timeout if start_timeout is not None else _default_start_timeout()
        self.figure_timeout = figure_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._kaleido: Any = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[Any] | None = None

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
        started = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._task = asyncio.current_task()
            try:
                k = kaleido.Kaleido(n=1, timeout=self.figure_timeout)
                try:
                    await k.__aenter__()
                except BaseException:
                    _kill_browser(k)  # a browser that hung or died in start-up is not left behind
                    raise
                try:
                    self._kaleido = k
                    started.set()
                    await self._stop.wait()
                finally:
                    self._kaleido = None
                    await k.__aexit__(None, None, None)
            except BaseException as exc:  # Chromium missing, failing or killed: told to the caller
                failure.append(exc)
            finally:
                started.set()

        self._thread = threading.Thread(target=asyncio.run, args=(serve(),), name="auditreports-kaleido", daemon=True)
        self._thread.start()
        ready = started.wait(self.start_timeout)
        if failure or not ready or self._kaleido is None:
            self._shutdown(wait=5.0)
            if not ready:
                reason = f"it did not start within {self.start_timeout:.0f} s"
            else:
                reason = _one_line(failure[0]) if failure else "the export server stopped during start-up"
            raise DependencyError(
                f"charts need Chromium for kaleido and it could not start ({reason}); install chromium or set "
                "BROWSER_PATH to a working Chrome/Chromium, or turn charts off in the report settings "
                "(report: charts: false)."
            )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._shutdown(wait=30.0)

    def _shutdown(self, wait: float) -> None:
        loop, stop, thread, task = self._loop, self._stop, self._thread, self._task
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended already
                if self._kaleido is not None:
                    loop.call_soon_threadsafe(stop.set)  # a clean close of the running browser
                elif task is not None:
                    loop.call_soon_threadsafe(task.cancel)  # still starting: give up on it
        if thread is not None:
            thread.join(wait)
        self._thread = self._loop = self._stop = self._task = None

    def svg(self, fig: go.Figure | Mapping[str, Any]) -> bytes:
        k, loop = self._kaleido, self._loop
        if k is None or loop is None:
            raise ReportError("ChartExporter is not started; use it as `with ChartExporter() as charts:`.")
        opts = {"format": "svg", "width": self.width, "height": self.height}
        future = asyncio.run_coroutine_threadsafe(k.calc_fig(fig, opts=opts), loop)
        try:
            out = future.result(timeout=self.figure_timeout + 5)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise DependencyError(
                f"Chromium did not export a chart within {self.figure_timeout:.0f} s; check that chromium works "
                "(BROWSER_PATH), or turn charts off in the report settings (report: charts: false)."
            ) from None
        except Exception as exc:
            raise DependencyError(f"Chromium could not export a chart ({_one_line(exc)}).") from None
        return out if isinstance(out, bytes) else bytes(out)

    def data_uri(self, fig: go.Figure) -> str:
        return data_uri(self.svg(fig), "image/svg+xml")


def _default_start_timeout() -> float:
    """Seconds to wait for Chromium to start: AUDITREPORTS_CHART_START_TIMEOUT, else 60."""
    raw = os.environ.get("AUDITREPORTS_CHART_START_TIMEOUT", "")
    try:
        return float(raw) if raw.strip() else 60.0
    except ValueError:
        raise DependencyError(f"AUDITREPORTS_CHART_START_TIMEOUT must be a number of seconds, not {raw!r}") from None


def _kill_browser(k: Any) -> None:
    """Kill the browser process group kaleido started, if it is still running."""
    proc = getattr(k, "subprocess", None)
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # choreographer starts the browser in its own group
    except OSError:
        proc.kill()
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(part) for part in exc.args) if exc.args else type(exc).__name__
    return f"{type(exc).__name__}: {' '.join(text.split())}"[:400]


class StaticImageRenderer(MimetypeRenderer):
    """A Plotly renderer that adds the figure as SVG (``image/svg+xml``) to its display bundle.

    Combined with ``plotly_mimetype`` (see :func:`use_static_images`), an executed notebook
    keeps each figure twice: interactive for JupyterLab and VS Code, and a static picture
    for every viewer without Plotly's JavaScript (nbconvert HTML, GitHub, an auditor's
    viewer). One Chromium serves all figures of a kernel and is stopped when it exits.
    When Chromium cannot start, the figures stay interactive-only and stderr says why.
    """

    def __init__(self, width: int = 900, height: int = 450) -> None:
        self.width = width
        self.height = height
        self._exporter: ChartExporter | None = None
        self._unavailable: str | None = None

    def to_mimebundle(self, fig_dict: Any) -> dict[str, Any]:
        if self._unavailable is not None:
            return {}
        layout = fig_dict.get("layout", {}) if isinstance(fig_dict, Mapping) else {}
        try:
            if self._exporter is None:
                self._exporter = ChartExporter(self.width, self.height).__enter__()
                atexit.register(self.close)
            self._exporter.width = int(layout.get("width") or self.width)
            self._exporter.height = int(layout.get("height") or self.height)
            svg = self._exporter.svg(fig_dict)
        except DependencyError as exc:
            self._unavailable = exc.message
            say(f"[auditreports] warning: figures are shown without a static image: {exc.message}")
            return {}
        return {"image/svg+xml": svg.decode("utf-8")}

    def close(self) -> None:
        if self._exporter is not None:
            self._exporter.__exit__(None, None, None)
            self._exporter = None


STATIC_RENDERER = "auditreports_svg"


def use_static_images() -> None:
    """Show Plotly figures in this notebook interactively *and* as a static SVG beside them."""
    import plotly.io as pio

    if STATIC_RENDERER not in pio.renderers:
        pio.renderers[STATIC_RENDERER] = StaticImageRenderer()
    pio.renderers.default = f"plotly_mimetype+{STATIC_RENDERER}"


def draw_charts(charts: Mapping[str, Any], exporter: ChartExporter) -> None:
    """Export every chart's figure to an inline SVG URI with one running exporter."""
    for chart in charts.values():
        figure = getattr(chart, "figure", None)
        if figure is not None:
            chart.uri = exporter.data_uri(figure)  # type: ignore[attr-defined]
