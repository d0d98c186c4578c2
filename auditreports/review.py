"""The review file: a person's decision on each finding, kept beside the evidence.

A SOC 2 quarterly review or a HIPAA activity review is evidence that someone looked
at each finding and decided. The decisions live in one YAML file, meant to be edited
by people and kept in version control::

    reviewer: {name: Dana Lee, role: Security lead}
    decisions:
      - finding: 3f9a…          # high · Brute-force login · 2026-07-03 14:02 – 14:05 UTC
        decision: incident      # expected | exception | incident | false_positive
        note: "INC-2291: password reset, IP blocked"
        by: Dana Lee
        at: 2026-10-03

Everything here is plain functions over plain data and Polars frames:

- :func:`load_review` parses and validates (every problem as ``file:line: …``,
  raised together as one :class:`~auditreports.errors.ReviewFileError`);
- :func:`write_review` lists every finding, undecided, and on a file that already
  holds decisions keeps them (and every comment) and adds the new findings;
- :func:`record_decision` writes one decision (what the explore notebook calls);
- :func:`undecided`, :func:`final_blockers` say what is left to decide;
- :func:`load_previous` and :func:`compare_findings` put this quarter's findings
  beside the previous report's: new, recurring, resolved, with earlier decisions
  carried forward as suggestions.

ruamel.yaml's round-trip mode is used because it gives the line of every key and
item (errors name the line to fix) and writes a re-run back with the reviewer's own
comments and layout intact.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .errors import InputError, ReviewFileError, UsageError

__all__ = [
    "BLOCKING_SEVERITIES",
    "DECISIONS",
    "NOTE_REQUIRED",
    "Decision",
    "Previous",
    "Review",
    "ReviewUpdate",
    "compare_findings",
    "final_blockers",
    "finding_key",
    "load_previous",
    "load_review",
    "period_findings",
    "record_decision",
    "undecided",
    "write_review",
]

DECISIONS = ("expected", "exception", "incident", "false_positive")
NOTE_REQUIRED = frozenset({"exception", "incident"})
BLOCKING_SEVERITIES = ("critical", "high")  # a final report needs a decision on each of these
REVIEW_FILE_NAME = "review.yml"  # the copy kept in a report's evidence/ folder

_ENTRY_KEYS = ("finding", "decision", "note", "by", "at")
_TOP_KEYS = ("reviewer", "decisions")
_REVIEWER_KEYS = ("name", "role")


class _Constructor(RoundTripConstructor):
    """Round-trip constructor: numbers and booleans as written, a malformed date (2026-13-01) as text.

    A malformed date is kept so that it is reported with its line, not raised by the parser.
    """


def _timestamp(self: RoundTripConstructor, node: Any, values: Any = None) -> Any:
    try:
        return RoundTripConstructor.construct_yaml_timestamp(self, node, values)
    except ValueError:
        return self.construct_scalar(node)


def _as_written(self: RoundTripConstructor, node: Any) -> Any:
    # Every value in a review file is text or a date: a finding id of digits (000123…), a note
    # "2291" or "true" must stay exactly what the reviewer wrote, not become a number.
    return self.construct_scalar(node)


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)
for _tag in ("int", "float", "bool"):
    _Constructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _as_written)


def _yaml() -> YAML:
    y = YAML()  # round-trip
    y.Constructor = _Constructor
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096  # long notes stay on one line
    return y


@dataclass(frozen=True)
class Decision:
    """One finding's entry in the review file; ``decision`` is None while undecided."""

    finding: str
    decision: str | None = None
    note: str | None = None
    by: str | None = None
    at: dt.date | None = None
    line: int | None = None

    @property
    def decided(self) -> bool:
        return self.decision is not None

    def describe(self) -> str:
        """``incident — INC-2291 … (Dana Lee, 2026-10-03)``: the decision as one line of text."""
        if self.decision is None:
            return "undecided"
        text = self.decision.replace("_", " ")
        if self.note:
            text += f" — {self.note}"
        who = ", ".join(x for x in (self.by, self.at.isoformat() if self.at else None) if x)
        return f"{text} ({who})" if who else text


