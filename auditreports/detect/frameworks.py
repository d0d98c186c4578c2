"""Framework maps: requirement → the detection rules and integrity checks that evidence it.

One generic model for every framework (SOC 2, HIPAA, GDPR, or an organisation's
own file): a framework lists requirements; each names rules (by ``name``) and
integrity checks. Rules never list frameworks, so adding a framework never means
editing rules. Every reference is resolved when the file is loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import ConfigError, UsageError
from .problems import Problems
from .rules import load_rules
from .yamlsource import LineDict, line_of, load_yaml

__all__ = ["INTEGRITY_CHECKS", "Framework", "Requirement", "builtin_frameworks", "load_framework"]

# What auditreports.integrity can verify; frameworks cite these by name.
INTEGRITY_CHECKS = ("hash_chain", "sequence", "coverage", "continuity", "retention")
_TOP = ("framework", "title", "version", "description", "references", "requirements", "retention_minimum", "report")
# "report" (what the report of this framework says) is checked by auditreports.report.engine.
_REQ = ("id", "title", "description", "rules", "integrity_checks")


@dataclass(frozen=True)
class Requirement:
    """One requirement (a SOC 2 criterion, a HIPAA section, a GDPR article)."""

    id: str
    title: str
    description: str
    rules: tuple[str, ...]
    integrity_checks: tuple[str, ...]


@dataclass(frozen=True)
class Framework:
    """A framework map as loaded from its YAML file."""

    name: str
    title: str
    version: str
    description: str
    references: tuple[str, ...]
    requirements: tuple[Requirement, ...]
    path: str
    # The least audit-record retention the framework itself requires, and the provision that says so.
    retention_minimum_days: int | None = None
    retention_minimum_citation: str = ""

    def requirement(self, requirement_id: str) -> Requirement:
        for req in self.requirements:
            if req.id == requirement_id:
                return req
        raise UsageError(
            f"framework {self.name!r} has no requirement {requirement_id!r}; it has: {', '.join(r.id for r in self.requirements)}."
        )

    def rule_names(self) -> tuple[str, ...]:
        """Every rule this framework cites, in first-cited order."""
        seen: dict[str, None] = {}
        for req in self.requirements:
            seen.update(dict.fromkeys(req.rules))
        return tuple(seen)

    def requirements_for_rule(self, rule_name: str) -> tuple[str, ...]:
        """The requirement ids a rule's findings count as evidence for."""
        return tuple(r.id for r in self.requirements if rule_name in r.rules)


def builtin_frameworks() -> dict[str, Path]:
    """Shipped framework files by name."""
    directory = Path(str(resources.files("auditreports") / "frameworks"))
    return {p.stem: p for p in sorted(directory.glob("*.yml"))}


def _str_list(node: LineDict, key: str, file: str, problems: Problems) -> tuple[str, ...]:
    value = node.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(file, node.line_of(key), f"{key!r} must be a list of names")
        return ()
    return tuple(value)


