"""auditreports: turn chatbot / helpdesk audit logs into evidence an auditor accepts.

The public API is what ``__all__`` lists; everything else is private and may change.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
    AuditReportsError,
    AuthenticationError,
    ConfigError,
    DependencyError,
    FetchError,
    InputError,
    IntegrityError,
    NotebookExecutionError,
    NothingLoadedError,
    PaginationError,
    ParameterError,
    ReportError,
    RetriesExhaustedError,
    RuleError,
    SourceFormatError,
    StoreError,
    UnsafeResourceError,
    UsageError,
)
from .schema import EVENT_SCHEMA, QUARANTINE_SCHEMA

__all__ = [
    "EVENT_SCHEMA",
    "QUARANTINE_SCHEMA",
    "AuditReportsError",
    "AuthenticationError",
    "ConfigError",
    "DependencyError",
    "FetchError",
    "InputError",
    "IntegrityError",
    "NotebookExecutionError",
    "NothingLoadedError",
    "PaginationError",
    "ParameterError",
    "ReportError",
    "RetriesExhaustedError",
    "RuleError",
    "SourceFormatError",
    "StoreError",
    "UnsafeResourceError",
    "UsageError",
    "__version__",
]