@dataclass(frozen=True)
class Review:
    """A parsed, validated review file."""

    path: Path
    reviewer_name: str | None
    reviewer_role: str | None
    entries: dict[str, Decision]  # finding id -> entry, in file order
    data: bytes = field(repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def decisions(self) -> dict[str, Decision]:
        """The decided entries only."""
        return {k: v for k, v in self.entries.items() if v.decided}

    def decision_for(self, finding_id: str) -> Decision | None:
        entry = self.entries.get(finding_id)
        return entry if entry is not None and entry.decided else None


@dataclass(frozen=True)
class ReviewUpdate:
    """What :func:`write_review` did: ids added (undecided) and decided entries kept."""

    path: Path
    added: list[str]
    kept: int
    listed: int


# ---------------------------------------------------------------- reading and validating


def _line(node: Any, key: Any = None) -> int | None:
    """1-based line of a mapping key / sequence item (or of the node itself)."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        if key is None:
            return int(lc.line) + 1
        if isinstance(node, CommentedSeq):
            return int(lc.item(key)[0]) + 1
        return int(lc.key(key)[0]) + 1
    except (KeyError, TypeError, IndexError, AttributeError):
        return int(lc.line) + 1


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool | int | float):
        return str(value)
    return None


def _parse(path: Path) -> tuple[bytes, Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"review file {path} does not exist; write it with `auditreports review --store DIR --period P --out {path}`",
            path=str(path),
        ) from None
    except OSError as exc:
        raise InputError(f"review file {path} cannot be read: {exc.strerror or exc}", path=str(path)) from None
    try:
        doc = _yaml().load(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ReviewFileError(
            f"{path}:1: the review file is not UTF-8 text; save it as UTF-8", path=str(path)
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = (exc.problem or exc.context or "not valid YAML").strip()
        raise ReviewFileError(
            f"{path}:{line}: not valid YAML ({what}); fix the syntax", [(str(path), line, what)], path=str(path)
        ) from None
    except YAMLError as exc:
        raise ReviewFileError(f"{path}:1: not valid YAML ({exc}); fix the syntax", path=str(path)) from None
    return data, doc


def _validate(
    path: Path, doc: Any, finding_ids: Iterable[str] | None
) -> tuple[str | None, str | None, dict[str, Decision], list[tuple[str, int | None, str]]]:
    where = str(path)
    errors: list[tuple[str, int | None, str]] = []

    def err(line: int | None, message: str) -> None:
        errors.append((where, line, message))

    entries: dict[str, Decision] = {}
    name = role = None
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, CommentedMap):
        err(_line(doc) or 1, "the review file must be a mapping with 'reviewer' and 'decisions'")
        return None, None, entries, errors
    for key in doc:
        if key not in _TOP_KEYS:
            err(_line(doc, key), f"unknown key {key!r}; the review file holds only: {', '.join(_TOP_KEYS)}")
    reviewer = doc.get("reviewer")
    if isinstance(reviewer, CommentedMap):
        for key in reviewer:
            if key not in _REVIEWER_KEYS:
                err(_line(reviewer, key), f"unknown reviewer key {key!r}; use name and role")
        name, role = _text(reviewer.get("name")), _text(reviewer.get("role"))
    elif reviewer is not None:
        err(_line(doc, "reviewer"), "reviewer must be a mapping like {name: Dana Lee, role: Security lead}")
    decisions = doc.get("decisions")
    if decisions is None:
        decisions = CommentedSeq()
    if not isinstance(decisions, CommentedSeq):
        err(_line(doc, "decisions"), "decisions must be a list of entries, each starting with '- finding: <id>'")
        decisions = CommentedSeq()
    known = None if finding_ids is None else set(finding_ids)
    first_line: dict[str, int | None] = {}
    for i, item in enumerate(decisions):
        line = _line(decisions, i)
        if not isinstance(item, CommentedMap):
            err(line, "each decision must be a mapping starting with 'finding: <id>'")
            continue
        for key in item:
            if key not in _ENTRY_KEYS:
                err(_line(item, key), f"unknown key {key!r} in a decision; use: {', '.join(_ENTRY_KEYS)}")
        finding = _text(item.get("finding"))
        if isinstance(item.get("finding"), CommentedMap | CommentedSeq):
            err(_line(item, "finding"), "finding must be one finding id, not a list or mapping")
            continue
        if finding is None:
            err(line, "a decision without a finding id; add 'finding: <id>' (ids are in findings.json)")
            continue
        if finding in first_line:
            err(line, f"finding {finding} is listed twice (first at line {first_line[finding]}); keep one entry")
            continue
        first_line[finding] = line
        if known is not None and finding not in known:
            err(
                _line(item, "finding"),
                f"unknown finding id {finding!r}: no such finding in this period; fix the id or remove the entry",
            )
        raw_decision = item.get("decision")
        decision = _text(raw_decision)
        if decision is not None and decision not in DECISIONS:
            err(_line(item, "decision"), f"unknown decision {decision!r}; use one of: {', '.join(DECISIONS)}")
            decision = None
        elif raw_decision is not None and decision is None and not isinstance(raw_decision, str):
            err(_line(item, "decision"), f"unknown decision {raw_decision!r}; use one of: {', '.join(DECISIONS)}")
        note = _text(item.get("note"))
        if decision in NOTE_REQUIRED and not note:
            err(
                _line(item, "decision"),
                f"decision {decision!r} on finding {finding} needs a note (ticket, what was done)",
            )
        at_value = item.get("at")
        at: dt.date | None = None
        if isinstance(at_value, dt.datetime):
            at = at_value.date()
        elif isinstance(at_value, dt.date):
            at = at_value
        elif at_value is not None and _text(at_value) is not None:
            try:
                at = dt.date.fromisoformat(str(at_value).strip())
            except ValueError:
                err(_line(item, "at"), f"bad date {at_value!r} in 'at'; write it as YYYY-MM-DD, e.g. 2026-10-03")
        by = _text(item.get("by"))
        for key in ("note", "by"):
            if isinstance(item.get(key), CommentedMap | CommentedSeq):
                err(_line(item, key), f"{key} must be text, not a list or mapping; quote it if it holds ':' or '-'")
        entries[finding] = Decision(finding, decision, note, by, at, line)
    return name, role, entries, errors


def _raise(errors: list[tuple[str, int | None, str]], path: Path) -> None:
    if errors:
        lines = [f"{f}:{line if line is not None else 1}: {m}" for f, line, m in errors]
        raise ReviewFileError("\n".join(lines), errors, path=str(path))


def load_review(path: str | os.PathLike[str], *, finding_ids: Iterable[str] | None = None) -> Review:
    """Parse and validate a review file; with ``finding_ids``, every listed finding must be one of them.

    Raises :class:`~auditreports.errors.ReviewFileError` naming every problem as
    ``file:line: …`` (one line each).
    """
    p = Path(os.fspath(path))
    data, doc = _parse(p)
    name, role, entries, errors = _validate(p, doc, finding_ids)
    _raise(errors, p)
    return Review(p, name, role, entries, data)


# ---------------------------------------------------------------- writing


def _window_text(start: Any, end: Any) -> str:
    fmt = "%Y-%m-%d %H:%M"
    parts = list(dict.fromkeys(x.strftime(fmt) for x in (start, end) if isinstance(x, dt.datetime)))
    return (" – ".join(parts) + " UTC") if parts else "no window"


def _finding_rows(findings: pl.DataFrame) -> list[dict[str, Any]]:
    wanted = ["finding_id", "severity", "title", "window_start", "window_end"]
    frame = findings.select([c if c in findings.columns else pl.lit(None).alias(c) for c in wanted])
    return frame.with_columns(pl.col("severity").cast(pl.String), pl.col("title").cast(pl.String)).to_dicts()


def _entry(row: Mapping[str, Any]) -> CommentedMap:
    entry = CommentedMap()
    entry["finding"] = str(row["finding_id"])
    for key in _ENTRY_KEYS[1:]:
        entry[key] = None
    title = " ".join(str(row.get("title") or "").split())  # one line, whatever the rule's title holds
    comment = f"{row.get('severity') or '?'} · {title} · {_window_text(row.get('window_start'), row.get('window_end'))}"
    entry.yaml_add_eol_comment(comment, "finding")
    return entry


_HEADER = """Review of the findings{period}: one entry per finding.
decision: expected | exception | incident | false_positive (exception and incident need a note).
by: who decided; at: the date, YYYY-MM-DD. Leave decision empty while undecided.
A final report (--final) needs a decision on every critical and high finding.
Re-running `auditreports review` keeps every decision here and adds new findings."""


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _dump(doc: Any) -> str:
    buffer = io.StringIO()
    _yaml().dump(doc, buffer)
    return buffer.getvalue()


def write_review(
    path: str | os.PathLike[str],
    findings: pl.DataFrame,
    *,
    period_label: str | None = None,
    reviewer: Mapping[str, str | None] | None = None,
) -> ReviewUpdate:
    """Write the review file listing every finding of ``findings`` undecided, or add new ones to it.

    An existing file is validated first (against these finding ids) and kept as it is
    — decisions, comments, order — with the findings it does not list yet appended,
    each with its severity, title and window as a comment.
    """
    p = Path(os.fspath(path))
    rows = _finding_rows(findings)
    ids = [str(r["finding_id"]) for r in rows]
    if p.exists():
        _, doc = _parse(p)
        _, _, entries, errors = _validate(p, doc, ids)
        _raise(errors, p)
        if doc is None:
            doc = CommentedMap()
        if doc.get("decisions") is None:
            doc["decisions"] = CommentedSeq()
        kept = sum(1 for e in entries.values() if e.decided)
    else:
        doc = CommentedMap()
        doc["reviewer"] = CommentedMap([("name", None), ("role", None)])
        doc["decisions"] = CommentedSeq()
        label = f" for {period_label}" if period_label else ""
        doc.yaml_set_start_comment(_HEADER.format(period=label))
        entries, kept = {}, 0
    if reviewer:
        current = doc.get("reviewer")
        if not isinstance(current, CommentedMap):
            current = doc["reviewer"] = CommentedMap()
        for key in _REVIEWER_KEYS:
            if reviewer.get(key) and not current.get(key):
                current[key] = reviewer[key]
    added = []
    for row in rows:
        if str(row["finding_id"]) not in entries:
            doc["decisions"].append(_entry(row))
            added.append(str(row["finding_id"]))
    atomic_write_text(p, _dump(doc))
    return ReviewUpdate(p, added, kept, len(doc["decisions"]))


def record_decision(
    path: str | os.PathLike[str],
    finding_id: str,
    decision: str,
    *,
    note: str | None = None,
    by: str | None = None,
    at: dt.date | str | None = None,
    finding_ids: Iterable[str] | None = None,
) -> Decision:
    """Write one decision into the review file (adding the finding if it is not listed) and return it.

    ``by`` defaults to the file's reviewer, ``at`` to today (UTC). The file is
    validated before and after, so a bad decision never lands on disk.
    """
    p = Path(os.fspath(path))
    if decision not in DECISIONS:
        raise UsageError(f"unknown decision {decision!r}; use one of: {', '.join(DECISIONS)}")
    if decision in NOTE_REQUIRED and not (note or "").strip():
        raise UsageError(f"decision {decision!r} needs a note (ticket, what was done)")
    ids = None if finding_ids is None else list(finding_ids)
    if ids is not None and finding_id not in ids:
        raise UsageError(f"unknown finding id {finding_id!r}; pick one from the findings table")
    _, doc = _parse(p)
    _, _, _, errors = _validate(p, doc, ids)
    _raise(errors, p)
    if doc is None:
        doc = CommentedMap()
    if doc.get("decisions") is None:
        doc["decisions"] = CommentedSeq()
    reviewer = doc.get("reviewer") if isinstance(doc.get("reviewer"), CommentedMap) else {}
    when = dt.date.fromisoformat(at) if isinstance(at, str) else at
    entry = next((e for e in doc["decisions"] if str(e.get("finding")) == finding_id), None)
    if entry is None:
        entry = CommentedMap([("finding", finding_id)])
        doc["decisions"].append(entry)
    entry["decision"] = decision
    entry["note"] = note
    entry["by"] = by or _text(reviewer.get("name"))
    entry["at"] = when or dt.datetime.now(dt.UTC).date()
    text = _dump(doc)
    checked = _yaml().load(text)
    _, _, entries, errors = _validate(p, checked, ids)
    _raise(errors, p)
    atomic_write_text(p, text)
    return entries[finding_id]


# ---------------------------------------------------------------- what is left to decide


def period_findings(findings: pl.DataFrame, period: Any) -> pl.DataFrame:
    """The findings that touch ``period`` (a report.period.Period): the ones its report shows.

    The same rule as the report inputs: a finding whose window overlaps the period.
    """
    return findings.filter(
        pl.col("window_end").is_null()
        | (
            (pl.col("window_end") >= pl.lit(period.start_utc))
            & (pl.col("window_start").fill_null(pl.col("window_end")) < pl.lit(period.end_utc_exclusive))
        )
    )


def _decided_ids(review: Review | None) -> list[str]:
    return [] if review is None else list(review.decisions)


def undecided(findings: pl.DataFrame, review: Review | None) -> pl.DataFrame:
    """The findings without a decision in ``review``, most severe first as given."""
    return findings.filter(~pl.col("finding_id").is_in(_decided_ids(review)))


def final_blockers(findings: pl.DataFrame, review: Review | None) -> list[str]:
    """Ids of critical and high findings still undecided: what stops a final report."""
    left = undecided(findings, review)
    return (
        left.filter(pl.col("severity").cast(pl.String).str.to_lowercase().is_in(BLOCKING_SEVERITIES))
        .get_column("finding_id")
        .to_list()
    )


# ---------------------------------------------------------------- quarter over quarter


@dataclass(frozen=True)
class Previous:
    """The previous report's findings (from its evidence/findings.json) and its review file, if any."""

    directory: Path
    period: str | None
    findings: pl.DataFrame  # finding_id, rule_id, severity, title, group (JSON text)
    review: Review | None


def finding_key() -> pl.Expr:
    """What makes a finding recur across periods: the same rule on the same group (actor, IP, …)."""
    return pl.concat_str([pl.col("rule_id").cast(pl.String), pl.col("group").cast(pl.String)], separator="\x1f")


_PREVIOUS_SCHEMA = {
    "finding_id": pl.String,
    "rule_id": pl.String,
    "severity": pl.String,
    "title": pl.String,
    "group": pl.String,
}


def _group_json(value: Any) -> str:
    # One canonical text per group (compact, keys sorted), whichever side it came from.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def load_previous(directory: str | os.PathLike[str]) -> Previous:
    """Read a previous report's output folder: evidence/findings.json and evidence/review.yml if present."""
    d = Path(os.fspath(directory))
    path = d / "evidence" / "findings.json"
    if not d.is_dir():
        raise InputError(f"previous report folder {d} does not exist; pass the --out folder of last period's report")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{path} does not exist; --previous takes the --out folder of last period's report (it holds evidence/)"
        ) from None
    except ValueError as exc:
        raise InputError(f"{path} is not JSON ({exc}); pass the folder of a report written by auditreports") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
        raise InputError(f"{path} holds no findings list; pass the folder of a report written by auditreports")
    rows = [
        {
            "finding_id": str(f.get("finding_id")),
            "rule_id": str(f.get("rule_id")),
            "severity": f.get("severity"),
            "title": f.get("title"),
            "group": _group_json(f.get("group")),
        }
        for f in doc["findings"]
        if isinstance(f, dict)
    ]
    frame = pl.DataFrame(rows, schema=_PREVIOUS_SCHEMA)
    review_path = d / "evidence" / REVIEW_FILE_NAME
    review = load_review(review_path) if review_path.is_file() else None
    period = doc.get("period") if isinstance(doc.get("period"), str) else None
    return Previous(d, period, frame, review)


