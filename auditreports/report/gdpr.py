"""GDPR Art. 15 subject access: a response the data subject can read, and a release record.

Two documents come out of one request:

- the **response** (``report.pdf``, model kind ``gdpr``), written to the data subject in
  the organisation's name: what the log holds about them, what happened to it, to whom it
  was disclosed, Art. 15(1)(a)-(h) from the record of processing, and a machine-readable
  copy of *their* data. Staff appear by role only, integrations by the recipient's name
  from the record of processing; no staff name, e-mail, id or IP address, no other data
  subject's id, e-mail or name, no hashes, verdicts or findings (Art. 15(4), CJEU C-579/21).
- the **release record** (``release-record.pdf``, model kind ``gdpr_release``), internal:
  deadline and status, the identity as searched, integrity, findings that touch the
  subject with staff named, what was redacted and why, and the reviewer's sign-off.

Minimisation is built in, not bolted on: :class:`Minimiser` is one set of Polars
expressions applied to every text column of everything the response prints or attaches.
"""

from __future__ import annotations

import calendar
import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from ..errors import ConfigError, ParameterError
from ..organisation import country_of_zone
from .charts import subject_activity_figure
from .common import ReportInputs, assemble
from .model import (
    Chart,
    ReportModel,
    Section,
    Table,
    actor_expr,
    coverage_gaps,
    integrity_gaps,
    now_utc,
    table_from_frame,
)
from .period import parse_date
from .redact import redact_frame, redact_text_expr
from .settings import ReportSettings

__all__ = [
    "ART15_SECTIONS",
    "NO_DATA_FLAG",
    "Deadline",
    "Minimiser",
    "Subject",
    "build_gdpr_model",
    "check_subject_parameters",
    "gdpr_deadline_status",
    "load_processing_record",
    "load_staff_directory",
    "recipients_from_record",
    "refuse_unknown_subject",
    "resolve_subject",
    "subject_data",
    "subject_events",
]

NO_DATA_FLAG = "--no-data-confirmed"

# Art. 15(1) letter -> (heading, keys accepted in the processing record).
# Every key found is shown (in this order); dotted keys reach into nested mappings.
ART15_SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("a", "Why we process your data (purposes and legal bases)", ("purposes", "legal_bases")),
    ("b", "Which kinds of personal data", ("categories", "data_categories", "categories_of_personal_data.customers")),
    (
        "c",
        "Who receives it, including outside the EU/EEA",
        ("transfers_to_third_countries",),
    ),
    ("d", "How long we keep it", ("retention",)),
    (
        "e",
        "Your rights: correction, erasure, restriction, objection",
        ("rights", "data_subject_rights"),
    ),
    ("f", "Your right to complain to a supervisory authority", ("complaint", "data_subject_rights.complaint")),
    ("g", "Where the data came from", ("source", "sources", "source_of_data")),
    (
        "h",
        "Automated decisions, including profiling",
        ("automated_decision_making", "automated_decisions", "profiling"),
    ),
)
# The machine-readable copy: what each column means is in docs/reports.md.
SUBJECT_COLUMNS = (
    "event_id",
    "timestamp",
    "event_type",
    "category",
    "outcome",
    "performed_by",
    "channel",
    "conversation_id",
    "resource_type",
    "resource_id",
    "subject_id",
    "subject_ids",
    "reason",
    "before",
    "after",
    "record_count",
)
# A recipient without ``receives:`` in the record of processing: what its name and purpose say.
RECIPIENT_ROLE_WORDS: tuple[tuple[str, str], ...] = (
    ("assistant", r"(?i)\b(?:LLM|AI|language model|chatbot)\b|assistant"),
    ("always", r"(?i)\bhost(?:s|ed|ing)?\b|\bplatform\b"),
    ("staff", r"(?i)\bstaff\b|\bagents?\b|\bemployees?\b"),
)
STAFF = "[staff member]"
IP = "[IP address]"
OTHER_NAME = "[other person]"
IPV4_PATTERN = r"\b(?:\d{1,3}\.){3}\d{1,3}\b"
IPV6_PATTERN = r"\b(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}\b|\b(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4})?\b"
STAFF_ID_PATTERN = r"\busr_[A-Za-z0-9_\-]+"
API_KEY_PATTERN = r"\bkey_[A-Za-z0-9_\-]+"


@dataclass(frozen=True)
class Subject:
    """A data subject resolved through the customer directory."""

    ids: tuple[str, ...]
    emails: tuple[str, ...]
    given: str
    names: tuple[str, ...] = ()
    in_directory: bool = False

    @property
    def label(self) -> str:
        return self.ids[0] if self.ids else self.given


def _read_directory(customers: Path) -> tuple[pl.DataFrame, str]:
    try:
        directory = pl.read_csv(customers, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ConfigError(
            f"customer directory {customers} cannot be read ({exc}); check the customers setting."
        ) from None
    id_col = next((c for c in ("customer_id", "id", "subject_id") if c in directory.columns), None)
    if id_col is None or "email" not in directory.columns:
        raise ConfigError(f"customer directory {customers} needs customer_id and email columns.", path=str(customers))
    return directory, id_col


def resolve_subject(subject: str, customers: Path | None) -> Subject:
    """A customer id or e-mail -> every id, e-mail and name of that subject in the directory."""
    given = (subject or "").strip()
    if not given:
        raise ParameterError("a subject access report needs a subject: a customer id (cus_…) or an e-mail address.")
    if customers is None:
        if "@" in given:
            raise ParameterError(
                f"subject {given!r} is an e-mail address but no customer directory is set; set the customers setting to a CSV with customer_id and email."
            )
        return Subject((given,), (), given)
    directory, id_col = _read_directory(customers)
    match = directory.filter(
        (pl.col(id_col) == given) | (pl.col("email").str.to_lowercase().str.strip_chars() == given.lower())
    )
    if match.height == 0:
        if "@" in given:
            raise ParameterError(
                f"no customer with e-mail {given!r} in {customers}; check the address or give the customer id."
            )
        return Subject((given,), (), given)
    ids = tuple(sorted(set(match[id_col].drop_nulls().to_list())))
    emails = tuple(sorted({e.lower() for e in match["email"].drop_nulls().to_list()}))
    names = tuple(sorted(set(match["name"].drop_nulls().to_list()))) if "name" in match.columns else ()
    return Subject(ids, emails, given, names, True)


def _subject_filter(ids: Sequence[str]) -> pl.Expr:
    ids = list(ids)
    return pl.col("subject_id").is_in(ids) | pl.col("subject_ids").list.eval(pl.element().is_in(ids)).list.any()


def refuse_unknown_subject(events: pl.LazyFrame | pl.DataFrame, subject: Subject, *, no_data_confirmed: bool) -> int:
    """How many events name the subject; a subject in no event and no directory is refused.

    A typo in a customer id would otherwise become a formal "we hold no data about you"
    answer. That answer is only written when the caller says so (``no_data_confirmed``).
    """
    from ..schema import conform

    found = int(conform(events.lazy()).filter(_subject_filter(subject.ids)).select(pl.len()).collect().item())
    if found == 0 and not subject.in_directory and not no_data_confirmed:
        raise ParameterError(
            f"subject {subject.given!r} is in no event of the log and not in the customer directory; check the id, "
            f"or give {NO_DATA_FLAG} to answer deliberately that no data is held."
        )
    return found


def check_subject_parameters(params: Mapping[str, Any]) -> Subject:
    """Notebook parameters of a GDPR run -> the subject, refused if unknown: before any kernel starts.

    Used by ``auditreports report gdpr`` and ``auditreports batch gdpr``: the customer
    directory is the ``customer_directory`` parameter, else the settings file's
    ``customers``; the events are the ``store`` (scanned lazily) or the ``src`` files.
    """
    from ..parameters import check_parameters
    from ..settings import load_settings

    checked = check_parameters("gdpr", params)
    settings = load_settings(checked["settings_file"]).report
    customers = Path(checked["customer_directory"]) if checked["customer_directory"] else settings.customers
    subject = resolve_subject(checked["subject"], customers)
    if checked["store"]:
        from ..store import open_store

        events = open_store(checked["store"]).events
    else:
        from ..sources import load

        events = load(checked["src"], format=checked["source_format"]).events
    refuse_unknown_subject(events, subject, no_data_confirmed=checked["no_data_confirmed"])
    return subject


def load_processing_record(path: Path | None) -> dict[str, Any]:
    """The record of processing activities (YAML) that fills Art. 15(1)(a)-(h)."""
    if path is None:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"processing record {path} cannot be read ({exc}); check the processing_record setting."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"processing record {path} must be a YAML mapping of purposes, categories, recipients, ….")
    return data


def load_staff_directory(path: Path | None) -> pl.DataFrame:
    """The staff directory as ``staff_id, name, email, role, time_zone`` (empty when unset)."""
    schema = {"staff_id": pl.String, "name": pl.String, "email": pl.String, "role": pl.String, "time_zone": pl.String}
    if path is None:
        return pl.DataFrame(schema=schema)
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ConfigError(f"staff directory {path} cannot be read ({exc}); check the staff setting.") from None
    id_col = next((c for c in ("staff_id", "actor_id", "id") if c in frame.columns), None)
    if id_col is None:
        raise ConfigError(f"staff directory {path} needs a staff_id column.", path=str(path))
    tz_col = next((c for c in ("time_zone", "timezone", "tz") if c in frame.columns), None)
    return frame.select(
        pl.col(id_col).alias("staff_id"),
        *[(pl.col(c) if c in frame.columns else pl.lit(None, pl.String)).alias(c) for c in ("name", "email", "role")],
        (pl.col(tz_col) if tz_col else pl.lit(None, pl.String)).alias("time_zone"),
    )


@dataclass(frozen=True)
class Recipient:
    """A recipient from the record of processing: name, purpose and the API keys it acts through."""

    name: str
    purpose: str = ""
    api_keys: tuple[str, ...] = ()
    location: str = ""
    receives: str = ""

    @property
    def role(self) -> str:
        """What makes this recipient receive a subject's data: ``receives:`` in the record, else its words.

        ``assistant`` (the LLM/AI provider: every answer of the support assistant), ``always``
        (the host of the workspace: it holds everything), ``staff`` (staff actions), or
        ``integration`` (its API keys' events).
        """
        if self.receives:
            return self.receives
        if self.api_keys:
            return "integration"
        words = f"{self.name} {self.purpose}"
        for role, pattern in RECIPIENT_ROLE_WORDS:
            if re.search(pattern, words):
                return role
        return "integration"


def recipients_from_record(record: Mapping[str, Any]) -> list[Recipient]:
    """``recipients:`` entries: a mapping (name, purpose, api_keys, location) or a plain line."""
    out = []
    for entry in record.get("recipients") or []:
        if isinstance(entry, Mapping):
            keys = entry.get("api_keys") or []
            out.append(
                Recipient(
                    str(entry.get("name") or "unnamed recipient"),
                    str(entry.get("purpose") or ""),
                    tuple(str(k) for k in ([keys] if isinstance(keys, str) else keys)),
                    str(entry.get("location") or ""),
                    str(entry.get("receives") or "").strip().lower(),
                )
            )
        elif entry:
            out.append(Recipient(str(entry)))
    return out


