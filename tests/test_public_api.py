"""The curated public API: every name in __all__ resolves, and errors form one tree."""

from __future__ import annotations

import subprocess
import sys

import auditreports
from auditreports import errors


def test_every_public_name_resolves():
    missing = [name for name in auditreports.__all__ if getattr(auditreports, name, None) is None]
    assert missing == []


def test_all_is_sorted_and_unique():
    assert auditreports.__all__ == sorted(set(auditreports.__all__))


def test_every_exception_derives_from_the_base():
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.AuditReportsError)


def test_import_is_light():
    # The CLI imports the package for every command: no WeasyPrint/Plotly/httpx at import time.
    code = "import sys, auditreports; print(sorted(m for m in ('weasyprint', 'plotly', 'httpx', 'papermill') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