COMPARISON_SCHEMA: dict[str, pl.DataType] = {
    "finding_id": pl.String(),  # this period's id (null for a resolved finding)
    "previous_ids": pl.List(pl.String()),
    "rule_id": pl.String(),
    "severity": pl.String(),
    "title": pl.String(),
    "group": pl.String(),
    "status": pl.String(),  # new | recurring | resolved
    "suggestion": pl.String(),  # the last decision on a recurring finding, as text
}


def _canonical_group(frame: pl.DataFrame) -> pl.DataFrame:
    # Re-encode through Python's json so both sides agree on key order and escaping.
    groups = [_group_json(g) if g is not None else "{}" for g in frame.get_column("group").to_list()]
    return frame.with_columns(pl.Series("group", groups, dtype=pl.String))


def compare_findings(current: pl.DataFrame, previous: Previous) -> pl.DataFrame:
    """Each finding of this period as new or recurring, and each previous finding gone as resolved.

    A finding recurs when the same rule fired on the same group (actor, IP, …) last
    period. For a recurring finding, the last decision made on it last period is
    carried as ``suggestion`` text — a suggestion, never a decision of this period.
    """
    cur = _canonical_group(
        current.select(
            pl.col("finding_id").cast(pl.String),
            pl.col("rule_id").cast(pl.String),
            pl.col("severity").cast(pl.String),
            pl.col("title").cast(pl.String),
            pl.col("group").cast(pl.String),
        )
    ).with_columns(finding_key().alias("_key"))
    prev = _canonical_group(previous.findings).with_columns(finding_key().alias("_key"))
    decided = previous.review.decisions if previous.review is not None else {}
    prev = prev.with_columns(
        pl.col("finding_id")
        .replace_strict({k: v.describe() for k, v in decided.items()}, default=None, return_dtype=pl.String)
        .alias("_decision")
    )
    by_key = prev.group_by("_key", maintain_order=True).agg(
        pl.col("finding_id").alias("previous_ids"),
        pl.col("_decision").drop_nulls().last().alias("suggestion"),
    )
    seen = cur.join(by_key, on="_key", how="left").with_columns(
        pl.when(pl.col("previous_ids").is_null()).then(pl.lit("new")).otherwise(pl.lit("recurring")).alias("status"),
        pl.col("previous_ids").fill_null(pl.lit([], dtype=pl.List(pl.String))),
    )
    gone = (
        prev.join(cur.select("_key"), on="_key", how="anti")
        .group_by("_key", maintain_order=True)
        .agg(
            pl.col("finding_id").alias("previous_ids"),
            pl.col("rule_id").first(),
            pl.col("severity").first(),
            pl.col("title").first(),
            pl.col("group").first(),
            pl.col("_decision").drop_nulls().last().alias("suggestion"),
        )
        .with_columns(pl.lit(None, dtype=pl.String).alias("finding_id"), pl.lit("resolved").alias("status"))
    )
    columns = list(COMPARISON_SCHEMA)
    return pl.concat(
        [
            seen.select(columns).cast(pl.Schema(COMPARISON_SCHEMA)),
            gone.select(columns).cast(pl.Schema(COMPARISON_SCHEMA)),
        ],
        how="vertical",
    )


