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


def test_report_package_names_resolve_and_are_sorted():
    import auditreports.report as report

    assert report.__all__ == sorted(set(report.__all__))
    assert [name for name in report.__all__ if getattr(report, name, None) is None] == []


def _module_imports() -> dict[str, set[str]]:
    """Module -> the auditreports modules it imports at module level (not inside functions or TYPE_CHECKING)."""
    import ast
    from pathlib import Path

    root = Path(auditreports.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        name = ".".join(parts)
        package = parts if is_package else parts[:-1]
        edges: set[str] = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # module level only
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
                if not target.startswith("auditreports"):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    edges.add(sub if (root.parent / sub.replace(".", "/")).with_suffix(".py").exists() else target)
            elif isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name.startswith("auditreports")}
        graph[name] = edges - {name}
    return graph


def test_no_import_cycles_between_modules():
    """Layers import downwards only: e.g. report.model must not import the package __init__."""
    graph = _module_imports()
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in trail:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt in graph and nxt not in done:
                visit(nxt, [*trail, nxt])
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start])
    assert cycles == []


def test_no_module_imports_the_package_itself():
    """The package __init__ is the public face; modules import the module that defines a name."""
    importers = sorted(name for name, edges in _module_imports().items() if "auditreports" in edges)
    assert importers == []


def test_section_settings_never_import_the_settings_file_reader():
    """settings.py composes the sections; a section importing it back (even inside a function) is a cycle."""
    import ast
    from pathlib import Path

    root = Path(auditreports.__file__).parent
    sections = ["detect/settings.py", "report/settings.py", "integrity/settings.py", "api/_settings.py"]
    offenders = []
    for rel in sections:
        for node in ast.walk(ast.parse((root / rel).read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module == "settings":
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []
