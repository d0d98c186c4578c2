"""Notebook / report parameters: declared, type-checked and converted before anything runs.

Every report notebook has a cell tagged ``parameters`` whose names are declared here.
The CLI checks what the user gave against these declarations *before* a kernel starts
(unknown names, wrong types, bad periods), so a typo costs one clear line and exit 2,
not a failed notebook. The notebooks call :func:`check_parameters` again on what
Papermill injected, so a notebook run by hand gets the same checks.

Secrets are never parameters: Papermill saves parameters into the executed notebook,
which is evidence that gets archived and shared. Anything that looks like a secret is
rejected with a pointer to ``AUDITREPORTS_TOKEN``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import AuditReportsError, ParameterError

__all__ = [
    "EXPLORE_KIND",
    "OPTIONAL_PARAMETERS",
    "ParameterSpec",
    "check_parameters",
    "declared_parameters",
    "generic_notebook_parameters",
    "search_frameworks_dirs",
]

_SECRET_NAME = re.compile(r"(token|secret|password|passwd|api_?key|bearer|credential)", re.IGNORECASE)


def _as_str(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ParameterError(f"parameter {name!r} must be a non-empty string, got {value!r}", parameter=name)
    return value


def _as_optional_str(name: str, value: Any) -> str | None:
    return None if value is None else _as_str(name, value)


def _as_date(name: str, value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ParameterError(f"parameter {name!r} must be a date like 2026-07-01, got {value!r}", parameter=name)


def _as_period(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}(-Q[1-4]|-(0[1-9]|1[0-2]))?", value.strip()):
        raise ParameterError(
            f"parameter {name!r} must be a quarter (2026-Q3), a month (2026-07) or a year (2026), got {value!r}",
            parameter=name,
        )
    return value.strip()


def _as_optional_positive_int(name: str, value: Any) -> int | None:
    return None if value is None else _as_positive_int(name, value)


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    raise ParameterError(f"parameter {name!r} must be true or false, got {value!r}", parameter=name)


def _as_str_list(name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ParameterError(f"parameter {name!r} must be a list of strings, got {value!r}", parameter=name)
    return list(value)


def _as_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ParameterError(f"parameter {name!r} must be a positive whole number, got {value!r}", parameter=name)
    try:
        number = int(value)
    except ValueError:
        raise ParameterError(
            f"parameter {name!r} must be a positive whole number, got {value!r}", parameter=name
        ) from None
    if number <= 0:
        raise ParameterError(f"parameter {name!r} must be a positive whole number, got {value!r}", parameter=name)
    return number


def _as_review_file(name: str, value: Any) -> str | None:
    """A review file that exists and is valid (syntax, decisions, notes, dates); finding ids are checked by the run."""
    if value is None:
        return None
    path = _as_str(name, value)
    if not Path(path).is_file():
        raise ParameterError(
            f"parameter {name!r}: review file {path!r} does not exist; write it with "
            "`auditreports review --store DIR --period P --out review.yml`",
            parameter=name,
        )
    from .review import load_review

    load_review(path)  # ReviewFileError (exit 2): every problem as file:line
    return path


def _as_previous_dir(name: str, value: Any) -> str | None:
    """The previous report's output folder: its evidence/findings.json (and review.yml, if any) must be readable."""
    if value is None:
        return None
    path = _as_str(name, value)
    from .review import load_previous

    load_previous(path)
    return path


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    convert: Callable[[str, Any], Any]
    default: Any
    help: str


_COMMON = (
    ParameterSpec("store", _as_optional_str, None, "store directory written by `auditreports ingest` (or use src)"),
    ParameterSpec("src", _as_str_list, [], "files, directories or globs to load instead of a store"),
    ParameterSpec("source_format", _as_optional_str, None, "force the source format (default: detected)"),
    ParameterSpec("period", _as_period, None, "reporting period: 2026-Q3, 2026-07 or 2026"),
    ParameterSpec("date_from", _as_date, None, "first day of the period (instead of period)"),
    ParameterSpec("date_to", _as_date, None, "last day of the period, inclusive (instead of period)"),
    ParameterSpec("out_dir", _as_str, "out/report", "where report.pdf and evidence/ are written"),
    ParameterSpec("settings_file", _as_optional_str, None, "YAML settings file (organisation, rules, thresholds)"),
    ParameterSpec("rules_dir", _as_optional_str, None, "an extra directory of organisation rules"),
    ParameterSpec(
        "frameworks_dirs", _as_str_list, [], "directories of organisation framework files (report kinds) to add"
    ),
    ParameterSpec("templates_dir", _as_optional_str, None, "organisation template overrides (default: settings)"),
    ParameterSpec("organisation", _as_optional_str, None, "organisation name on the cover (overrides settings)"),
    ParameterSpec("reviewer", _as_optional_str, None, "reviewer named in the sign-off block"),
    ParameterSpec(
        "appendix_cap",
        _as_optional_positive_int,
        None,
        "evidence rows printed in the appendix; the rest go to the embedded CSV (default: report settings, 10,000)",
    ),
)

