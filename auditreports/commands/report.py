"""``auditreports report KIND``: run a report notebook through Papermill.

KIND is any framework file's stem: the shipped soc2, hipaa and gdpr, or an organisation's
own from ``--frameworks DIR`` / ``report.frameworks_dirs`` (``auditreports.report.registry``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UsageError
from ..notebook import DEFAULT_TIMEOUT, NotebookRun, run_report_notebook
from ..parameters import check_parameters, declared_parameters, search_frameworks_dirs
from ..progress import say
from ..report.registry import report_kind
from ..settings import discover_settings
from ._options import period_from_args, store_from_args

HELP = (
    "Build a report (soc2, hipaa, gdpr or an organisation framework): runs the report notebook, "
    "leaves report.pdf, report.ipynb and evidence/."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "kind", nargs="?", help="report kind: a framework file's stem (soc2, hipaa, gdpr, or one in --frameworks)"
    )
    p.add_argument("src", nargs="*", metavar="SRC", help="files, directories or globs to load (or use --store)")
    p.add_argument("--store", help="store directory written by `auditreports ingest`")
    p.add_argument("--format", dest="source_format", help="force the source format of SRC")
    p.add_argument("--period", help="reporting period: 2026-Q3, 2026-07 or 2026")
    p.add_argument("--from", dest="date_from", metavar="DATE", help="first day of the period (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", metavar="DATE", help="last day of the period, inclusive")
    p.add_argument("--subject", help="GDPR: the data subject (customer id or email)")
    p.add_argument("--received", metavar="DATE", help="GDPR: the date the request was received")
    p.add_argument("--processing-record", help="GDPR: Art. 30 processing record (YAML)")
    p.add_argument("--customers", dest="customer_directory", help="GDPR: CSV of customer ids and emails")
    p.add_argument(
        "--no-data-confirmed",
        action="store_true",
        help="GDPR: answer 'no data held' for a subject in no event and not in the customer directory (else refused)",
    )
    p.add_argument("--extension", metavar="REASON", help="GDPR: deadline extended by two months (Art. 12(3)), why")
    p.add_argument(
        "--late-reason", metavar="REASON", help="GDPR: why an answer past the deadline is late (release record)"
    )
    p.add_argument(
        "--phi-tag", dest="phi_tags", action="append", help="HIPAA: a tag marking PHI conversations (repeatable)"
    )
    p.add_argument(
        "--settings",
        dest="settings_file",
        help="settings YAML file (default: $AUDITREPORTS_SETTINGS, else ./auditreports.yml, else built-in defaults)",
    )
    p.add_argument("--rules", dest="rules_dir", help="extra directory of organisation rules")
    p.add_argument(
        "--frameworks",
        dest="frameworks_dirs",
        action="append",
        default=[],
        metavar="DIR",
        help="directory of organisation framework files, each a report kind (repeatable)",
    )
    p.add_argument(
        "--templates", dest="templates_dir", metavar="DIR", help="organisation template overrides (sandboxed)"
    )
    p.add_argument("--organisation", help="organisation name on the cover")
    p.add_argument("--reviewer", help="reviewer named in the sign-off block")
    p.add_argument("--appendix-cap", type=int, help="evidence rows printed in the appendix (rest: embedded CSV)")
    p.add_argument(
        "--review", dest="review_file", metavar="FILE", help="SOC 2 / HIPAA: the review file whose decisions to show"
    )
    p.add_argument(
        "--final",
        action="store_true",
        help="SOC 2 / HIPAA: a final report; refused (exit 1) while a critical/high finding is undecided",
    )
    p.add_argument(
        "--previous",
        dest="previous_dir",
        metavar="DIR",
        help="SOC 2 / HIPAA: the previous report's output folder (new / recurring / resolved findings)",
    )
    p.add_argument("--out", help="output directory (required)")
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"wall-clock limit for the notebook run, seconds (default {DEFAULT_TIMEOUT:.0f})",
    )
    p.add_argument("--notebook", type=Path, help="run this notebook instead of the shipped one")
    p.add_argument("--json", action="store_true", help="print what was written as one JSON document on stdout")
    p.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other notebook parameter (checked before the notebook runs)",
    )


def parameters_from_args(args: argparse.Namespace) -> dict[str, object]:
    params: dict[str, object] = {"out_dir": args.out}
    for name in (
        "store",
        "source_format",
        "period",
        "date_from",
        "date_to",
        "settings_file",
        "rules_dir",
        "organisation",
        "reviewer",
        "appendix_cap",
        "templates_dir",
    ):
        value = getattr(args, name, None)
        if value is not None:
            params[name] = value
    if args.src:
        params["src"] = list(args.src)
    if args.frameworks_dirs:
        params["frameworks_dirs"] = list(args.frameworks_dirs)
    # Which options a kind takes is in its framework file (report: parameters: [...]).
    dirs = search_frameworks_dirs(params)
    report_kind(args.kind, dirs)  # an unknown kind is one line naming the known ones
    declared = declared_parameters(args.kind, dirs)
    for name, flag in (
        ("subject", "--subject"),
        ("received", "--received"),
        ("processing_record", "--processing-record"),
        ("customer_directory", "--customers"),
        ("phi_tags", "--phi-tag"),
        ("extension", "--extension"),
        ("late_reason", "--late-reason"),
        ("no_data_confirmed", "--no-data-confirmed"),
    ):
        value = getattr(args, name, None)
        if value is None or value == [] or value is False:
            continue
        if name not in declared:
            raise UsageError(f"{flag} is not an option of {args.kind} reports")
        params[name] = value
    review_given = [
        flag
        for flag, on in (("--review", args.review_file), ("--final", args.final), ("--previous", args.previous_dir))
        if on
    ]
    if review_given and "review_file" not in declared:
        raise UsageError(f"{', '.join(review_given)} are for framework reports (soc2, hipaa, …), not {args.kind}")
    if args.review_file:
        params["review_file"] = args.review_file
    if args.final:
        params["final"] = True
    if args.previous_dir:
        params["previous_dir"] = args.previous_dir
    for item in args.parameter:
        if "=" not in item:
            raise UsageError(f"-p expects NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        params[name.strip()] = value
    return params


def files_to_open(result: NotebookRun) -> list[tuple[str, Path]]:
    """Every file or folder a report run wrote that a user should open, labelled, in reading order.

    One list for ``report`` and ``demo`` (so neither forgets one): the PDF, its HTML twin,
    the executed notebook, the evidence folder and, for GDPR, the internal release record
    and its evidence.
    """
    out = result.out_dir
    candidates = [
        ("report", result.pdf),
        ("report (HTML)", out / "report.html"),
        ("notebook", result.notebook),
        ("evidence", out / "evidence"),
        ("release record (internal)", out / "release-record.pdf"),
        ("release evidence (internal)", out / "release-record-evidence"),
    ]
    return [(label, path) for label, path in candidates if path.exists()]


def run_record(result: NotebookRun) -> dict[str, object]:
    """What one report run wrote, JSON-ready (``report --json`` and ``demo --json``)."""
    evidence = result.out_dir / "evidence"
    record: dict[str, object] = {
        "kind": result.kind,
        "report": str(result.pdf),
        "notebook": str(result.notebook),
        "evidence": str(evidence),
        "evidence_files": sorted(p.name for p in evidence.iterdir()) if evidence.is_dir() else [],
        "seconds": round(result.seconds, 1),
    }
    html = result.out_dir / "report.html"
    if html.is_file():
        record["html"] = str(html)
    release = result.out_dir / "release-record.pdf"
    if release.is_file():  # GDPR: the organisation's internal record beside the response
        record["release_record"] = str(release)
        record["release_evidence"] = str(result.out_dir / "release-record-evidence")
    return record


USAGE = "auditreports report KIND (--store DIR | SRC...) (--period 2026-Q3 | --from DATE --to DATE) --out DIR"


def _check_arguments(args: argparse.Namespace) -> None:
    """The command line's own mistakes, in its own words, before anything runs."""
    if not args.kind:
        from ..report.registry import report_kinds

        kinds = ", ".join(sorted(report_kinds(args.frameworks_dirs)))
        raise UsageError(f"give a report kind: {kinds} (usage: {USAGE}; see `auditreports report --help`)")
    if not args.out:
        raise UsageError(f"give --out DIR, the folder the report is written to (usage: {USAGE})")
    if args.store and args.src:
        raise UsageError("give either SRC (files, directories or globs) or --store DIR, not both")
    if not args.store and not args.src:
        raise UsageError(f"give the events to report on: --store DIR or SRC files (usage: {USAGE})")


