"""Reports: framework files (YAML) + named queries -> a report model -> a sandboxed template -> PDF/A.

    build_report(framework, inputs)     the model of any framework built from sections (soc2, hipaa, …)
    ReportInputs                        the plain data every report is built from
    report_kinds / load_report          the one registry of report kinds (framework files with a report block)
    query / chart / section_kind        register a named query, a chart or a section kind
    render_pdf / render_html            Jinja (sandboxed, autoescaped) + WeasyPrint (data: URLs only)

The GDPR subject access report has its own builder (``report.gdpr``); see docs/reports.md.
Names are imported on first use, so ``import auditreports.report`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "LoadedReport",
    "QueryContext",
    "ReportInputs",
    "ReportKind",
    "ReportModel",
    "ReportSettings",
    "ReportSpec",
    "build_report",
    "chart",
    "load_report",
    "query",
    "render_html",
    "render_pdf",
    "report_kind",
    "report_kinds",
    "section_kind",
]

_LAZY = {
    "LoadedReport": "registry",
    "QueryContext": "engine",
    "ReportInputs": "common",
    "ReportKind": "registry",
    "ReportModel": "model",
    "ReportSettings": "settings",
    "ReportSpec": "engine",
    "build_report": "engine",
    "chart": "engine",
    "load_report": "registry",
    "query": "engine",
    "render_html": "render",
    "render_pdf": "render",
    "report_kind": "registry",
    "report_kinds": "registry",
    "section_kind": "engine",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'auditreports.report' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return list(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .common import ReportInputs
    from .engine import QueryContext, ReportSpec, build_report, chart, query, section_kind
    from .model import ReportModel
    from .registry import LoadedReport, ReportKind, load_report, report_kind, report_kinds
    from .render import render_html, render_pdf
    from .settings import ReportSettings
