"""Field conditions of a rule (``where:``) compiled to one Polars boolean expression.

The language is small on purpose, so a reviewer can read a rule without knowing
Python::

    where:
      event_type: auth.login.failure           # equals
      outcome: [failure, unknown]              # one of
      record_count: {gte: $min_records}        # comparison against a rule parameter
      after.role: {in: [admin, owner]}         # a key inside the before/after JSON
      flags: {contains: removed_user}          # list membership / substring
      any:                                     # OR of conditions (also: all, not)
        - actor_type: api_key
        - actor_id: {eq_field: resource_id}    # compare two fields

A mapping is the AND of its entries. ``ne`` and ``not_in`` treat a missing value
as "different"; every other operator is false on a missing value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import polars as pl

from .problems import Problems
from .yamlsource import line_of

__all__ = ["OPERATORS", "FieldKinds", "compile_where", "field_expr", "field_kind"]

FieldKinds = Mapping[str, pl.DataType]

OPERATORS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "startswith",
    "endswith",
    "contains",
    "regex",
    "is_null",
    "eq_field",
    "ne_field",
)
_LOGICAL = ("all", "any", "not")
_JSON_KEY = re.compile(r"^(before|after)\.([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)$")


def field_kind(name: str, fields: FieldKinds) -> str | None:
    """'str', 'enum', 'num', 'bool', 'time', 'list' or None for an unknown field."""
    if _JSON_KEY.match(name):
        return "str"
    dtype = fields.get(name)
    if dtype is None:
        return None
    if isinstance(dtype, pl.Enum):
        return "enum"
    if dtype.is_numeric():
        return "num"
    if isinstance(dtype, pl.Boolean):
        return "bool"
    if isinstance(dtype, pl.Datetime):
        return "time"
    if isinstance(dtype, pl.List):
        return "list"
    return "str"


def field_expr(name: str, fields: FieldKinds) -> pl.Expr:
    """The expression for a field: a column (enums as text) or a key of the before/after JSON."""
    match = _JSON_KEY.match(name)
    if match:
        return pl.col(match.group(1)).str.json_path_match(f"$.{match.group(2)}")
    if isinstance(fields.get(name), pl.Enum):
        return pl.col(name).cast(pl.String)
    return pl.col(name)


class _Ctx:
    def __init__(self, file: str, fields: FieldKinds, params: Mapping[str, Any], problems: Problems) -> None:
        self.file = file
        self.fields = fields
        self.params = params
        self.problems = problems
        self.used_params: set[str] = set()

    def error(self, line: int | None, message: str) -> None:
        self.problems.add(self.file, line, message)

    def value(self, value: Any, line: int | None) -> Any:
        """Resolve ``$param`` references (also inside lists)."""
        if isinstance(value, str) and value.startswith("$"):
            name = value[1:]
            if name not in self.params:
                self.error(line, f"unknown parameter reference {value!r}; declare it under 'parameters:'")
                return None
            self.used_params.add(name)
            return self.params[name]
        if isinstance(value, list):
            return [self.value(v, line) for v in value]
        return value


def compile_where(
    where: Any,
    *,
    file: str,
    fields: FieldKinds,
    params: Mapping[str, Any],
    problems: Problems,
    used_params: set[str] | None = None,
) -> pl.Expr:
    """Compile a ``where:`` block; problems are appended (with lines), a neutral expression returned for them."""
    ctx = _Ctx(file, fields, params, problems)
    expr = _compile(where, ctx, line_of(where))
    if used_params is not None:
        used_params |= ctx.used_params
    return expr.fill_null(False)


def _compile(node: Any, ctx: _Ctx, line: int | None) -> pl.Expr:
    if not isinstance(node, Mapping) or not node:
        ctx.error(line, "a condition must be a non-empty mapping of field: value")
        return pl.lit(True)
    parts = []
    for key, value in node.items():
        key_line = line_of(node, key) or line
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                ctx.error(key_line, f"'{key}' must be a non-empty list of conditions")
                continue
            subs = [_compile(item, ctx, line_of(value, i) or key_line) for i, item in enumerate(value)]
            parts.append(pl.all_horizontal(subs) if key == "all" else pl.any_horizontal(subs))
        elif key == "not":
            parts.append(~_compile(value, ctx, key_line).fill_null(False))
        else:
            parts.append(_field_condition(key, value, ctx, key_line))
    if not parts:
        return pl.lit(True)
    return pl.all_horizontal(parts)


def _field_condition(name: str, spec: Any, ctx: _Ctx, line: int | None) -> pl.Expr:
    kind = field_kind(name, ctx.fields)
    if kind is None:
        ctx.error(line, f"unknown field {name!r}; use an event column, a derived field, or before./after.<key>")
        return pl.lit(True)
    if spec is None:
        return field_expr(name, ctx.fields).is_null()
    if isinstance(spec, list):
        return _operator(name, kind, "in", spec, ctx, line)
    if not isinstance(spec, Mapping):
        return _operator(name, kind, "eq", spec, ctx, line)
    if not spec:
        ctx.error(line, f"field {name!r} has an empty operator mapping")
        return pl.lit(True)
    parts = []
    for op, value in spec.items():
        op_line = line_of(spec, op) or line
        if op not in OPERATORS:
            ctx.error(op_line, f"unknown operator {op!r} for field {name!r}; use one of {', '.join(OPERATORS)}")
            continue
        parts.append(_operator(name, kind, op, value, ctx, op_line))
    return pl.all_horizontal(parts) if parts else pl.lit(True)


def _scalar_ok(kind: str, value: Any) -> bool:
    if kind == "num":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    return isinstance(value, str)


def _operator(name: str, kind: str, op: str, raw: Any, ctx: _Ctx, line: int | None) -> pl.Expr:
    value = ctx.value(raw, line)
    col = field_expr(name, ctx.fields)
    bad = pl.lit(True)
    if op == "is_null":
        if not isinstance(value, bool):
            ctx.error(line, f"'is_null' for {name!r} takes true or false")
            return bad
        return col.is_null() if value else col.is_not_null()
    if op in ("eq_field", "ne_field"):
        if not isinstance(value, str) or field_kind(value, ctx.fields) is None:
            ctx.error(line, f"'{op}' for {name!r} must name another field, not {value!r}")
            return bad
        other = field_expr(value, ctx.fields)
        return col.eq(other) if op == "eq_field" else col.ne_missing(other)
    if kind == "list":
        if op != "contains" and op != "is_null":
            ctx.error(line, f"list field {name!r} supports only 'contains' and 'is_null', not {op!r}")
            return bad
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, str) for v in values):
            ctx.error(line, f"'contains' for list field {name!r} takes a string or a list of strings")
            return bad
        return pl.any_horizontal([col.list.contains(pl.lit(v)) for v in values])
    if kind == "enum" and op in ("eq", "ne", "in", "not_in"):
        allowed = list(ctx.fields[name].categories)  # type: ignore[attr-defined]
        unknown = [v for v in (value if isinstance(value, list) else [value]) if v not in allowed]
        if unknown:
            ctx.error(line, f"{name!r} has no value {unknown[0]!r}; it is one of {', '.join(allowed)}")
            return bad
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value or not all(_scalar_ok(kind, v) for v in value):
            ctx.error(line, f"'{op}' for {name!r} takes a non-empty list of {_kind_word(kind)} values")
            return bad
        return col.is_in(value) if op == "in" else (~col.is_in(value)).fill_null(True)
    if op in ("eq", "ne"):
        if not _scalar_ok(kind, value):
            ctx.error(line, f"{name!r} compares to {_kind_word(kind)} values, not {value!r}")
            return bad
        return col.eq(pl.lit(value)) if op == "eq" else col.ne_missing(pl.lit(value))
    if op in ("gt", "gte", "lt", "lte"):
        if kind != "num" or not _scalar_ok("num", value):
            ctx.error(
                line, f"'{op}' needs a numeric field and a number; {name!r} is {_kind_word(kind)}, value {value!r}"
            )
            return bad
        return {"gt": col > value, "gte": col >= value, "lt": col < value, "lte": col <= value}[op]
    # string operators
    if kind not in ("str", "enum"):
        ctx.error(line, f"'{op}' needs a text field; {name!r} is {_kind_word(kind)}")
        return bad
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) for v in values):
        ctx.error(line, f"'{op}' for {name!r} takes a string or a list of strings")
        return bad
    if op == "regex":
        for v in values:
            try:
                re.compile(v)
            except re.error as exc:
                ctx.error(line, f"regular expression {v!r} for {name!r} is invalid: {exc}")
                return bad
            problem = _engine_regex_problem(v)
            if problem:
                ctx.error(line, f"regular expression {v!r} for {name!r} cannot run in the rule engine: {problem}")
                return bad
        return pl.any_horizontal([col.str.contains(v) for v in values])
    method = {"startswith": "starts_with", "endswith": "ends_with"}.get(op)
    if method is not None:
        return pl.any_horizontal([getattr(col.str, method)(v) for v in values])
    return pl.any_horizontal([col.str.contains(v, literal=True) for v in values])


def _engine_regex_problem(pattern: str) -> str | None:
    """Why Polars' regex engine (Rust ``regex``) cannot run ``pattern``, checked at rule load, or None.

    Python's ``re`` accepts look-around and back-references, which the engine does not
    support; and the engine caps a compiled pattern's size. Finding that out at run time
    would fail a report half-way, so a rule that uses them is rejected with its file:line.
    """
    try:
        pl.select(pl.lit("").str.contains(pattern))
    except pl.exceptions.PolarsError as exc:
        text = " ".join(str(exc).split())
        if "size limit" in text:
            return "the compiled pattern exceeds the engine's size limit (10 MB); simplify it"
        return f"look-ahead, look-behind and back-references are not supported, nor is this syntax ({text[:160]})"
    return None


def _kind_word(kind: str) -> str:
    return {"num": "numeric", "bool": "true/false", "time": "timestamp", "list": "list", "enum": "text"}.get(
        kind, "text"
    )
