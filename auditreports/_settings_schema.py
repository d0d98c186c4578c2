"""The settings file's schema: pydantic v2 models, strict, ``extra="forbid"``.

Only the *file* is described here; the runtime objects (``Organisation``,
``DetectionSettings``, ``ReportSettings``, ``IntegritySettings``, ``FetchSettings``) are
built from the validated data by :mod:`auditreports.settings`. Strict mode: a string is
not a list, ``"5"`` is not a number, ``yes`` is not a path, ``.nan`` is not a number of
hours. The integrity and fetch sections are generated from their dataclasses, so a new
field there is accepted (and type-checked) without a second declaration here.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import typing
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model

from .errors import ConfigError
from .organisation import WEEKDAYS, check_business_days, check_timezone, parse_business_hours

__all__ = ["ValidationError", "explain", "settings_file_model"]

_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


def _wrap(check: typing.Callable[[Any], Any]) -> typing.Callable[[Any], Any]:
    """Run a ConfigError-raising check as a pydantic validator (pydantic wants ValueError)."""

    def validator(value: Any) -> Any:
        try:
            check(value)
        except ConfigError as exc:
            raise ValueError(exc.message.split("; fix")[0].rstrip(".")) from None
        return value

    return validator


def _existing_file(value: str) -> str:
    path = Path(value)
    if not path.exists():
        raise ValueError(f"the file {value} does not exist; give the path of an existing file")
    if not path.is_file():
        raise ValueError(f"{value} is not a file; give the path of a file")
    return value


def _existing_dir(value: str) -> str:
    path = Path(value)
    if not path.is_dir():
        raise ValueError(f"the directory {value} does not exist; give the path of an existing directory")
    return value


def _ip_network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or CIDR range") from None
    return value


def _old_hours(value: Any) -> Any:
    if isinstance(value, str):
        parse_business_hours(value)
    elif not (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and 0 <= value[0] < value[1] <= 24
    ):
        raise ValueError("must be 'HH:MM-HH:MM' (or the old form [start hour, end hour], 0 <= start < end <= 24)")
    return value


def _old_days(value: Any) -> Any:
    if not isinstance(value, list) or not value:
        raise ValueError(f"must be a non-empty list of weekdays such as [{', '.join(WEEKDAYS[:5])}]")
    names = [WEEKDAYS[v] if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 6 else v for v in value]
    check_business_days(names)
    return value


TimeZone = Annotated[str, AfterValidator(_wrap(check_timezone))]
Hours = Annotated[str, AfterValidator(_wrap(parse_business_hours))]
Days = Annotated[list[str], AfterValidator(_wrap(check_business_days))]
FilePath = Annotated[str, AfterValidator(_existing_file)]
DirPath = Annotated[str, AfterValidator(_existing_dir)]
Names = list[Annotated[str, Field(min_length=1)]]
PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]


class StaffHours(BaseModel):
    model_config = _STRICT
    timezone: TimeZone | None = Field(None, description="an IANA time zone such as 'Asia/Manila'")
    business_hours: Hours | None = Field(None, description="'HH:MM-HH:MM', e.g. '09:00-17:30'")
    business_days: Days | None = Field(None, description="a list of weekdays, e.g. [mon, tue, wed, thu, fri]")


class OrganisationSection(BaseModel):
    model_config = _STRICT
    name: Annotated[str, Field(min_length=1)] | None = Field(None, description="the organisation's name")
    logo: FilePath | None = Field(None, description="the path of a PNG, JPEG or SVG file")
    timezone: TimeZone | None = Field(None, description="an IANA time zone such as 'Europe/London'")
    business_hours: Hours | None = Field(None, description="'HH:MM-HH:MM', e.g. '08:00-18:00'")
    business_days: Days | None = Field(None, description="a list of weekdays, e.g. [mon, tue, wed, thu, fri]")
    staff_directory: FilePath | None = Field(None, description="the path of the staff directory CSV")
    staff_hours: dict[str, StaffHours] | None = Field(
        None, description="staff id -> {timezone, business_hours, business_days}"
    )
    phi_tags: Names | None = Field(None, description="a list of conversation tags, e.g. [phi]")
    phi_channels: Names | None = Field(None, description="a list of channels, e.g. [whatsapp]")
    phi_knowledge_bases: Names | None = Field(None, description="a list of knowledge-base ids")
    customer_directory: FilePath | None = Field(None, description="the path of the customer directory CSV")
    processing_record: FilePath | None = Field(None, description="the path of the Art. 30 record (YAML)")
    retention_required_days: PositiveInt | None = Field(
        None, description="a whole number of days >= 1, e.g. 2190 (six years)"
    )


# Deprecated keys of the detection and report sections that now live in organisation:.
DEPRECATED: dict[tuple[str, str], str] = {
    ("detection", "timezone"): "timezone",
    ("detection", "business_hours"): "business_hours",
    ("detection", "business_days"): "business_days",
    ("detection", "phi_tags"): "phi_tags",
    ("detection", "actors_csv"): "staff_directory",
    ("detection", "actors"): "staff_hours",
    ("detection", "retention_required_days"): "retention_required_days",
    ("report", "organisation"): "name",
    ("report", "logo"): "logo",
    ("report", "timezone"): "timezone",
    ("report", "business_hours"): "business_hours",
    ("report", "business_days"): "business_days",
    ("report", "phi_tags"): "phi_tags",
    ("report", "phi_channels"): "phi_channels",
    ("report", "phi_knowledge_bases"): "phi_knowledge_bases",
    ("report", "customers"): "customer_directory",
    ("report", "processing_record"): "processing_record",
    ("report", "staff"): "staff_directory",
}


class _DetectionBase(BaseModel):
    model_config = _STRICT
    allow_ips: list[Annotated[str, AfterValidator(_ip_network)]] | None = Field(
        None, description="a list of IP addresses or CIDR ranges"
    )
    service_accounts: Names | None = Field(None, description="a list of actor ids")
    allow_api_keys: Names | None = Field(None, description="a list of API key actor ids")
    role_ranks: dict[str, int] | None = Field(None, description="role name -> integer rank, e.g. {agent: 1}")
    disabled_rules: Names | None = Field(None, description="a list of rule names")
    rules: dict[str, dict[str, Any]] | None = Field(
        None, description="rule name -> parameter overrides, e.g. {brute_force_login: {threshold: 8}}"
    )
    # deprecated aliases of organisation keys
    timezone: TimeZone | None = Field(None, description="deprecated: use organisation.timezone")
    business_hours: Hours | None = Field(None, description="deprecated: use organisation.business_hours")
    business_days: Days | None = Field(None, description="deprecated: use organisation.business_days")
    phi_tags: Names | None = Field(None, description="deprecated: use organisation.phi_tags")
    actors_csv: FilePath | None = Field(None, description="deprecated: use organisation.staff_directory")
    actors: dict[str, StaffHours] | None = Field(None, description="deprecated: use organisation.staff_hours")
    retention_required_days: PositiveInt | None = Field(
        None, description="deprecated: use organisation.retention_required_days"
    )


class ReportSection(BaseModel):
    model_config = _STRICT
    templates_dir: DirPath | None = Field(None, description="a directory of template overrides")
    template_dir: DirPath | None = Field(None, description="a directory of template overrides (alias of templates_dir)")
    frameworks_dirs: list[DirPath] | None = Field(None, description="a list of directories of framework files")
    reviewer: str | None = Field(None, description="the reviewer's name")
    reviewer_role: str | None = Field(None, description="the reviewer's role")
    appendix_cap: NonNegativeInt | None = Field(None, description="a whole number >= 0, e.g. 10000")
    finding_evidence_rows: NonNegativeInt | None = Field(None, description="a whole number >= 0, e.g. 5")
    bulk_access_threshold: PositiveInt | None = Field(None, description="a whole number >= 1, e.g. 20")
    coverage_gap_hours: Annotated[float, Field(gt=0)] | None = Field(
        None, description="a finite number of hours > 0, e.g. 24"
    )
    staff_names: bool | None = Field(None, description="true or false")
    phi_free_text: bool | None = Field(None, description="true or false")
    charts: bool | None = Field(None, description="true or false")
    # deprecated aliases of organisation keys
    organisation: str | None = Field(None, description="deprecated: use organisation.name")
    logo: FilePath | None = Field(None, description="deprecated: use organisation.logo")
    timezone: TimeZone | None = Field(None, description="deprecated: use organisation.timezone")
    business_hours: Annotated[Any, AfterValidator(_old_hours)] = Field(
        None, description="deprecated: use organisation.business_hours ('HH:MM-HH:MM')"
    )
    business_days: Annotated[Any, AfterValidator(_old_days)] = Field(
        None, description="deprecated: use organisation.business_days ([mon, tue, …])"
    )
    phi_tags: Names | None = Field(None, description="deprecated: use organisation.phi_tags")
    phi_channels: Names | None = Field(None, description="deprecated: use organisation.phi_channels")
    phi_knowledge_bases: Names | None = Field(None, description="deprecated: use organisation.phi_knowledge_bases")
    customers: FilePath | None = Field(None, description="deprecated: use organisation.customer_directory")
    processing_record: FilePath | None = Field(None, description="deprecated: use organisation.processing_record")
    staff: FilePath | None = Field(None, description="deprecated: use organisation.staff_directory")


_DESCRIBE = {int: "a whole number", float: "a finite number", bool: "true or false", str: "text"}


_PLAIN = (int, float, bool, str, type(None))


def _plain(kind: Any) -> bool:
    """A type a YAML file can hold: numbers, text, booleans, optional or in lists/tuples."""
    if kind in _PLAIN:
        return True
    args = typing.get_args(kind)
    return bool(args) and all(a is Ellipsis or _plain(a) for a in args)


def _section_from_dataclass(name: str, cls: type, exclude: frozenset[str] = frozenset()) -> type[BaseModel]:
    """A strict model of a settings dataclass's plain fields (numbers, text, booleans)."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if f.name in exclude or not _plain(kind):
            continue  # code seams (clocks, transports) are not settings
        description = _DESCRIBE.get(kind, str(kind))
        if typing.get_origin(kind) is tuple:  # YAML has lists; the dataclass keeps a tuple
            item = typing.get_args(kind)[0]
            kind = list[item]  # type: ignore[valid-type]
            description = f"a list of {_DESCRIBE.get(item, str(item))}"
        fields[f.name] = (kind | None, Field(None, description=description))
    model: type[BaseModel] = create_model(name, __config__=_STRICT, **fields)
    return model


