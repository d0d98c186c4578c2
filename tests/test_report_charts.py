"""Chart export: SVG through one Chromium, and a clear DependencyError — never a hang — without one."""

from __future__ import annotations

import os
from pathlib import Path

import plotly.graph_objects as go
import pytest
from conftest import marked_processes

from auditreports.errors import DependencyError
from auditreports.report.charts import ChartExporter, StaticImageRenderer

FIGURE = go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))


def _fake_browser(tmp_path: Path, body: str) -> str:
    path = tmp_path / "chromium"
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch):
    def use(path: str) -> None:
        monkeypatch.setenv("BROWSER_PATH", path)

    return use


@pytest.mark.timeout(120)  # the defect was a hang: the guard turns one into a failure
def test_a_browser_path_that_does_not_exist_is_a_dependency_error(browser) -> None:
    browser("/nonexistent/chromium")
    with pytest.raises(DependencyError) as err, ChartExporter():
        pass
    message = err.value.message
    assert "charts need Chromium" in message and "/nonexistent/chromium" in message
    assert "BROWSER_PATH" in message and "charts: false" in message


@pytest.mark.timeout(120)
def test_a_browser_that_dies_at_start_is_a_dependency_error(browser, tmp_path: Path) -> None:
    browser(_fake_browser(tmp_path, "exit 1"))
    with pytest.raises(DependencyError, match="could not start"), ChartExporter():
        pass


@pytest.mark.timeout(120)
def test_a_browser_that_never_answers_times_out_and_is_killed(browser, tmp_path: Path) -> None:
    browser(_fake_browser(tmp_path, "exec sleep 600"))
    with pytest.raises(DependencyError, match="did not start within 3 s"), ChartExporter(start_timeout=3):
        pass
    # The hung browser is not left behind (the conftest check would also fail this test).
    assert not [cmd for cmd in marked_processes().values() if "sleep 600" in cmd]


@pytest.mark.timeout(120)
def test_the_start_timeout_comes_from_the_environment(browser, tmp_path: Path, monkeypatch) -> None:
    browser(_fake_browser(tmp_path, "exec sleep 600"))
    monkeypatch.setenv("AUDITREPORTS_CHART_START_TIMEOUT", "2")
    with pytest.raises(DependencyError, match="did not start within 2 s"), ChartExporter():
        pass
    monkeypatch.setenv("AUDITREPORTS_CHART_START_TIMEOUT", "soon")
    with pytest.raises(DependencyError, match="must be a number of seconds"):
        ChartExporter()


@pytest.mark.timeout(300)
@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="Chromium is not installed (/usr/bin/chromium)")
def test_one_exporter_serves_every_chart_as_svg() -> None:
    with ChartExporter(width=400, height=200) as charts:
        first, second = charts.svg(FIGURE), charts.svg(go.Figure(go.Scatter(x=[1, 2], y=[3, 1])))
    for svg in (first, second):
        assert svg.lstrip().startswith(b"<svg") and b'width="400"' in svg


@pytest.mark.timeout(120)
def test_notebook_figures_stay_interactive_when_chromium_is_missing(browser, capsys) -> None:
    browser("/nonexistent/chromium")
    renderer = StaticImageRenderer()
    assert renderer.to_mimebundle(FIGURE.to_dict()) == {}
    assert renderer.to_mimebundle(FIGURE.to_dict()) == {}  # said once, not per figure
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "without a static image" in err[0] and "charts need Chromium" in err[0]