# The review workflow (docs/review.md): every report of the engine ("sections" builder) takes
# these; a custom builder (the GDPR response to a data subject) does not.
_REVIEW: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        "review_file", _as_review_file, None, "the review file (review.yml) whose decisions the report shows"
    ),
    ParameterSpec(
        "final", _as_bool, False, "a final report: refused while a critical/high finding is undecided, else DRAFT"
    ),
    ParameterSpec(
        "previous_dir", _as_previous_dir, None, "the previous report's output folder: new / recurring / resolved"
    ),
)

# Parameters a framework file may ask for (report: parameters: [...]) beside the common ones.
_OPTIONAL: tuple[ParameterSpec, ...] = (
    ParameterSpec(
        "phi_tags", _as_str_list, None, "conversation tags that mark PHI (default: report settings, ['phi'])"
    ),
    ParameterSpec("phi_channels", _as_str_list, None, "channels whose conversations all hold PHI (default: settings)"),
    ParameterSpec(
        "phi_knowledge_bases",
        _as_str_list,
        None,
        "knowledge bases whose retrievals count as PHI (default: settings)",
    ),
    ParameterSpec("subject", _as_str, None, "the data subject: customer id (cus_…) or email"),
    ParameterSpec("received", _as_date, None, "date the request was received (deadline = one calendar month later)"),
    ParameterSpec("processing_record", _as_optional_str, None, "Art. 30 processing record (YAML)"),
    ParameterSpec("customer_directory", _as_optional_str, None, "CSV mapping customer ids to emails"),
    ParameterSpec(
        "staff_by_name", _as_bool, False, "name staff in the internal release record (the response never does)"
    ),
    ParameterSpec(
        "no_data_confirmed",
        _as_bool,
        False,
        "answer deliberately 'no data held' for a subject in no event and not in the customer directory",
    ),
    ParameterSpec("extension", _as_optional_str, None, "reason for extending the deadline by two months (Art. 12(3))"),
    ParameterSpec("late_reason", _as_optional_str, None, "why an answer past the Art. 12(3) deadline is late"),
)
OPTIONAL_PARAMETERS = {spec.name: spec for spec in _OPTIONAL}

# The explore notebook: an analyst's filters over a store, not a report.
_EXPLORE = (
    ParameterSpec(
        "store", _as_optional_str, None, "store directory (default: out/store of the project, after `make demo`)"
    ),
    ParameterSpec(
        "period", _as_period, None, "period the integrity check and findings cover, and the filters default to"
    ),
    ParameterSpec("actor", _as_optional_str, None, "actor id, name or e-mail"),
    ParameterSpec("event_type", _as_str_list, [], "event types; a value ending in '.' or '*' is a prefix (auth.)"),
    ParameterSpec("since", _as_date, None, "first day (inclusive; default: the period's)"),
    ParameterSpec("until", _as_date, None, "last day (inclusive; default: the period's)"),
    ParameterSpec("conversation_id", _as_optional_str, None, "one conversation"),
    ParameterSpec("channel", _as_str_list, [], "channels: web, email, whatsapp, slack, api"),
    ParameterSpec("text", _as_optional_str, None, "literal text searched in reasons, notes and state changes"),
    ParameterSpec(
        "timeline_of", _as_optional_str, None, "conversation id or actor for the timeline (default: busiest)"
    ),
    ParameterSpec("finding_id", _as_optional_str, None, "finding to open (default: the most severe)"),
    ParameterSpec(
        "review_file", _as_review_file, None, "review file (review.yml): list undecided findings, record decisions"
    ),
    ParameterSpec("top_n", _as_positive_int, 10, "rows in the top actors / IPs tables"),
    ParameterSpec("settings_file", _as_optional_str, None, "YAML settings detect runs with (default: the demo's)"),
)

EXPLORE_KIND = "explore"


def search_frameworks_dirs(given: Mapping[str, Any]) -> list[str]:
    """Organisation framework directories: the parameter's, then the settings file's."""
    dirs = _as_str_list("frameworks_dirs", given.get("frameworks_dirs") or [])
    settings_file = given.get("settings_file")
    if settings_file and Path(str(settings_file)).is_file():
        from .settings import load_settings

        dirs += [str(d) for d in load_settings(str(settings_file)).report.frameworks_dirs]
    return dirs


def declared_parameters(kind: str, frameworks_dirs: Sequence[str] = ()) -> dict[str, ParameterSpec]:
    """The parameters a report notebook of ``kind`` (or the ``explore`` notebook) accepts, by name.

    A report kind is any framework file with a report block (``report.registry``); its
    ``parameters:`` list adds optional parameters (PHI markers, the GDPR subject, …).
    """
    if kind == EXPLORE_KIND:
        return {spec.name: spec for spec in _EXPLORE}
    from .report.registry import report_kind

    try:
        found = report_kind(kind, list(frameworks_dirs))
    except AuditReportsError as exc:
        raise ParameterError(exc.message, parameter="kind") from None
    unknown = [p for p in found.parameters if p not in OPTIONAL_PARAMETERS]
    if unknown:
        raise ParameterError(
            f"framework {found.path} asks for unknown parameter(s) {', '.join(unknown)}; "
            f"known: {', '.join(OPTIONAL_PARAMETERS)}",
            parameter="kind",
        )
    kind_spec = ParameterSpec("kind", _as_str, kind, "report kind: a framework file's stem (soc2, hipaa, …)")
    review = _REVIEW if found.builder == "sections" else ()
    return {
        spec.name: spec for spec in (kind_spec, *_COMMON, *review, *(OPTIONAL_PARAMETERS[p] for p in found.parameters))
    }