def _detection_model() -> type[BaseModel]:
    """The detection section: the declared keys, plus any other DetectionSettings field (checked there)."""
    from .detect.settings import DetectionSettings

    declared = set(_DetectionBase.model_fields)
    extra: dict[str, Any] = {
        f.name: (Any, Field(None, description="see docs/settings.md"))
        for f in dataclasses.fields(DetectionSettings)
        if f.name not in declared and f.name not in {"phi_channels", "phi_knowledge_bases"}
    }
    model: type[BaseModel] = create_model("DetectionSection", __base__=_DetectionBase, **extra)
    return model


def _build_file_model() -> type[BaseModel]:
    from .api._settings import FetchSettings
    from .integrity.settings import IntegritySettings
    from .sources.vendors.settings import SourcesSettings

    integrity = _section_from_dataclass("IntegritySection", IntegritySettings)
    fetch = _section_from_dataclass(
        "FetchSection", FetchSettings, frozenset({"transport", "sleep", "clock", "wall_clock", "jitter"})
    )
    sections: dict[str, Any] = {
        "organisation": (OrganisationSection | None, None),
        "integrity": (integrity | None, None),
        "detection": (_detection_model() | None, None),
        "report": (ReportSection | None, None),
        "fetch": (fetch | None, None),
        "sources": (_section_from_dataclass("SourcesSection", SourcesSettings) | None, None),
    }
    model: type[BaseModel] = create_model("SettingsFile", __config__=_STRICT, **sections)
    return model


