"""The one exception tree of auditreports.

Exceptions are for the caller's mistakes and broken environments. Bad *data*
(a truncated line, a tampered record, a brute-force burst) is never an
exception: it is a quarantine row, an integrity break or a finding.

    AuditReportsError                 every error this package raises on purpose
    ├── UsageError                    a bad argument, parameter or option (exit 2)
    │   └── ParameterError            a notebook / report parameter is invalid
    ├── InputError                    input that cannot be used at all (exit 2)
    │   ├── SourceFormatError         a source whose format is unknown or unreadable
    │   └── NothingLoadedError        no usable event in any input
    ├── StoreError                    a store directory that is missing or damaged
    ├── ConfigError                   a settings / rules / framework file is invalid
    │   ├── RuleError                 one or more rule files are invalid
    │   └── ReviewFileError           the review file is invalid (each problem with file:line)
    ├── FetchError                    the audit-log API could not be read
    │   ├── AuthenticationError       401 / 403: wrong or missing token
    │   ├── PaginationError           a repeated cursor, a page that is not JSON
    │   └── RetriesExhaustedError     the retry budget ran out
    ├── IntegrityError                a manifest / signature that cannot be checked
    ├── ReportError                   a report could not be built or rendered
    │   ├── UnsafeResourceError       the PDF renderer was asked to fetch something
    │   ├── NotebookExecutionError    a report notebook failed (cell, kernel, timeout)
    │   └── ReviewIncompleteError     --final while critical/high findings are undecided (exit 1)
    └── DependencyError               a missing library or system package

Every exception carries its context as attributes and a one-sentence message
that says what went wrong and what to do; the CLI prints that sentence and no
traceback.
"""

from __future__ import annotations

__all__ = [
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
    "ReviewFileError",
    "ReviewIncompleteError",
    "RuleError",
    "SourceFormatError",
    "StoreError",
    "UnsafeResourceError",
    "UsageError",
]


class AuditReportsError(Exception):
    """Base of every error auditreports raises on purpose."""

    exit_code: int = 2

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = context
        for key, value in context.items():
            setattr(self, key, value)


class UsageError(AuditReportsError):
    """A bad command-line argument, option or function argument."""


class ParameterError(UsageError):
    """A notebook or report parameter is unknown, mistyped or out of range."""


class InputError(AuditReportsError):
    """Input that cannot be used at all."""


class SourceFormatError(InputError):
    """A source whose format cannot be detected or read."""


class NothingLoadedError(InputError):
    """Not a single usable event was loaded from the inputs."""


class StoreError(AuditReportsError):
    """A store directory that is missing, not a store, or damaged."""


class ConfigError(AuditReportsError):
    """A settings, rules or framework file is invalid."""


class RuleError(ConfigError):
    """One or more detection rule files are invalid.

    ``errors`` lists every problem found, each as ``(file, line, message)``.
    """

    def __init__(
        self, message: str, errors: list[tuple[str, int | None, str]] | None = None, **context: object
    ) -> None:
        super().__init__(message, **context)
        self.errors = errors or []


class ReviewFileError(ConfigError):
    """The review file is invalid.

    ``errors`` lists every problem found, each as ``(file, line, message)``; the
    message has one line per problem, ``file:line: what is wrong; what to do``.
    """

    def __init__(
        self, message: str, errors: list[tuple[str, int | None, str]] | None = None, **context: object
    ) -> None:
        super().__init__(message, **context)
        self.errors = errors or []


class FetchError(AuditReportsError):
    """The audit-log API could not be read completely."""

    exit_code = 1


class AuthenticationError(FetchError):
    """The API refused the token (401) or the permission (403)."""


class PaginationError(FetchError):
    """The API's pagination is broken: a repeated cursor or a page that is not JSON."""


class RetriesExhaustedError(FetchError):
    """Retries of a failing request ran out (attempts or total time)."""


class IntegrityError(AuditReportsError):
    """A manifest or signature that cannot be checked (not a failed verification)."""

    exit_code = 1


class ReportError(AuditReportsError):
    """A report could not be built or rendered."""

    exit_code = 1


class UnsafeResourceError(ReportError):
    """The PDF renderer was asked to fetch a resource that is not a ``data:`` URL."""


class NotebookExecutionError(ReportError):
    """A report notebook failed: a cell raised, the kernel died or time ran out."""


class ReviewIncompleteError(ReportError):
    """A final report was asked for while critical or high findings are still undecided.

    ``finding_ids`` names them.
    """


class DependencyError(AuditReportsError):
    """A library or system package that this feature needs is missing."""