def generic_notebook_parameters() -> dict[str, ParameterSpec]:
    """What the generic framework notebook declares: the kind, the common parameters and every
    optional one a framework file may ask for (each run checks only its kind's)."""
    kind_spec = ParameterSpec("kind", _as_str, "soc2", "report kind: a framework file's stem (soc2, hipaa, …)")
    return {spec.name: spec for spec in (kind_spec, *_COMMON, *_REVIEW, *_OPTIONAL)}


def check_parameters(kind: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Reject unknown names and secrets, convert types, fill defaults; one clear error per problem.

    Returns every declared parameter (given or default), converted. Exactly one of
    ``period`` or (``date_from`` and ``date_to``) must be set; ``store`` or ``src``
    must name the input.
    """
    declared = declared_parameters(kind, [] if kind == EXPLORE_KIND else search_frameworks_dirs(given))
    if kind != EXPLORE_KIND and given.get("kind") not in (None, kind):
        raise ParameterError(f"parameter 'kind' is {given['kind']!r} but this is a {kind} report", parameter="kind")
    for name in given:
        if _SECRET_NAME.search(name):
            raise ParameterError(
                f"parameter {name!r} looks like a secret; secrets are never notebook parameters "
                "(they are saved in the executed notebook) — set AUDITREPORTS_TOKEN in the environment instead",
                parameter=name,
            )
        if name not in declared:
            known = ", ".join(sorted(declared))
            raise ParameterError(f"unknown parameter {name!r} for a {kind} report; known: {known}", parameter=name)
    out: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given and given[name] is not None:
            out[name] = spec.convert(name, given[name])
        else:
            out[name] = spec.default
    if kind == EXPLORE_KIND:
        return _check_explore(out)
    from .period import PARAMETER_NAMES, parse_period

    # One wording for every period problem (auditreports.period), with the names of the parameters.
    parse_period(out["period"], start=out["date_from"], end=out["date_to"], names=PARAMETER_NAMES)
    if not out["store"] and not out["src"]:
        raise ParameterError(
            "name the input: store (a store directory) or src (files, directories or globs)", parameter="store"
        )
    if out["store"] and not Path(out["store"]).is_dir():
        from .store import store_problem

        raise ParameterError(str(store_problem(out["store"])), parameter="store")
    if out["store"] and (Path(out["store"]) / "ledger.json").is_file():
        from .store import reconcile

        problems = reconcile(out["store"])
        if problems:
            raise ParameterError(
                f"store {out['store']!r}: the ledger does not reconcile with the stored events ({'; '.join(problems)}); "
                "re-ingest the sources into a new store",
                parameter="store",
            )
    if "subject" in declared:
        if not out["subject"]:
            raise ParameterError("a gdpr report needs subject (a customer id or email)", parameter="subject")
        if out["received"] is None:
            raise ParameterError("a gdpr report needs received (the date the request arrived)", parameter="received")
    for name in ("settings_file", "processing_record", "customer_directory", "rules_dir", "templates_dir"):
        value = out.get(name)
        if value and not Path(value).exists():
            raise ParameterError(f"parameter {name!r}: {value!r} does not exist", parameter=name)
    for value in out["frameworks_dirs"]:
        if not Path(value).is_dir():
            raise ParameterError(
                f"parameter 'frameworks_dirs': {value!r} is not a directory", parameter="frameworks_dirs"
            )
    # The whole settings file (schema, directories it names, staff directory) is checked
    # here, before a kernel starts: a bad file is one line and exit 2, not a failed cell.
    from .settings import load_settings

    settings = load_settings(out["settings_file"]) if out["settings_file"] else None
    if kind == "gdpr":
        # A subject given by e-mail must be in the customer directory (the parameter's, else
        # the settings'): an unknown address is a usage error now, not a failed cell later.
        from .report.gdpr import resolve_subject

        directory = out["customer_directory"] or (settings.organisation.customer_directory if settings else None)
        resolve_subject(out["subject"], Path(directory) if directory else None)
    return out


def _check_explore(out: dict[str, Any]) -> dict[str, Any]:
    if out["since"] is not None and out["until"] is not None and out["since"] > out["until"]:
        raise ParameterError(f"since {out['since']} is after until {out['until']}", parameter="since")
    if out["store"] and not Path(out["store"]).is_dir():
        from .store import store_problem

        raise ParameterError(str(store_problem(out["store"])), parameter="store")
    return out
