"""auditreports: turn chatbot / helpdesk audit logs into evidence an auditor accepts.

The public API is what ``__all__`` lists, grouped by pipeline stage::

    load / open_store / write_store / fetch        sources → events (+ quarantine, ledger)
    verify / write_manifest / verify_manifest      integrity verdict and evidence manifest
    detect / sensitivity / load_rules / load_framework   findings and framework maps
    soc2_quarterly / hipaa_phi_access / gdpr_subject_access   reports (PDF/A + evidence)
    search / export / events_to_ocsf               find and hand over events
    Settings / load_settings                       one typed settings object

Everything else is private and may change. Names are imported lazily (PEP 562), so
``import auditreports`` and the CLI start fast and a report's heavy dependencies
(WeasyPrint, Plotly) load only when a report is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import errors as _errors
from ._version import __version__
from .errors import *  # noqa: F403  (the exception tree is public; errors.__all__ lists it)
from .schema import EVENT_SCHEMA, QUARANTINE_SCHEMA

# public name -> module that defines it
_LAZY = {
    "load": "sources",
    "LoadResult": "sources",
    "events_from_records": "sources",
    "formats": "sources",
    "open_store": "store",
    "write_store": "store",
    "Store": "store",
    "fetch": "api",
    "FetchReport": "api",
    "FetchSettings": "api",
    "verify": "integrity",
    "Verification": "integrity",
    "IntegritySettings": "integrity",
    "write_manifest": "integrity",
    "verify_manifest": "integrity",
    "detect": "detect",
    "Findings": "detect",
    "DetectionSettings": "detect",
    "sensitivity": "detect",
    "load_rules": "detect",
    "load_framework": "detect",
    "register_function": "detect",
    "soc2_quarterly": "pipeline",
    "hipaa_phi_access": "pipeline",
    "gdpr_subject_access": "pipeline",
    "ReportResult": "pipeline",
    "ReportSettings": "report.settings",
    "parse_period": "period",
    "gdpr_deadline": "period",
    "search": "search",
    "SearchFilters": "search",
    "export": "export",
    "ExportManifest": "export",
    "events_to_ocsf": "export",
    "findings_to_ocsf": "export",
    "generate_samples": "samples",
    "Settings": "settings",
    "load_settings": "settings",
    "run_report_notebook": "notebook",
}

__all__ = sorted(
    [
        *_LAZY,
        "EVENT_SCHEMA",
        "QUARANTINE_SCHEMA",
        *_errors.__all__,
        "__version__",
    ]
)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'auditreports' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # cache: the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return list(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .api import FetchReport, FetchSettings, fetch
    from .detect import DetectionSettings, Findings, detect, load_framework, load_rules, register_function, sensitivity
    from .export import ExportManifest, events_to_ocsf, export, findings_to_ocsf
    from .integrity import IntegritySettings, Verification, verify, verify_manifest, write_manifest  # type: ignore[no-redef]
    from .notebook import run_report_notebook
    from .period import gdpr_deadline, parse_period
    from .pipeline import ReportResult, gdpr_subject_access, hipaa_phi_access, soc2_quarterly
    from .report.settings import ReportSettings
    from .samples import generate_samples
    from .search import SearchFilters, search
    from .settings import Settings, load_settings
    from .sources import LoadResult, events_from_records, formats, load
    from .store import Store, open_store, write_store