# ---------------------------------------------------------------- --final, before any kernel starts


def final_refusal_message(
    blockers: Iterable[tuple[str, str, str]], review_file: str | os.PathLike[str] | None, how_to_review: str
) -> str:
    """The one line that refuses ``--final``: each undecided critical/high finding as id, severity and title.

    ``blockers``: ``(finding_id, severity, title)``; ``how_to_review``: the command that
    lists them in a review file.
    """
    items = list(blockers)
    named = "; ".join(f'{fid} ({severity}) "{title}"' for fid, severity, title in items)
    if review_file is not None:
        todo = f"set a decision on each in {review_file} (`{how_to_review}` lists any missing) and run again"
    else:
        todo = f"write a review file with `{how_to_review}`, decide each, and run again with --review review.yml"
    return f"--final refused: {len(items)} critical/high finding(s) undecided: {named}; {todo}"


def review_command(params: Mapping[str, Any]) -> str:
    """The `auditreports review` command for this run's store and period (what lists the findings to decide)."""
    where = f"--store {params['store']}" if params.get("store") else "--store DIR"
    if params.get("period"):
        when = f"--period {params['period']}"
    elif params.get("date_from") and params.get("date_to"):
        when = f"--from {params['date_from']} --to {params['date_to']}"
    else:
        when = "--period P"
    out = params.get("review_file") or "review.yml"
    return f"auditreports review {where} {when} --out {out}"


