"""Rule files: one YAML file per detection rule, validated all at once.

A rule file carries Sigma-like metadata (a stable UUID ``id``, ``name``, ``title``,
``description``, ``severity``, ``status``, ``references``, ``falsepositives``,
``tags``), the tunable ``parameters`` with their defaults, a one-line ``summary``
template and a ``logic`` block (see :mod:`auditreports.detect.compiler`).
:func:`load_rules` reads the package's rules plus any organisation directories and
reports every problem — unknown keys, bad values, duplicate ids or names, unknown
logic kinds — in one :class:`~auditreports.errors.RuleError` with file and line.
"""

from __future__ import annotations

import re
import string
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ConfigError, UsageError
from .compiler import CompiledRule, compile_logic, known_fields
from .durations import is_duration
from .problems import Problems
from .yamlsource import LineDict, line_of, load_yaml

__all__ = [
    "SEVERITIES",
    "STATUSES",
    "SUMMARY_FIELDS",
    "Rule",
    "builtin_rules_dir",
    "load_rules",
    "reviewer_note_warnings",
]

from ..schema import SEVERITIES

STATUSES = ("stable", "test", "experimental", "deprecated", "unsupported")
_REQUIRED = (
    "id",
    "name",
    "title",
    "description",
    "severity",
    "status",
    "logic",
    "summary",
)
# What a reviewer reads on a finding card: required of the shipped rules; an organisation
# rule may lack them (its card shows what is known) and `lacks_reviewer_notes` says so.
_REVIEWER_NOTES = ("why_it_matters", "what_to_check")
_OPTIONAL = (
    *_REVIEWER_NOTES,
    "references",
    "falsepositives",
    "tags",
    "author",
    "date",
    "modified",
    "parameters",
    "severity_when",
)
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Values a summary template can use besides group fields and parameters.
SUMMARY_FIELDS = ("count", "distinct", "value", "baseline", "limit", "window_start", "window_end")


@dataclass(frozen=True)
class Rule:
    """One detection rule as read from its file (metadata, parameter defaults, raw logic)."""

    id: str
    name: str
    title: str
    description: str
    severity: str
    status: str
    summary: str
    logic: Mapping[str, Any]
    parameters: Mapping[str, Any]
    references: tuple[str, ...]
    falsepositives: tuple[str, ...]
    tags: tuple[str, ...]
    path: str
    why_it_matters: str = ""  # for a reviewer: the risk this rule evidences, in plain words
    what_to_check: str = ""  # for a reviewer: what to look at to close a finding
    severity_when: tuple[Any, ...] = ()  # raw severity_when entries (compiled with the logic)

    @property
    def lacks_reviewer_notes(self) -> tuple[str, ...]:
        """The reviewer notes (why_it_matters, what_to_check) this rule's file does not give."""
        return tuple(k for k in _REVIEWER_NOTES if not getattr(self, k))

    @property
    def kind(self) -> str:
        return str(self.logic["kind"])

    def compile(self, overrides: Mapping[str, Any] | None = None) -> tuple[CompiledRule, dict[str, Any]]:
        """Compile with parameter ``overrides``; returns the plan and the parameters in force.

        A bad override is the caller's mistake (a settings file), so it raises ConfigError.
        """
        params = dict(self.parameters)
        problems = Problems()
        for key, value in (overrides or {}).items():
            if key not in params:
                raise ConfigError(
                    f"rule {self.name!r} has no parameter {key!r}; its parameters are: {', '.join(sorted(params)) or 'none'}."
                )
            problem = _override_problem(params[key], value)
            if problem:
                raise ConfigError(f"parameter {key!r} of rule {self.name!r} {problem}; fix the settings.")
            params[key] = value
        compiled = compile_logic(
            self.logic,
            file=self.path,
            params=params,
            problems=problems,
            line=line_of(self.logic),
            severity_when=list(self.severity_when) if self.severity_when else None,
        )
        if compiled is None or problems:
            raise ConfigError(f"rule {self.name!r} does not compile with these parameters: {problems.lines()[0]}.")
        return compiled, params


