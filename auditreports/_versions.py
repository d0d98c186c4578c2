"""The resolved versions of the libraries that decide what a report looks like.

A report's reproducibility stamp records them, so the same evidence re-rendered later
can be checked against — or reinstalled with — the versions that made the PDF
(``constraints.txt`` pins the versions the project tests with).
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

__all__ = ["RENDERING_STACK", "rendering_stack"]

# Parsing and aggregation, templating, PDF writing, charts, notebook execution.
RENDERING_STACK = ("polars", "weasyprint", "pydyf", "jinja2", "plotly", "kaleido", "papermill")


def rendering_stack() -> str:
    """``"polars 2.1.0, weasyprint 70.0, …, Python 3.11.7"``: one line for the stamp."""
    parts = []
    for name in RENDERING_STACK:
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} not installed")
    parts.append(f"Python {platform.python_version()}")
    return ", ".join(parts)
