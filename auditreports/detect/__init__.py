"""Detection: rules as data (``auditreports/rules/*.yml``) compiled to Polars, and framework maps.

    detect(events, rules=None, settings=None, rules_dirs=()) -> Findings
    sensitivity(events, rule_name, values) -> pl.DataFrame
    load_rules(rules_dirs) -> list[Rule]            # validates everything, RuleError lists all problems
    load_framework("soc2" | path) -> Framework      # requirement -> rules and integrity checks
    DetectionSettings.from_mapping(settings["detection"])

See docs/detection.md for the rule language and the built-in rules.
"""

from __future__ import annotations

from .compiler import KINDS
from .engine import FINDINGS_SCHEMA, Findings, detect, sensitivity
from .frameworks import INTEGRITY_CHECKS, Framework, Requirement, builtin_frameworks, load_framework
from .functions import DerivedFields, derived_fields, register_function
from .rules import SEVERITIES, Rule, builtin_rules_dir, load_rules
from .settings import ActorHours, DetectionSettings

__all__ = [
    "FINDINGS_SCHEMA",
    "INTEGRITY_CHECKS",
    "KINDS",
    "SEVERITIES",
    "ActorHours",
    "DerivedFields",
    "DetectionSettings",
    "Findings",
    "Framework",
    "Requirement",
    "Rule",
    "builtin_frameworks",
    "builtin_rules_dir",
    "derived_fields",
    "detect",
    "load_framework",
    "load_rules",
    "register_function",
    "sensitivity",
]