def _override_problem(default: Any, value: Any) -> str | None:
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(default, int | float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, not {value!r}"
        if isinstance(default, int) and not isinstance(value, int):
            return f"must be an integer, not {value!r}"
        return None
    if is_duration(default):
        return None if is_duration(value) else f"must be a duration like 10m, 1h or 7d, not {value!r}"
    if isinstance(default, list):
        return None if isinstance(value, list) else f"must be a list, not {value!r}"
    return None if isinstance(value, str) else f"must be text, not {value!r}"


def builtin_rules_dir() -> Path:
    """The directory of the rules shipped with the package."""
    return Path(str(resources.files("auditreports") / "rules"))


def _rule_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise UsageError(f"rules directory {directory} does not exist; pass a directory of *.yml rule files.")
    return sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])


def load_rules(rules_dirs: Iterable[str | Path] = (), *, builtin: bool = True) -> list[Rule]:
    """Load the built-in rules and every ``*.yml`` in ``rules_dirs``; all problems raise one RuleError."""
    files: list[Path] = []
    if builtin:
        files.extend(_rule_files(builtin_rules_dir()))
    for directory in rules_dirs:
        files.extend(_rule_files(Path(directory)))
    key = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    if key in _LOADED:
        return list(_LOADED[key])
    problems = Problems()
    rules: list[Rule] = []
    seen_ids: dict[str, str] = {}
    seen_names: dict[str, str] = {}
    shipped = builtin_rules_dir().resolve()
    for path in files:
        rule = _read_rule(path, problems)
        if rule is None:
            continue
        if rule.lacks_reviewer_notes and path.resolve().parent == shipped:
            for note in rule.lacks_reviewer_notes:
                problems.add(rule.path, None, f"missing required key {note!r} (every shipped rule explains itself)")
            continue
        where = f"{rule.path}:{line_of(rule.logic) or ''}"
        if rule.id in seen_ids:
            problems.add(rule.path, None, f"duplicate rule id {rule.id} (also in {seen_ids[rule.id]})")
            continue
        if rule.name in seen_names:
            problems.add(rule.path, None, f"duplicate rule name {rule.name!r} (also in {seen_names[rule.name]})")
            continue
        seen_ids[rule.id] = where
        seen_names[rule.name] = rule.path
        rules.append(rule)
    problems.raise_if_any("rule file")
    _LOADED.clear()  # keep one set: the last good load of these files
    _LOADED[key] = tuple(rules)
    return rules


# Parsed rules by (path, mtime, size) of every file: repeated detect() calls in a notebook
# do not re-parse unchanged YAML, and any edit to a file invalidates the entry.
_LOADED: dict[tuple[tuple[str, int, int], ...], tuple[Rule, ...]] = {}