def run(args: argparse.Namespace) -> int:
    _check_arguments(args)
    params = parameters_from_args(args)  # which options this kind takes
    period_from_args(args, required=True)
    # Which settings file: --settings, else $AUDITREPORTS_SETTINGS, else ./auditreports.yml. The
    # notebook is given the file found (absolute), and check_parameters validates it before a
    # kernel starts.
    source = discover_settings(args.settings_file)
    if source.path is not None:
        params["settings_file"] = str(source.path.resolve())
    check_parameters(args.kind, params)  # a bad parameter or settings file is the only line on stderr
    store_from_args(args.store)  # a directory that is not a store, in the one wording of every command
    if args.kind == "gdpr":
        from ..report.gdpr import check_subject_parameters

        check_subject_parameters(params)
    if params.get("final"):
        # Sign-off mode: refused before any kernel starts while a critical/high finding is
        # undecided, naming each (id, severity, title) and the command that lists them.
        from ..errors import ReviewIncompleteError
        from ..review import final_refusal

        refusal = final_refusal(args.kind, params)
        if refusal:
            raise ReviewIncompleteError(refusal)
    say(f"[auditreports] settings: {source.describe()}")
    result = run_report_notebook(args.kind, params, notebook=args.notebook, timeout=args.timeout)
    say(f"[auditreports] {args.kind}: report written in {result.seconds:.1f} s")
    if args.json:
        print(json.dumps(run_record(result), indent=2))
        return 0
    for label, path in files_to_open(result):
        print(f"{label + ':':28} {path}")
    return 0
