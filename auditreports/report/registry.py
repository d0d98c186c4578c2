"""The one registry of report kinds: every framework file with a ``report:`` block.

A report kind is named by its framework file's stem (``soc2.yml`` -> ``soc2``). The
shipped frameworks come first; organisation directories (``--frameworks DIR``,
``report.frameworks_dirs``) add kinds beside them, and a file there with a shipped name
replaces the shipped one. The CLI, the notebook parameters, the notebook runner, the
demo and the pipeline all ask this module, so a kind is never listed twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..detect.frameworks import Framework, builtin_frameworks, load_framework
from ..errors import ConfigError, UsageError
from .engine import ReportSpec, parse_report_spec

__all__ = ["GENERIC_NOTEBOOK", "LoadedReport", "ReportKind", "load_report", "report_kind", "report_kinds"]

# The notebook that renders any framework built from sections; a kind with its own
# notebook names it in its report: block (notebook: gdpr_subject_access.ipynb).
GENERIC_NOTEBOOK = "framework_report.ipynb"


@dataclass(frozen=True)
class ReportKind:
    """A report kind as the CLI and the runner see it (without loading its queries)."""

    name: str
    path: Path
    builder: str  # "sections" (the engine) or a custom builder (gdpr)
    notebook: str  # notebook file name in the notebooks directory
    parameters: tuple[str, ...]  # parameters beside the common ones
    shipped: bool


def _dirs(frameworks_dirs: Iterable[str | os.PathLike[str]]) -> list[Path]:
    out = []
    for d in frameworks_dirs:
        path = Path(d)
        if not path.is_dir():
            raise UsageError(
                f"frameworks directory {path} does not exist; check --frameworks or report.frameworks_dirs."
            )
        out.append(path)
    return out


def _report_block(path: Path) -> dict[str, object] | None:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"framework file {path} cannot be read ({exc.__class__.__name__}); fix it.") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"framework file {path} must be a YAML mapping with framework, requirements and report.")
    block = doc.get("report")
    if block is not None and not isinstance(block, dict):
        raise ConfigError(f"{path}: report must be a mapping (title, sections, …); fix the framework file.")
    return block


def report_kinds(frameworks_dirs: Iterable[str | os.PathLike[str]] = ()) -> dict[str, ReportKind]:
    """Every report kind: shipped frameworks with a report block, then the organisation's."""
    files: dict[str, tuple[Path, bool]] = {name: (path, True) for name, path in builtin_frameworks().items()}
    for directory in _dirs(frameworks_dirs):
        for path in sorted(directory.glob("*.yml")):
            files[path.stem] = (path, False)
    kinds = {}
    for name, (path, shipped) in files.items():
        block = _report_block(path)
        if block is None:
            continue  # a control map only (rules -> requirements), not a report
        builder = str(block.get("builder") or "sections")
        notebook = str(block.get("notebook") or GENERIC_NOTEBOOK)
        params = block.get("parameters") or []
        names = tuple(str(p) for p in params if isinstance(p, str)) if isinstance(params, list) else ()
        kinds[name] = ReportKind(name, path, builder, notebook, names, shipped)
    return kinds


def report_kind(name: str, frameworks_dirs: Iterable[str | os.PathLike[str]] = ()) -> ReportKind:
    """One report kind by name, or a one-line error listing the kinds there are."""
    kinds = report_kinds(frameworks_dirs)
    if name not in kinds:
        for directory in _dirs(frameworks_dirs):
            path = directory / f"{name}.yml"
            if path.is_file():
                raise UsageError(
                    f"framework file {path} has no report: block, so it is a control map only; "
                    "add one to make it a report kind (docs/reports.md)."
                )
        where = (
            "" if frameworks_dirs else " (an organisation framework needs --frameworks DIR or report.frameworks_dirs)"
        )
        raise UsageError(f"unknown report kind {name!r}; known: {', '.join(sorted(kinds))}{where}.")
    return kinds[name]


@dataclass(frozen=True)
class LoadedReport:
    framework: Framework
    spec: ReportSpec


def load_report(
    name_or_path: str | os.PathLike[str],
    *,
    frameworks_dirs: Iterable[str | os.PathLike[str]] = (),
    rules_dirs: Iterable[str | os.PathLike[str]] = (),
) -> LoadedReport:
    """A report kind's framework map (rules resolved) and its checked ``report:`` block."""
    text = os.fspath(name_or_path)
    path = Path(text)
    if path.suffix in (".yml", ".yaml") and path.is_file():
        name = path.stem
    else:
        kind = report_kind(text, list(frameworks_dirs))
        name, path = kind.name, kind.path
    framework = load_framework(path, rules_dirs=[Path(d) for d in rules_dirs])
    spec = parse_report_spec(name, _report_block(path), str(path))
    from ..detect.frameworks import INTEGRITY_CHECKS
    from .summary import check_summary_spec

    check_summary_spec(spec.summary, str(path), [r.id for r in framework.requirements], INTEGRITY_CHECKS)
    return LoadedReport(framework, spec)