def final_refusal(kind: str, params: Mapping[str, Any]) -> str | None:
    """Why a ``--final`` run of report ``kind`` must be refused, found before any kernel starts; None if it may run.

    Runs what the report run itself decides on: the events (store or files), detection
    with the run's settings and rules, the period, the framework's ``findings:``
    selection (rules and the queries it touches), and the review file. The run itself
    checks again (:func:`auditreports.report.reviewed.apply_review`) with the same words.
    """
    from .detect import detect
    from .period import parse_period
    from .report.common import ReportInputs
    from .report.engine import QueryContext, select_findings
    from .report.registry import load_report, report_kind
    from .settings import load_settings
    from .sources import load
    from .store import open_store

    settings = load_settings(params.get("settings_file")).with_report(
        phi_tags=tuple(params["phi_tags"]) if params.get("phi_tags") is not None else None,
    )
    if params.get("store"):
        events = open_store(params["store"]).events
    else:
        events = load(params.get("src") or [], format=params.get("source_format")).events
    rules_dirs = [params["rules_dir"]] if params.get("rules_dir") else []
    found = detect(events, settings=settings.detection, rules_dirs=rules_dirs)
    known = found.frame.get_column("finding_id").to_list()
    review = load_review(params["review_file"], finding_ids=known) if params.get("review_file") else None
    if params.get("period"):
        period = parse_period(str(params["period"]))
    else:
        period = parse_period(start=params.get("date_from"), end=params.get("date_to"))
    dirs = [*params.get("frameworks_dirs", []), *settings.report.frameworks_dirs]
    spec = load_report(str(report_kind(kind, dirs).path), rules_dirs=rules_dirs)
    inputs = ReportInputs(events, period=period, findings=found.frame)
    selected = select_findings(spec.spec, QueryContext(inputs, settings.report, spec.framework, {}, spec.spec))
    left = undecided(selected, review)
    blocking = left.filter(pl.col("severity").cast(pl.String).str.to_lowercase().is_in(BLOCKING_SEVERITIES))
    if not blocking.height:
        return None
    rows = blocking.select(
        pl.col("finding_id"), pl.col("severity").cast(pl.String), pl.col("title").cast(pl.String)
    ).rows()
    return final_refusal_message(rows, params.get("review_file"), review_command(params))
