"""The ``auditreports`` command line: a thin dispatcher over ``auditreports.commands``.

Each sub-command lives in its own module ``auditreports/commands/<name>.py`` that
defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Errors the user can fix (:class:`~auditreports.errors.AuditReportsError`) print one
line on stderr, no traceback, and exit with the error's exit code.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from ._version import __version__
from .errors import AuditReportsError

# Order is the order of `auditreports --help`: the pipeline, then the tools around it.
COMMANDS = (
    "ingest",
    "formats",
    "map_check",
    "fetch",
    "verify",
    "verify_manifest",
    "keygen",
    "detect",
    "review",
    "report",
    "batch",
    "search",
    "export",
    "samples",
    "serve_sample_api",
    "demo",
    "lab",
)


def _command_modules() -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for name in COMMANDS:
        module_name = f"auditreports.commands.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        found.append((name.replace("_", "-"), importlib.import_module(module_name)))
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditreports",
        description="Turn chatbot / helpdesk audit logs into evidence an auditor accepts.",
    )
    parser.add_argument("--version", action="version", version=f"auditreports {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _command_modules():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)  # type: ignore[attr-defined]
        module.add_arguments(p)  # type: ignore[attr-defined]
        p.set_defaults(_run=module.run)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args._run(args))
    except AuditReportsError as exc:
        print(f"auditreports: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("auditreports: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