_MODEL: type[BaseModel] | None = None


def settings_file_model() -> type[BaseModel]:
    """The pydantic model of a whole settings file."""
    global _MODEL
    if _MODEL is None:
        _MODEL = _build_file_model()
    return _MODEL


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: Any = settings_file_model()
    for part in loc:
        if not isinstance(model, type) or not issubclass(model, BaseModel) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        model = next(
            (a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)), annotation
        )
        if typing.get_origin(model) is dict:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _expected(loc: tuple[Any, ...]) -> str | None:
    parent = _model_at(loc[:-1])
    if parent is None or loc[-1] not in parent.model_fields:
        return None
    return parent.model_fields[loc[-1]].description


def explain(error: ValidationError, file: Path | None, lines: dict[tuple[str, ...], int]) -> ConfigError:
    """The first validation error as one line: file, line, key, what is wrong, what is expected."""
    first = error.errors(include_url=False)[0]
    loc = tuple(str(p) for p in first["loc"] if not (isinstance(p, str) and p.startswith(("function-", "lax-"))))
    # pydantic adds the union member's name ("str", "list[str]") to the location; drop it
    loc = tuple(p for p in loc if not (p.endswith("]") or p in {"str", "int", "float", "bool", "none", "is-instance"}))
    key = ".".join(loc) or "(top level)"
    line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
    where = f"settings file {file}" if file else "settings"
    if line:
        where += f" line {line}"
    kind = first["type"]
    value = first.get("input")
    if kind == "extra_forbidden":
        parent = _model_at(tuple(first["loc"][:-1]))
        allowed = ", ".join(sorted(parent.model_fields)) if parent else "see docs/settings.md"
        section = ".".join(loc[:-1]) or "the top level"
        return ConfigError(
            f"{where}: unknown key {key!r}; {section} allows: {allowed} (docs/settings.md).", key=key, line=line
        )
    message = first["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if isinstance(value, float) and not math.isfinite(value):
        message = f"{value} is not a finite number"
    expected = _expected(tuple(first["loc"]))
    got = "" if kind == "value_error" or isinstance(value, dict) else f" (got {value!r})"
    tail = f"; expected {expected}" if expected and kind != "value_error" else ""
    return ConfigError(f"{where}: {key}: {message}{got}{tail}.", key=key, line=line)