def _lookup(record: Mapping[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _as_text(value: Any) -> str | list[str]:
    if isinstance(value, list):
        return [_as_line(v) for v in value]
    if isinstance(value, dict):
        return [f"{_label(k)}: {_as_line(v)}" for k, v in value.items()]
    return _as_line(value)


def _label(key: Any) -> str:
    """A record key as a reader would write it: ``how_to_exercise`` -> ``How to exercise``."""
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _as_line(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return "; ".join(
            f"{_label(k) if i == 0 else _label(k).lower()}: {_as_line(v)}" for i, (k, v) in enumerate(value.items())
        )
    if isinstance(value, list):
        return ", ".join(_as_line(v) for v in value)
    return str(value)


# ---------------------------------------------------------------- deadline


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or that month's last day if it is shorter (31 Jan + 1 -> 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Deadline:
    """Art. 12(3): one month from receipt, extendable by two further months (reason noted)."""

    received: date
    due: date
    extended: bool
    extension_reason: str
    checked_on: date

    @property
    def overdue(self) -> bool:
        return self.checked_on > self.due

    @property
    def status(self) -> str:
        if self.overdue:
            return (
                f"OVERDUE by {(self.checked_on - self.due).days} day(s): the answer was due on {self.due.isoformat()}"
            )
        left = (self.due - self.checked_on).days
        return f"on time: {left} day(s) left until {self.due.isoformat()}"


def gdpr_deadline_status(received: str | date, *, extension: str | None = None, today: date | None = None) -> Deadline:
    """The answer deadline and whether ``today`` (default: the UTC date now) is past it."""
    first = parse_date(received, name="received")
    reason = (extension or "").strip()
    due = add_months(first, 3 if reason else 1)
    return Deadline(first, due, bool(reason), reason, today or now_utc().date())


# ---------------------------------------------------------------- minimisation


def _alternation(values: Sequence[str]) -> str | None:
    cleaned = sorted({v.strip() for v in values if v and len(v.strip()) >= 3}, key=len, reverse=True)
    if not cleaned:
        return None
    return r"(?i)\b(?:" + "|".join(re.escape(v) for v in cleaned) + r")\b"


def _name_parts(names: Sequence[str], keep: Sequence[str]) -> str | None:
    """A person's first name or surname alone, as written with its capital ("Meera will call").

    Matched case-sensitively so a name that is also a word ("Will", "May") is only taken where
    it is capitalised; a part of the subject's own name (``keep``) is never removed.
    """
    kept = {part.lower() for name in keep for part in re.split(r"[\s'’-]+", name)}
    parts = {
        part
        for name in names
        for part in re.split(r"[\s'’-]+", name.strip())
        if len(part) >= 3 and part[:1].isupper() and part.lower() not in kept
    }
    if not parts:
        return None
    return r"\b(?:" + "|".join(re.escape(v) for v in sorted(parts, key=len, reverse=True)) + r")\b"


@dataclass
class Minimiser:
    """Everything the response may not disclose, and the expressions that remove it.

    - other data subjects' ids, e-mails and (directory) names;
    - staff names, e-mails, ids (directory and log) and API key ids;
    - every IP address (in this log they are staff's and integrations').
    The subject's own ids, e-mails and names are kept.
    """

    subject: Subject
    staff_names: tuple[str, ...] = ()
    staff_ids: tuple[str, ...] = ()
    staff_emails: tuple[str, ...] = ()
    other_names: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        subject: Subject,
        events: pl.DataFrame | pl.LazyFrame,
        staff: pl.DataFrame,
        customers: Path | None,
        recipients: Sequence[Recipient] = (),
    ) -> Minimiser:
        kind = pl.col("actor_type").cast(pl.String)
        lazy = events.lazy()
        people = (
            lazy.filter(kind.is_in(["user", "api_key"])).select("actor_id", "actor_name", "actor_email").unique()
        ).collect()
        users = lazy.filter(kind == "user").select("actor_name").unique().collect()
        # Staff names are people's names: the staff directory and the log's users. An API key's
        # label ("E-mail bridge") is an integration's name, not a person's, and is kept — unless
        # it is also a person's name (a key named after its owner).
        names = set(staff["name"].drop_nulls().to_list()) | set(users["actor_name"].drop_nulls().to_list())
        names -= {r.name for r in recipients}
        ids = set(staff["staff_id"].drop_nulls().to_list()) | set(people["actor_id"].drop_nulls().to_list())
        emails = set(staff["email"].drop_nulls().to_list()) | set(people["actor_email"].drop_nulls().to_list())
        other_names: set[str] = set()
        if customers is not None:
            directory, id_col = _read_directory(customers)
            if "name" in directory.columns:
                other_names = set(
                    directory.filter(~pl.col(id_col).is_in(list(subject.ids)))["name"].drop_nulls().to_list()
                )
        own = {n.lower() for n in subject.names}
        names -= {"Removed user"}
        return cls(
            subject,
            tuple(sorted(n for n in names if n.lower() not in own)),
            tuple(sorted(ids)),
            tuple(sorted(emails)),
            tuple(sorted(n for n in other_names if n.lower() not in own)),
        )

    def text(self, expr: pl.Expr) -> pl.Expr:
        """A String expression with everything the subject may not see replaced by a placeholder."""
        ids, emails = list(self.subject.ids), list(self.subject.emails)
        out = redact_text_expr(expr, ids, emails)  # other subjects' ids, every foreign e-mail
        for pattern, placeholder in (
            (_alternation(self.staff_ids), STAFF),
            (STAFF_ID_PATTERN, STAFF),
            (API_KEY_PATTERN, "[integration key]"),
            (_alternation(self.staff_names), STAFF),
            (_alternation(self.other_names), OTHER_NAME),
            (_name_parts(self.staff_names, self.subject.names), STAFF),
            (_name_parts(self.other_names, self.subject.names), OTHER_NAME),
            (IPV4_PATTERN, IP),
            (IPV6_PATTERN, IP),
        ):
            if pattern:
                out = out.str.replace_all(pattern, placeholder)
        return out

    def frame(self, frame: pl.DataFrame, *, keep: Sequence[str] = ()) -> pl.DataFrame:
        """Every String column but ``keep`` through :meth:`text`; ``subject_ids`` lists cut to the subject."""
        exprs = []
        for name, dtype in frame.schema.items():
            if name in keep:
                exprs.append(pl.col(name))
            elif dtype == pl.String:
                exprs.append(self.text(pl.col(name)).alias(name))
            elif dtype == pl.List(pl.String) and name == "subject_ids":
                exprs.append(
                    pl.col(name).list.eval(pl.element().filter(pl.element().is_in(list(self.subject.ids)))).alias(name)
                )
            else:
                exprs.append(pl.col(name))
        return frame.select(exprs)

    def redactions(self, frame: pl.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
        """What was replaced in ``columns`` of ``frame`` and why: one row per placeholder kind."""
        reasons = {
            "[other data subject]": "another data subject's id (Art. 15(4): rights of others)",
            "[redacted e-mail]": "an e-mail address that is not the subject's (staff or other person)",
            STAFF: "a staff member's name or id: staff are named by role only (Art. 15(4), CJEU C-579/21)",
            "[integration key]": "an API key id: integrations are named by recipient",
            OTHER_NAME: "another customer's name from the customer directory",
            IP: "an IP address (staff and integrations act from them; none is the subject's)",
        }
        text_cols = [c for c in columns if c in frame.columns and frame.schema[c] == pl.String]
        if not text_cols or frame.height == 0:
            return [{"placeholder": k, "reason": v, "replaced": 0} for k, v in reasons.items()]
        minimised = self.frame(frame.select(text_cols))
        joined = pl.concat_str([pl.col(c).fill_null("") for c in text_cols], separator="\n")
        counts = minimised.select(
            [joined.str.count_matches(re.escape(k), literal=False).sum().alias(k) for k in reasons]
        ).row(0, named=True)
        return [{"placeholder": k, "reason": v, "replaced": int(counts[k] or 0)} for k, v in reasons.items()]


# ---------------------------------------------------------------- selection


def subject_events(events: pl.DataFrame | pl.LazyFrame, subject: Subject) -> pl.DataFrame:
    """Every event that touched the subject's data: theirs, their conversations, exports of them."""
    direct = _subject_filter(subject.ids)
    lazy = events.lazy()
    conversations = (
        lazy.filter(direct & pl.col("conversation_id").is_not_null())
        .select(pl.col("conversation_id").unique())
        .collect()
        .get_column("conversation_id")
    )
    return (
        lazy.filter(direct | pl.col("conversation_id").is_in(conversations.implode()))
        .collect()
        .sort("timestamp", "event_id", maintain_order=True)
    )


def _with_roles(events: pl.DataFrame, staff: pl.DataFrame) -> pl.DataFrame:
    """``actor_role`` filled from the staff directory where the log did not record it."""
    if staff.height == 0:
        return events
    roles = staff.select(pl.col("staff_id").alias("actor_id"), pl.col("role").alias("_directory_role")).unique(
        "actor_id", keep="first"
    )
    return (
        events.join(roles, on="actor_id", how="left", maintain_order="left")
        .with_columns(pl.coalesce(pl.col("actor_role"), pl.col("_directory_role")).alias("actor_role"))
        .drop("_directory_role")
    )


UNNAMED_INTEGRATION = "an integration not named in our record of processing"


def performed_by_expr(recipients: Sequence[Recipient], key_labels: Mapping[str, str] | None = None) -> pl.Expr:
    """Who did it, as the data subject may learn it: a role, a named recipient, the assistant, the platform.

    An API key in no recipient of the record is "an integration not named in our record of
    processing", with the label it was created under when the log holds it (``key_labels``,
    already minimised): the subject learns which integration it was even though the record
    does not name it (Art. 15(1)(c)).
    """
    key_names = {k: r.name for r in recipients for k in r.api_keys}
    key_names.update(
        {k: f"{UNNAMED_INTEGRATION} (“{label}”)" for k, label in (key_labels or {}).items() if k not in key_names}
    )
    kind = pl.col("actor_type").cast(pl.String)
    recipient = pl.col("actor_id").replace_strict(
        list(key_names), list(key_names.values()), default=None, return_dtype=pl.String
    )
    return (
        pl.when(kind == "api_key")
        .then(pl.coalesce(recipient, pl.lit(UNNAMED_INTEGRATION)))
        .when(kind == "user")
        .then(
            pl.concat_str(
                [pl.lit("staff ("), pl.coalesce(pl.col("actor_role"), pl.lit("role not recorded")), pl.lit(")")]
            )
        )
        .when(kind == "bot")
        .then(pl.lit("support assistant (automated)"))
        .when(kind == "system")
        .then(pl.lit("the platform (automated)"))
        .otherwise(pl.lit("not recorded"))
        .alias("performed_by")
    )


def subject_data(
    events: pl.DataFrame,
    subject: Subject,
    *,
    staff_names: bool = False,
    minimiser: Minimiser | None = None,
    recipients: Sequence[Recipient] = (),
    key_labels: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """The subject's events, minimised: the machine-readable copy (Art. 15(3)).

    Staff by role, integrations by recipient name; no IP address, user agent, staff id or
    raw record. ``staff_names`` is accepted for compatibility and ignored: the response
    never names staff (the release record does).
    """
    del staff_names
    minimiser = minimiser or Minimiser(subject)
    # performed_by is built from trusted parts only: the role (itself minimised, it comes from
    # the log), the recipient names of the record of processing and fixed words. Minimising it
    # afterwards could turn a recipient that shares a word with a staff name into a placeholder.
    roles = events.with_columns(minimiser.text(pl.col("actor_role")).alias("actor_role"))
    selected = roles.with_columns(performed_by_expr(recipients, key_labels)).select(SUBJECT_COLUMNS)
    return minimiser.frame(selected, keep=("performed_by",))


def api_key_labels(
    events: pl.DataFrame | pl.LazyFrame, raw: pl.DataFrame, recipients: Sequence[Recipient], minimiser: Minimiser
) -> dict[str, str]:
    """The label each API key acting on the subject's data was created under, for keys no recipient names.

    Read from the key's creation event (``after.name``) anywhere in the log; minimised like any
    text the response prints (a label may carry its owner's name).
    """
    named = {k for r in recipients for k in r.api_keys}
    keys = (
        raw.filter(pl.col("actor_type").cast(pl.String) == "api_key")
        .get_column("actor_id")
        .drop_nulls()
        .unique()
        .to_list()
    )
    wanted = [k for k in keys if k not in named]
    if not wanted:
        return {}
    created = (
        events.lazy()
        .filter((pl.col("event_type") == "auth.api_key.created") & pl.col("resource_id").is_in(wanted))
        .collect()
        .sort("timestamp")
        .group_by("resource_id")
        .agg(pl.col("after").str.json_path_match("$.name").drop_nulls().last().alias("label"))
        .filter(pl.col("label").is_not_null() & (pl.col("label").str.strip_chars() != ""))
    )
    if created.height == 0:
        return {}
    labels = created.with_columns(minimiser.text(pl.col("label")).alias("label"))
    return dict(zip(labels["resource_id"].to_list(), labels["label"].to_list(), strict=True))


def _minimised_inputs(inputs: ReportInputs, ids: list[str], emails: list[str]) -> ReportInputs:
    """Quarantine and integrity details can quote other subjects: keep only what is safe to show."""
    inputs.events  # noqa: B018 - the period is read (and copied) once, and the copy shared
    out = copy.copy(inputs)
    if inputs.quarantine is not None and inputs.quarantine.height:
        keep = [c for c in ("source_file", "source_line", "source_offset", "reason") if c in inputs.quarantine.columns]
        out.quarantine = redact_frame(inputs.quarantine.select(keep).lazy(), ids, emails).collect()
    verification = dict(inputs.verification)
    for key, cols in (("breaks", ("kind", "event_id", "position", "detail")), ("unverified", ("check", "reason"))):
        rows = verification.get(key) or []
        if rows:
            frame = pl.DataFrame(
                [{c: None if r.get(c) is None else str(r.get(c)) for c in cols} for r in rows],
                schema=dict.fromkeys(cols, pl.String),
            )
            verification[key] = redact_frame(frame.lazy(), ids, emails).collect().to_dicts()
    out.verification = verification
    return out


# ---------------------------------------------------------------- the response

TIME = "%Y-%m-%d %H:%M UTC"


def _rows(frame: pl.DataFrame, columns: Mapping[str, pl.Expr]) -> list[dict[str, Any]]:
    """Plain rows for the response template (it words them; see templates/gdpr.html)."""
    if frame.height == 0:
        return []
    return frame.select([e.alias(k) for k, e in columns.items()]).to_dicts()


def _what_it_concerned(subject_ids: Sequence[str]) -> pl.Expr:
    """The conversation reference, or in words what else a staff action concerned (never a workspace id)."""
    resource = pl.col("resource_type").fill_null("").str.replace_all("_", " ")
    return (
        pl.when(pl.col("conversation_id").is_not_null())
        .then(pl.col("conversation_id"))
        .when(pl.col("event_type").str.starts_with("data.export") | pl.col("event_type").str.contains("exported"))
        .then(pl.lit("workspace-wide export"))
        .when(
            pl.col("resource_id").is_in(list(subject_ids)) | pl.col("resource_type").is_in(["customer", "user_profile"])
        )
        .then(pl.lit("your customer profile"))
        .when(resource != "")
        .then(pl.concat_str([pl.lit("a "), resource]))
        .otherwise(pl.lit("—"))
    )


def _art15(record: Mapping[str, Any]) -> list[tuple[str, str, str | list[str]]]:
    out: list[tuple[str, str, str | list[str]]] = []
    for letter, heading, keys in ART15_SECTIONS:
        lines: list[str] = []
        if letter == "a" and _purposes_with_bases(record):
            lines = _purposes_with_bases(record)
            keys = ()
        if letter == "f" and _authority(record):  # the authority is named in full; a short "complaint" line repeats it
            keys = ()
        for key in keys:
            value = _lookup(record, key)
            if letter == "e" and isinstance(value, Mapping):  # the complaint has its own letter, (f)
                value = {k: v for k, v in value.items() if k != "complaint"}
            if value in (None, "", [], {}):
                continue
            text = _as_text(value)
            lines.extend([text] if isinstance(text, str) else text)
        out.append((letter, heading, lines if len(lines) != 1 else lines[0]) if lines else (letter, heading, ""))
    return out


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{4,}", text.lower())}


NO_BASIS = "ask our data protection officer"


def _purposes_with_bases(record: Mapping[str, Any]) -> list[str]:
    """Each purpose once, with its legal basis.

    A ``purposes`` entry may carry its own (``{purpose: …, basis: …}``); else a ``legal_bases``
    entry names it exactly (case and spacing aside); else, for records written without either,
    a ``legal_bases`` entry whose words are mostly the purpose's. A legal basis matched to no
    listed purpose is its own line; a purpose with no basis in the record says so. Empty when
    the record pairs no purpose with a basis at all.
    """
    bases = [b for b in record.get("legal_bases") or [] if isinstance(b, Mapping) and b.get("basis")]
    entries: list[tuple[str, str]] = []
    for p in record.get("purposes") or []:
        if isinstance(p, Mapping):
            entries.append((str(p.get("purpose") or p.get("name") or ""), str(p.get("basis") or "")))
        elif p:
            entries.append((str(p), ""))
    if not bases and not any(basis for _, basis in entries):
        return []

    def same(a: str, b: str) -> bool:
        return " ".join(a.lower().split()) == " ".join(b.lower().split())

    used: set[int] = set()
    lines = []
    for purpose, own in entries:
        found = [own] if own else []
        if not found:
            exact = [i for i, b in enumerate(bases) if same(str(b.get("purpose") or ""), purpose)]
            if not exact:  # records without an exact pairing: the basis whose words are mostly this purpose's
                exact = [
                    i
                    for i, b in enumerate(bases)
                    if (words := _words(str(b.get("purpose") or "")))
                    and len(words & _words(purpose)) / len(words) >= 0.6
                ]
            found = [str(bases[i]["basis"]) for i in exact]
            used.update(exact)
        lines.append(f"{purpose} — legal basis: {'; '.join(found) if found else NO_BASIS}")
    for i, b in enumerate(bases):
        if i not in used:
            lines.append(f"{b.get('purpose') or 'Processing'} — legal basis: {b['basis']}")
    return lines


def _authority(record: Mapping[str, Any]) -> dict[str, str]:
    """The Art. 77 supervisory authority of the organisation's member state, from the record."""
    value = record.get("supervisory_authority")
    if isinstance(value, Mapping) and value.get("name"):
        given = {str(k): str(v) for k, v in value.items() if v not in (None, "")}
    elif value and not isinstance(value, Mapping):
        given = {"name": str(value)}
    else:
        return {}
    return {k: given.get(k, "") for k in ("name", "member_state", "address", "website", "note")}


def build_gdpr_model(
    inputs: ReportInputs,
    subject: Subject,
    received: str | date,
    settings: ReportSettings | None = None,
    *,
    parameters: Mapping[str, Any] | None = None,
    notebook_name: str | None = None,
    rule_pack_hash: str | None = None,
    manifest_hash: str | None = None,
    extension: str | None = None,
    late_reason: str | None = None,
    today: date | None = None,
) -> ReportModel:
    """The response to the data subject (kind ``gdpr``); its release record is ``extra["release_record"]``.

    ``late_reason`` is why an answer past the Art. 12(3) deadline is late: the release record
    shows it (or says that none was recorded); the response apologises either way.
    """
    settings = settings or ReportSettings()
    deadline = gdpr_deadline_status(received, extension=extension, today=today)
    record = load_processing_record(settings.processing_record)
    recipients = recipients_from_record(record)
    staff = load_staff_directory(settings.staff)
    ids, emails = list(subject.ids), list(subject.emails)
    full = inputs
    inputs = _minimised_inputs(inputs, ids, emails)
    # Every column of the subject's events (the release record's evidence carries the stored records).
    raw = _with_roles(subject_events(inputs.every_column, subject), staff)
    # Every staff member and key owner in the log, not only those who touched the subject:
    # a note may name a colleague who never opened the conversation.
    minimiser = Minimiser.build(subject, inputs.events, staff, settings.customers, recipients)
    key_labels = api_key_labels(inputs.events, raw, recipients, minimiser)
    data = subject_data(raw, subject, minimiser=minimiser, recipients=recipients, key_labels=key_labels)
    ts = pl.col("timestamp").dt.convert_time_zone("UTC").dt.strftime(TIME)

    conversations = (
        data.filter(pl.col("conversation_id").is_not_null())
        .group_by("conversation_id")
        .agg(
            pl.col("channel").drop_nulls().first(),
            pl.len().alias("events"),
            (pl.col("event_type").str.starts_with("bot.") & pl.col("event_type").str.contains("message"))
            .sum()
            .alias("answers"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort("first")
    )
    bot = data.filter(pl.col("category") == "bot").with_columns(
        pl.coalesce(
            pl.concat_str(
                [
                    pl.col("after").str.json_path_match("$.knowledge_base"),
                    pl.lit(": "),
                    pl.col("after")
                    .str.json_path_match("$.documents")
                    .str.strip_chars("[]")
                    .str.replace_all('"', "", literal=True),
                ]
            ),
            pl.col("after").str.json_path_match("$.knowledge_base"),
            # A function's code name (faq_answer) as words: "function: faq answer".
            pl.concat_str(
                [pl.lit("function: "), pl.col("after").str.json_path_match("$.skill").str.replace_all("_", " ")]
            ),
            pl.when(pl.col("resource_id") != pl.col("conversation_id")).then(
                pl.col("resource_id").str.replace_all("_", " ")
            ),
        ).alias("detail")
    )
    exports = data.filter(
        pl.col("event_type").str.starts_with("data.export") | (pl.col("event_type") == "data.conversations.exported")
    )
    people = data.filter(pl.col("performed_by").str.starts_with("staff ("))
    machine_keys = raw.filter(pl.col("actor_type").cast(pl.String) == "api_key").get_column("event_id").implode()
    # A delivery or call that failed passed nothing on: it is in the copy, not among the disclosures.
    disclosures = data.filter(
        (pl.col("event_id").is_in(machine_keys) | (pl.col("category") == "integration"))
        & (pl.col("outcome").cast(pl.String) != "failure")
    ).with_columns(
        pl.when(pl.col("performed_by").is_in(["the platform (automated)", "not recorded"]))
        .then(
            pl.coalesce(
                pl.col("after").str.json_path_match("$.purpose"),
                pl.lit(UNNAMED_INTEGRATION),
            )
        )
        .otherwise(pl.col("performed_by"))
        .alias("recipient")
    )
    purpose_of = {r.name: r.purpose for r in recipients}
    gaps = _gaps_touching(inputs, settings, data, conversations)
    labels = _conversation_labels(data, settings.phi_tags)
    conversations = conversations.join(labels, on="conversation_id", how="left")
    # Who received the subject's data is what happened, not only the integrations' calls: the
    # LLM provider received every message the assistant answered, the host holds everything,
    # staff received what they acted on. An understated transfer abroad is a legal error.
    called = set(disclosures["recipient"].to_list())
    happened = {"assistant": bot.height > 0, "always": data.height > 0, "staff": people.height > 0}
    received_by = {r.name for r in recipients if r.name in called or happened.get(r.role, False)}
    # Where the staff who handled the subject's data work (their directory time zones), for a
    # staff recipient whose location the record of processing leaves blank: a transfer abroad
    # to a colleague is a transfer all the same.
    acted = raw.filter(pl.col("event_id").is_in(people.get_column("event_id").implode()))
    zones = staff.filter(pl.col("staff_id").is_in(acted.get_column("actor_id").drop_nulls().implode()))
    staff_where = ", ".join(sorted({c for z in zones.get_column("time_zone").to_list() if (c := country_of_zone(z))}))
    first, last = (data["timestamp"].min(), data["timestamp"].max()) if data.height else (None, None)
    controller = record.get("controller") if isinstance(record.get("controller"), Mapping) else {}
    assert isinstance(controller, Mapping)
    response = {
        "organisation": str(controller.get("name") or settings.organisation),
        "address": str(controller.get("address") or ""),
        "contact": str(controller.get("contact") or ""),
        "dpo": str(controller.get("data_protection_officer") or ""),
        "representative": str(controller.get("representative_in_eu") or ""),
        "subject_ids": ids,
        "subject_emails": emails,
        "subject_names": list(subject.names),
        "received": deadline.received.isoformat(),
        "answered": (today or now_utc().date()).isoformat(),
        "held": data.height > 0,
        "first": first.strftime("%Y-%m-%d") if isinstance(first, datetime) else "",
        "last": last.strftime("%Y-%m-%d") if isinstance(last, datetime) else "",
        "counts": {
            "events": data.height,
            "conversations": conversations.height,
            "bot": bot.height,
            "exports": exports.height,
            "consultations": people.height,
            "disclosures": disclosures.height,
        },
        "conversations": _rows(
            conversations,
            {
                "conversation": pl.col("conversation_id"),
                "channel": pl.col("channel").fill_null("—"),
                "first": pl.col("first").dt.convert_time_zone("UTC").dt.strftime(TIME),
                "last": pl.col("last").dt.convert_time_zone("UTC").dt.strftime(TIME),
                "events": pl.col("events"),
                "answers": pl.col("answers"),
                "labels": pl.col("labels").fill_null(""),
            },
        ),
        "bot": _rows(
            bot,
            {
                "time": ts,
                "event_type": pl.col("event_type"),
                "conversation": pl.col("conversation_id").fill_null("—"),
                "detail": pl.col("detail").fill_null(""),
            },
        ),
        "exports": _rows(
            exports,
            {
                "time": ts,
                "by": pl.col("performed_by"),
                "records": pl.col("record_count").cast(pl.String).fill_null("—"),
                "reason": pl.col("reason").fill_null(""),
            },
        ),
        "consultations": _rows(
            people,
            {
                "time": ts,
                "role": pl.col("performed_by"),
                "event_type": pl.col("event_type"),
                "conversation": _what_it_concerned(ids),
                "reason": pl.col("reason").fill_null(""),
            },
        ),
        "disclosures": _rows(
            disclosures,
            {
                "time": ts,
                "recipient": pl.col("recipient"),
                "event_type": pl.col("event_type"),
                "conversation": pl.col("conversation_id").fill_null("—"),
            },
        ),
        "recipients": [
            {
                "name": r.name,
                "purpose": r.purpose,
                "location": r.location or (staff_where if r.role == "staff" and r.name in received_by else ""),
                "used": r.name in received_by,
            }
            for r in recipients
        ],
        "recipient_purposes": purpose_of,
        "late": {
            "overdue": deadline.overdue,
            "extended": deadline.extended,
            "extension_reason": deadline.extension_reason,
            "due": deadline.due.isoformat(),
        },
        "incomplete_days": sorted({d for g in gaps for d in g["days"]}),
        "incomplete_conversations": sorted({c for g in gaps for c in g["conversations"]}),
        "art15": _art15(record),
        "authority": _authority(record),
        "attachments": ["subject_data.json", "subject_data.csv"],
    }
    model = assemble(
        kind="gdpr",
        title="Your personal data: our answer to your access request",
        subtitle="Art. 15 GDPR",
        inputs=inputs,
        settings=settings,
        sections=[],
        charts={
            "subject_activity": Chart(
                "subject_activity", "Activity about you per week", figure=subject_activity_figure(raw)
            )
        },
        evidence=data,
        appendix_events=raw.clear(),
        signoff_statement="",
        keywords=["GDPR", "Art. 15", "subject access request"],
        parameters=None,
        notebook_name=None,
        by_role=True,
        findings=inputs.findings.clear(),
        events_for_findings=raw.clear(),
        extra={
            "response": response,
            "received": deadline.received.isoformat(),
            "deadline": deadline.due.isoformat(),
            "subject_data": data,
            "subject": {"ids": ids, "emails": emails},
        },
    )
    model.extra["release_record"] = _release_record(
        full,
        subject,
        deadline,
        settings,
        raw=raw,
        data=data,
        minimiser=minimiser,
        recipients=recipients,
        record=record,
        response=response,
        parameters=parameters,
        notebook_name=notebook_name,
        rule_pack_hash=rule_pack_hash,
        manifest_hash=manifest_hash,
        gaps=gaps,
        late_reason=(late_reason or "").strip(),
        key_labels=key_labels,
    )
    return model


def _gaps_touching(
    inputs: ReportInputs, settings: ReportSettings, data: pl.DataFrame, conversations: pl.DataFrame
) -> list[dict[str, Any]]:
    """Logging gaps (silences and integrity outages) that overlap the subject's events or conversations.

    What the log does not hold cannot be in the answer: each such window is told to the subject
    (a caveat) and to the DPO (the events and conversations it touches).
    """
    windows = pl.concat(
        [
            coverage_gaps(inputs.events, inputs.period, settings.coverage_gap_hours).with_columns(
                pl.lit("all sources").alias("source"),
                pl.lit(f"no event at all for more than {settings.coverage_gap_hours:g} h").alias("why"),
            ),
            integrity_gaps(inputs.verification),
        ]
    ).filter(pl.col("gap_start").is_not_null() & pl.col("gap_end").is_not_null())
    out: list[dict[str, Any]] = []
    for gap in windows.sort("gap_start").to_dicts():
        start, end = gap["gap_start"], gap["gap_end"]
        events = data.filter((pl.col("timestamp") >= start) & (pl.col("timestamp") < end))
        spanning = conversations.filter((pl.col("first") < end) & (pl.col("last") >= start))
        touched = sorted(
            set(events["conversation_id"].drop_nulls().to_list()) | set(spanning["conversation_id"].to_list())
        )
        if events.height == 0 and not touched:
            continue
        last = end - timedelta(microseconds=1)
        days = [(start.date() + timedelta(days=i)).isoformat() for i in range((last.date() - start.date()).days + 1)]
        out.append(
            {
                "start": start.strftime(TIME),
                "end": end.strftime(TIME),
                "source": gap["source"] or "",
                "why": gap["why"] or "",
                "days": days,
                "events": events.height,
                "event_ids": events["event_id"].to_list(),
                "conversations": touched,
            }
        )
    return out


def _conversation_labels(data: pl.DataFrame, phi_tags: Sequence[str]) -> pl.DataFrame:
    """``conversation_id, labels``: the tags added to each conversation, in plain words.

    A tag that marks health information (the organisation's PHI tags) reads "marked as
    containing health information": special-category data about the subject (Art. 9).
    """
    phi = [t.lower() for t in phi_tags]
    tags = (
        data.filter(pl.col("event_type") == "conversation.tag_applied")
        .select(
            "conversation_id",
            "timestamp",
            pl.col("after").str.json_path_match("$.tags").str.json_decode(pl.List(pl.String)).alias("tags"),
        )
        .explode("tags")
        .filter(pl.col("tags").is_not_null() & pl.col("conversation_id").is_not_null())
        .with_columns(
            pl.when(pl.col("tags").str.to_lowercase().is_in(phi))
            .then(pl.lit("marked as containing health information"))
            .otherwise(pl.concat_str([pl.lit('"'), pl.col("tags").str.replace_all("_", " "), pl.lit('"')]))
            .alias("label")
        )
    )
    return (
        tags.sort("timestamp")
        .group_by("conversation_id", maintain_order=True)
        .agg(pl.col("label").unique(maintain_order=True).str.join(", ").alias("labels"))
    )


# ---------------------------------------------------------------- the release record


def _release_record(
    inputs: ReportInputs,
    subject: Subject,
    deadline: Deadline,
    settings: ReportSettings,
    *,
    raw: pl.DataFrame,
    data: pl.DataFrame,
    minimiser: Minimiser,
    recipients: Sequence[Recipient],
    record: Mapping[str, Any],
    response: Mapping[str, Any],
    parameters: Mapping[str, Any] | None,
    notebook_name: str | None,
    rule_pack_hash: str | None,
    manifest_hash: str | None,
    gaps: Sequence[Mapping[str, Any]] = (),
    late_reason: str = "",
    key_labels: Mapping[str, str] | None = None,
) -> ReportModel:
    """The internal record of what was searched, found, withheld and released, staff named."""
    key_labels = key_labels or {}
    event_ids = raw.get_column("event_id").implode()
    # Only the findings that touch the subject, shown with the subject's events among theirs.
    findings = inputs.findings.filter(
        pl.col("event_ids").list.eval(pl.element().is_in(event_ids)).list.any()
    ).with_columns(pl.col("event_ids").list.eval(pl.element().filter(pl.element().is_in(event_ids))))
    # The card counts the subject's events (its title still says the finding's whole size).
    findings = findings.with_columns(pl.col("event_ids").list.len().cast(pl.Int64).alias("count"))
    named = actor_expr(by_role=False)
    staff_access = (
        raw.filter(pl.col("actor_type").cast(pl.String).is_in(["user", "api_key"]))
        .with_columns(named)
        .group_by("actor")
        .agg(
            pl.len().alias("events"),
            pl.col("event_type").unique().sort().str.join(", ").alias("what"),
            pl.col("ip").drop_nulls().unique().sort().str.join(", ").alias("ips"),
            pl.col("timestamp").min().alias("first"),
            pl.col("timestamp").max().alias("last"),
        )
        .sort("events", descending=True)
    )
    key_names = {k for r in recipients for k in r.api_keys}
    unnamed_keys = (
        raw.filter((pl.col("actor_type").cast(pl.String) == "api_key") & ~pl.col("actor_id").is_in(list(key_names)))
        .get_column("actor_id")
        .drop_nulls()
        .unique()
        .sort()
        .to_list()
    )
    no_role = raw.filter((pl.col("actor_type").cast(pl.String) == "user") & pl.col("actor_role").is_null()).height
    redactions = minimiser.redactions(
        raw.with_columns(performed_by_expr(recipients)), ["reason", "before", "after", "resource_id", "conversation_id"]
    )
    withheld = [
        {"what": "staff names, e-mails, ids", "why": "Art. 15(4): staff are named by role; listed here for the DPO"},
        {"what": "IP addresses and user agents", "why": "they belong to staff and integrations, not to the subject"},
        {"what": "raw records, hashes, integrity verdict, findings", "why": "internal audit evidence (this record)"},
    ]
    gaps_list: list[str] = []
    for key in unnamed_keys:
        key_events = raw.filter(pl.col("actor_id") == key).get_column("event_id")
        citing = (
            findings.filter(pl.col("event_ids").list.eval(pl.element().is_in(key_events.implode())).list.any())
            if findings.height
            else findings
        )
        label = f" (“{key_labels[key]}”)" if key in key_labels else ""
        text = (
            f"API key {key}{label} acted on the subject's data {key_events.len()} time(s) and is in no recipient of "
            f"the record of processing: the response calls it '{UNNAMED_INTEGRATION}'."
        )
        if citing.height:
            refs = ", ".join(
                f"{r['rule_name']} ({r['severity']})"
                for r in citing.select("rule_name", "severity").unique().rows(named=True)
            )
            text += (
                f" Findings about this key ({refs}) question whether its use was authorised: if it was not, assess a "
                "personal data breach (Art. 33/34) before release instead of adding it to the recipients."
            )
        else:
            text += " Add it to the recipients of the record, with its purpose."
        gaps_list.append(text)
    if deadline.received > inputs.period.end + timedelta(days=1):
        gaps_list.append(
            f"The search covers {inputs.period.start} to {inputs.period.end}, but the request arrived on "
            f"{deadline.received}: data about the subject from {inputs.period.end + timedelta(days=1)} up to the "
            "request (and from before the period, for as long as it is kept) is not in this response. Run it over "
            "every period the log holds up to the request date, or record why not."
        )
    no_basis = [line.split(" — ")[0] for line in _purposes_with_bases(record) if line.endswith(NO_BASIS)]
    if no_basis:
        gaps_list.append(
            f"The record of processing gives no legal basis for: {'; '.join(no_basis)} (Art. 15(1)(a)); the response "
            f"says '{NO_BASIS}'."
        )
    if no_role:
        gaps_list.append(f"{no_role} staff event(s) have no role in the log or the staff directory.")
    if not response["authority"]:
        gaps_list.append(
            "The record of processing names no supervisory_authority (Art. 77); the response cannot name it."
        )
    request_facts = [
        ("Request received", deadline.received.isoformat()),
        (
            "Answer due by",
            deadline.due.isoformat()
            + (
                f" (extended by two months, Art. 12(3): {deadline.extension_reason})"
                if deadline.extended
                else " (one month, Art. 12(3))"
            ),
        ),
        ("Status on " + deadline.checked_on.isoformat(), deadline.status),
        *(
            [
                (
                    "Reason for the late answer",
                    late_reason
                    or (f"extension: {deadline.extension_reason}" if deadline.extended else "")
                    or "NONE RECORDED — give --late-reason (the response apologises for the delay)",
                )
            ]
            if deadline.overdue
            else []
        ),
        ("Subject as given", subject.given),
        ("Searched for ids", ", ".join(subject.ids) or "—"),
        ("Searched for e-mails", ", ".join(subject.emails) or "— (not in the customer directory)"),
        ("Found in customer directory", "yes" if subject.in_directory else "NO"),
        ("Events about the subject", str(raw.height)),
        ("Machine-readable copy", f"{data.height} event(s) in subject_data.json / subject_data.csv"),
    ]
    if raw.height == 0:
        request_facts.append(("No-data answer", f"given deliberately ({NO_DATA_FLAG})"))
    gap_rows = [
        [
            f"{g['start']} to {g['end']}",
            g["source"],
            g["why"],
            str(g["events"]),
            ", ".join(g["conversations"]) or "—",
        ]
        for g in gaps
    ]
    if gaps:
        gaps_list.append(
            f"{len(gaps)} logging gap(s) overlap the subject's data: the response tells the subject that its records "
            f"for {', '.join(response['incomplete_days'])} are incomplete."
        )
    verdict = str(inputs.verification.get("verdict", "NOT RUN"))
    sections = [
        Section(
            "logging-gaps",
            "Logging gaps that touch the subject's data",
            "Windows in which the log is silent or incomplete (coverage and integrity gaps) that overlap the "
            "subject's events or conversations. What the log does not hold is not in the response.",
            tables=[
                Table(
                    "Gaps overlapping the subject's events or conversations",
                    ["gap (UTC)", "source", "why", "subject events in it", "conversations touched"],
                    gap_rows,
                    widths=["24%", "12%", "30%", "10%", "24%"],
                    empty="No logging gap overlaps the subject's events or conversations.",
                )
            ],
        ),
        Section(
            "staff-access",
            "Who handled the subject's data (staff named)",
            "Staff and integrations that acted on the subject's events, by name, with their IP addresses. "
            "The response names them by role (staff) or recipient (integrations) only.",
            tables=[
                table_from_frame(
                    staff_access,
                    {
                        "staff / key": "actor",
                        "events": "events",
                        "what": "what",
                        "IP": "ips",
                        "first": "first",
                        "last": "last",
                    },
                    "Access by staff and integrations",
                    empty="No staff member or integration acted on the subject's data.",
                    widths=["20%", "7%", "33%", "14%", "13%", "13%"],
                )
            ],
        ),
        Section(
            "redactions",
            "What was redacted from the response, and why",
            "Every text the response prints or attaches went through the same minimisation; these are the "
            "replacements made in the subject's events.",
            tables=[
                Table(
                    "Replacements in free text and states",
                    ["placeholder", "replaced", "why"],
                    [[r["placeholder"], str(r["replaced"]), r["reason"]] for r in redactions],
                    widths=["20%", "10%", "70%"],
                ),
                Table(
                    "Withheld entirely",
                    ["what", "why"],
                    [[w["what"], w["why"]] for w in withheld],
                    widths=["35%", "65%"],
                ),
            ],
        ),
    ]
    model = assemble(
        kind="gdpr_release",
        title="Release record: subject access request (Art. 15 GDPR)",
        subtitle=f"Internal — not for the data subject. Subject {subject.label}",
        inputs=inputs,
        settings=settings,
        sections=sections,
        charts={},
        evidence=raw,
        signoff_statement=(
            "I checked that the response and its attachments hold every event about the data subject in the period, "
            "no other data subject's identifiers and no staff identity, and approved it for release."
            if verdict == "VERIFIED" and not gaps
            else (
                f"The integrity of the log is {verdict}"
                + (f" and {len(gaps)} logging gap(s) overlap the subject's data" if gaps else "")
                + ": the response cannot be attested to hold every event about the data subject. I checked that it "
                "holds every event the log holds about them in the period, tells them which records are incomplete, "
                "holds no other data subject's identifiers and no staff identity, and approved it for release."
            )
        ),
        keywords=["GDPR", "Art. 15", "release record", subject.label, inputs.period.label],
        parameters=parameters,
        notebook_name=notebook_name,
        rule_pack_hash=rule_pack_hash,
        manifest_hash=manifest_hash,
        by_role=False,
        findings=findings,
        events_for_findings=raw,
        extra={
            "received": deadline.received.isoformat(),
            "deadline": deadline.due.isoformat(),
            "overdue": deadline.overdue,
            "status": deadline.status,
            "request_facts": request_facts,
            "gaps": gaps_list,
            "logging_gaps": list(gaps),
            "redactions": redactions,
            "cover_facts": [("Data subject", subject.label), ("Answer due by", deadline.due.isoformat())],
            "subject": {"ids": list(subject.ids), "emails": list(subject.emails), "given": subject.given},
        },
    )
    return model
