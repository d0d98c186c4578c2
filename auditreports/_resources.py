"""Where the files that ship with auditreports live: report templates and notebooks.

The product's layout keeps them at the top of the repository (``templates/``,
``notebooks/``); a built wheel maps them into the package (``auditreports/templates``,
``auditreports/notebooks``). One lookup serves both, so nothing is copied twice.
"""

from __future__ import annotations

from pathlib import Path

from .errors import DependencyError

__all__ = ["notebooks_dir", "templates_dir"]

_PACKAGE = Path(__file__).resolve().parent


def _shipped(name: str, what: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise DependencyError(
        f"the shipped {what} were not found in {_PACKAGE / name} or {_PACKAGE.parent / name}; "
        "reinstall auditreports (pip install auditreports, or pip install -e . from a clone)"
    )


def templates_dir() -> Path:
    """The shipped report templates (Jinja2 + the stylesheet)."""
    return _shipped("templates", "report templates")


def notebooks_dir() -> Path:
    """The shipped parameterised notebooks."""
    return _shipped("notebooks", "report notebooks")