def _read_rule(path: Path, problems: Problems) -> Rule | None:
    file = str(path)
    try:
        doc = load_yaml(path)
    except ConfigError as exc:
        problems.add(file, getattr(exc, "line", None), exc.message)
        return None
    if not isinstance(doc, LineDict):
        problems.add(file, 1, "a rule file must be a YAML mapping")
        return None
    before = len(problems)
    for key in doc:
        if key not in _REQUIRED and key not in _OPTIONAL:
            problems.add(file, doc.line_of(key), f"unknown key {key!r}; allowed: {', '.join(_REQUIRED + _OPTIONAL)}")
    for key in _REQUIRED:
        if key not in doc:
            problems.add(file, doc.line, f"missing required key {key!r}")
    for key in ("name", "title", "description", "summary", "why_it_matters", "what_to_check"):
        if key in doc and (not isinstance(doc[key], str) or not doc[key].strip()):
            problems.add(file, doc.line_of(key), f"{key!r} must be non-empty text")
    rule_id = doc.get("id")
    if "id" in doc:
        try:
            uuid.UUID(str(rule_id))
        except ValueError:
            problems.add(file, doc.line_of("id"), f"'id' must be a UUID (stable across versions), not {rule_id!r}")
    name = doc.get("name")
    if isinstance(name, str) and not _NAME.match(name):
        problems.add(file, doc.line_of("name"), f"'name' must be snake_case ([a-z][a-z0-9_]*), not {name!r}")
    if "severity" in doc and doc["severity"] not in SEVERITIES:
        problems.add(
            file, doc.line_of("severity"), f"'severity' must be one of {', '.join(SEVERITIES)}, not {doc['severity']!r}"
        )
    if "status" in doc and doc["status"] not in STATUSES:
        problems.add(
            file, doc.line_of("status"), f"'status' must be one of {', '.join(STATUSES)}, not {doc['status']!r}"
        )
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("references", "falsepositives", "tags"):
        value = doc.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            problems.add(file, doc.line_of(key), f"{key!r} must be a list of strings")
            value = []
        lists[key] = tuple(value)
    params = doc.get("parameters", {})
    if not isinstance(params, Mapping):
        problems.add(file, doc.line_of("parameters"), "'parameters' must map parameter names to default values")
        params = {}
    for key, value in params.items():
        if not _NAME.match(str(key)):
            problems.add(file, line_of(params, key), f"parameter name {key!r} must be snake_case")
        if not (
            isinstance(value, str | int | float | bool)
            or (isinstance(value, list) and all(isinstance(v, str | int | float) for v in value))
        ):
            problems.add(
                file,
                line_of(params, key),
                f"parameter {key!r} must be a number, text, true/false or a list, not {value!r}",
            )
    compiled = None
    if "logic" in doc:
        compiled = compile_logic(
            doc["logic"],
            file=file,
            params=params,
            problems=problems,
            line=doc.line_of("logic"),
            severity_when=doc.get("severity_when"),
        )
    if isinstance(doc.get("summary"), str) and compiled is not None:
        _check_summary(doc["summary"], compiled, params, file, doc.line_of("summary"), problems)
    if compiled is not None:
        unused = sorted(set(params) - compiled.used_params - _summary_fields(doc.get("summary")))
        for key in unused:
            problems.add(file, line_of(params, key), f"parameter {key!r} is declared but never used")
    if len(problems) > before:
        return None
    return Rule(
        id=str(rule_id),
        name=str(name),
        title=str(doc["title"]),
        description=str(doc["description"]).strip(),
        severity=str(doc["severity"]),
        status=str(doc["status"]),
        summary=str(doc["summary"]).strip(),
        logic=doc["logic"],
        parameters=dict(params),
        references=lists["references"],
        falsepositives=lists["falsepositives"],
        tags=lists["tags"],
        path=file,
        why_it_matters=" ".join(str(doc.get("why_it_matters", "")).split()),
        what_to_check=" ".join(str(doc.get("what_to_check", "")).split()),
        severity_when=tuple(doc.get("severity_when") or ()),
    )


def _summary_fields(template: Any) -> set[str]:
    if not isinstance(template, str):
        return set()
    try:
        return {f for _, f, _, _ in string.Formatter().parse(template) if f}
    except ValueError:
        return set()


def _check_summary(
    template: str, compiled: CompiledRule, params: Mapping[str, Any], file: str, line: int | None, problems: Problems
) -> None:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        problems.add(file, line, f"'summary' is not a valid template: {exc}")
        return
    allowed = set(SUMMARY_FIELDS) | set(params) | set(compiled.group_by)
    fields = known_fields(compiled.derive)
    for _, name, spec, conv in parts:
        if name is None:
            continue
        if spec or conv:
            problems.add(file, line, f"'summary' field {{{name}}} cannot have a format spec or conversion")
        elif name not in allowed:
            hint = " (group by it to use it)" if name in fields else ""
            problems.add(
                file, line, f"'summary' uses unknown field {{{name}}}{hint}; allowed: {', '.join(sorted(allowed))}"
            )


def reviewer_note_warnings(rules: Iterable[Rule]) -> list[str]:
    """One line per rule whose finding cards go to an auditor without why it matters / what to check."""
    return [
        f"{r.path}: rule {r.name!r} has no {' or '.join(r.lacks_reviewer_notes)}; its findings reach the "
        "auditor without them (add them to the rule file)"
        for r in rules
        if r.lacks_reviewer_notes
    ]