def load_framework(name_or_path: str | Path, *, rules_dirs: Iterable[str | Path] = ()) -> Framework:
    """Load a shipped framework (``soc2``, ``hipaa``, ``gdpr``) or a framework file.

    Rule references are resolved against the built-in rules plus ``rules_dirs``;
    every problem (unknown keys, unknown rules or checks, duplicate requirement ids)
    is reported at once in a ConfigError whose ``errors`` list has file and line.
    """
    shipped = builtin_frameworks()
    text = str(name_or_path)
    if text in shipped:
        path = shipped[text]
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise UsageError(
                f"framework {text!r} is neither a shipped framework ({', '.join(shipped)}) nor a file; check the name or path."
            )
    file = str(path)
    doc = load_yaml(path)
    problems = Problems()
    if not isinstance(doc, LineDict):
        raise ConfigError(f"{file}: a framework file must be a YAML mapping with 'framework' and 'requirements'.")
    for key in doc:
        if key not in _TOP:
            problems.add(file, doc.line_of(key), f"unknown key {key!r}; allowed: {', '.join(_TOP)}")
    for key in ("framework", "title", "requirements"):
        if key not in doc:
            problems.add(file, doc.line, f"missing required key {key!r}")
    known_rules = {r.name for r in load_rules(rules_dirs)}
    requirements: list[Requirement] = []
    seen: set[str] = set()
    reqs = doc.get("requirements", [])
    if not isinstance(reqs, list):
        problems.add(file, doc.line_of("requirements"), "'requirements' must be a list")
        reqs = []
    for i, node in enumerate(reqs):
        if not isinstance(node, LineDict):
            problems.add(
                file,
                line_of(reqs, i),
                "each requirement must be a mapping with id, title, description, rules, integrity_checks",
            )
            continue
        for key in node:
            if key not in _REQ:
                problems.add(file, node.line_of(key), f"unknown key {key!r} in requirement; allowed: {', '.join(_REQ)}")
        for key in ("id", "title", "description"):
            if not isinstance(node.get(key), str) or not node[key].strip():
                problems.add(file, node.line_of(key), f"requirement {key!r} must be non-empty text")
        req_id = str(node.get("id"))
        if req_id in seen:
            problems.add(file, node.line_of("id"), f"duplicate requirement id {req_id!r}")
        seen.add(req_id)
        rules = _str_list(node, "rules", file, problems)
        checks = _str_list(node, "integrity_checks", file, problems)
        for j, name in enumerate(rules):
            if name not in known_rules:
                problems.add(file, line_of(node.get("rules"), j), f"requirement {req_id} cites unknown rule {name!r}")
        for j, name in enumerate(checks):
            if name not in INTEGRITY_CHECKS:
                problems.add(
                    file,
                    line_of(node.get("integrity_checks"), j),
                    f"requirement {req_id} cites unknown integrity check {name!r}; known: {', '.join(INTEGRITY_CHECKS)}",
                )
        if not rules and not checks:
            problems.add(file, node.line, f"requirement {req_id} cites no rule and no integrity check")
        requirements.append(
            Requirement(req_id, str(node.get("title", "")), str(node.get("description", "")).strip(), rules, checks)
        )
    minimum_days, citation = _retention_minimum(doc, file, problems)
    if problems:
        lines = problems.lines()
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        raise ConfigError(f"invalid framework file: {lines[0]}{more}; fix the file.", errors=list(problems.items))
    return Framework(
        name=str(doc["framework"]),
        title=str(doc["title"]),
        version=str(doc.get("version", "")),
        description=str(doc.get("description", "")).strip(),
        references=tuple(doc.get("references", []) or ()),
        requirements=tuple(requirements),
        path=file,
        retention_minimum_days=minimum_days,
        retention_minimum_citation=citation,
    )


def _retention_minimum(doc: LineDict, file: str, problems: Problems) -> tuple[int | None, str]:
    """``retention_minimum: {days: 2190, citation: "164.316(b)(2)"}`` (optional)."""
    node = doc.get("retention_minimum")
    if node is None:
        return None, ""
    days = node.get("days") if isinstance(node, dict) else None
    citation = node.get("citation", "") if isinstance(node, dict) else ""
    if not isinstance(days, int) or isinstance(days, bool) or days < 1 or not isinstance(citation, str):
        problems.add(
            file,
            doc.line_of("retention_minimum"),
            "'retention_minimum' must be {days: <whole days>, citation: <the provision>}",
        )
        return None, ""
    return days, citation


def framework_retention_minimums() -> dict[str, tuple[int, str]]:
    """Shipped frameworks' own retention minimums: name -> (days, citation), read without loading rules."""
    out: dict[str, tuple[int, str]] = {}
    for name, path in builtin_frameworks().items():
        doc = load_yaml(path)
        minimum, citation = _retention_minimum(doc, str(path), Problems()) if isinstance(doc, LineDict) else (None, "")
        if minimum is not None:
            out[name] = (minimum, citation)
    return out
