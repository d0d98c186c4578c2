"""Many report runs at once, on Dask: every subject of a list of GDPR requests, or one
report kind over many stores (workspaces).

Each job is exactly one ``auditreports report`` run — the same notebook, the same
parameter checks, the same output folder (``report.pdf``, the executed notebook,
``evidence/``) — executed on a Dask worker. By default the work goes to an embedded
:class:`distributed.LocalCluster` (nothing to start); ``scheduler="tcp://host:port"``
sends it to an existing cluster, whose workers must have auditreports installed and
see the same paths (store, settings, output directory).

One job's failure is recorded and the others go on. ``batch.json`` in the output
directory says what was done: per job its folder, status, seconds, the worker that
ran it and, for a failure, the one-line reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import AuditReportsError, DependencyError, UsageError
from .notebook import DEFAULT_TIMEOUT

__all__ = [
    "BatchResult",
    "JobOutcome",
    "ReportJob",
    "gdpr_request_jobs",
    "read_requests",
    "run_batch",
    "workspace_jobs",
]

SUMMARY_FILE = "batch.json"
_SAFE = re.compile(r"[^A-Za-z0-9._@+-]")


@dataclass(frozen=True)
class ReportJob:
    """One report run: the report kind, its notebook parameters and a label for people."""

    label: str
    kind: str
    parameters: dict[str, Any]

    @property
    def out_dir(self) -> Path:
        return Path(self.parameters["out_dir"])


@dataclass(frozen=True)
class JobOutcome:
    label: str
    out_dir: str
    status: str  # "ok" or "failed"
    seconds: float | None
    worker: str | None = None
    pdf: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class BatchResult:
    kind: str
    scheduler: str
    started_at: str
    finished_at: str
    jobs: list[JobOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[JobOutcome]:
        return [j for j in self.jobs if j.status != "ok"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "scheduler": self.scheduler,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "total": len(self.jobs),
            "ok": len(self.jobs) - len(self.failed),
            "failed": len(self.failed),
            "jobs": [asdict(j) for j in self.jobs],
        }


def _folder_name(value: str) -> str:
    """A folder name for a subject or workspace: readable, and never a path of its own.

    Anything outside a conservative character set is replaced, and a short hash of the
    original is added whenever the name had to change, so two subjects can never share
    a folder (``a/b`` and ``a_b`` differ).
    """
    cleaned = _SAFE.sub("_", value.strip()).strip(".") or "subject"
    if cleaned != value:
        cleaned = f"{cleaned[:60]}-{hashlib.sha256(value.encode()).hexdigest()[:8]}"
    return cleaned


def read_requests(path: str | os.PathLike[str]) -> list[tuple[str, dt.date, int]]:
    """``subject,received`` rows of a requests CSV, as (subject, received date, line number).

    Every problem is a :class:`UsageError` naming the file and line: a missing column, a
    blank subject, a date that is not YYYY-MM-DD, a subject requested twice.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"the requests file {p} does not exist; give a CSV with subject,received columns") from None
    except UnicodeDecodeError:
        raise UsageError(f"the requests file {p} is not UTF-8 text; save it as UTF-8 CSV") from None
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "subject" not in header or "received" not in header:
        raise UsageError(f"{p}:1: the requests CSV needs the columns subject,received (found: {', '.join(header)})")
    reader.fieldnames = header
    rows: list[tuple[str, dt.date, int]] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num  # the source line (csv skips blank lines, so no counter of our own)
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        subject = (row.get("subject") or "").strip()
        received = (row.get("received") or "").strip()
        if not subject:
            raise UsageError(f"{p}:{line}: the subject is empty; give a customer id or an e-mail address")
        try:
            day = dt.date.fromisoformat(received)
        except ValueError:
            raise UsageError(f"{p}:{line}: received {received!r} is not a date like 2026-10-03") from None
        key = subject.casefold()
        if key in seen:
            raise UsageError(f"{p}:{line}: subject {subject!r} is already requested on line {seen[key]}")
        seen[key] = line
        rows.append((subject, day, line))
    if not rows:
        raise UsageError(f"{p} holds no request; add subject,received rows")
    return rows


def gdpr_request_jobs(
    requests: str | os.PathLike[str],
    *,
    store: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    period: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    extra: dict[str, Any] | None = None,
) -> list[ReportJob]:
    """One GDPR subject-access job per row of ``requests`` (``subject,received``), one folder per subject."""
    jobs = []
    base = Path(out_dir)
    used: set[str] = set()
    for subject, received, _line in read_requests(requests):
        name = _folder_name(subject)
        while name.casefold() in used:  # folders on case-insensitive file systems
            name = f"{name}-{hashlib.sha256(subject.encode()).hexdigest()[:8]}"
        used.add(name.casefold())
        params = _common(store, base / name, period, date_from, date_to, extra)
        params.update(subject=subject, received=received.isoformat())
        jobs.append(ReportJob(label=subject, kind="gdpr", parameters=params))
    return jobs


def workspace_jobs(
    kind: str,
    stores: Sequence[str | os.PathLike[str]],
    *,
    out_dir: str | os.PathLike[str],
    period: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    extra: dict[str, Any] | None = None,
) -> list[ReportJob]:
    """One ``kind`` report per store (workspace), each in a folder named after the store."""
    if not stores:
        raise UsageError("give at least one --store for a batch of workspace reports")
    jobs = []
    used: dict[str, str] = {}
    for store in stores:
        resolved = str(Path(store).resolve())
        name = _folder_name(Path(resolved).name)
        if name.casefold() in used:
            if used[name.casefold()] == resolved:
                raise UsageError(f"store {store} is given twice")
            name = f"{name}-{hashlib.sha256(resolved.encode()).hexdigest()[:8]}"
        used[name.casefold()] = resolved
        params = _common(store, Path(out_dir) / name, period, date_from, date_to, extra)
        jobs.append(ReportJob(label=str(store), kind=kind, parameters=params))
    return jobs


def _common(
    store: str | os.PathLike[str],
    out: Path,
    period: str | None,
    date_from: str | None,
    date_to: str | None,
    extra: dict[str, Any] | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {"store": str(Path(store).resolve()), "out_dir": str(out.resolve())}
    for name, value in (("period", period), ("date_from", date_from), ("date_to", date_to)):
        if value is not None:
            params[name] = value
    params.update(extra or {})
    return params


def run_job(job: ReportJob, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
    """Run one job where it is called (a Dask worker): the same runner as ``auditreports report``.

    Never raises for a failed report: the failure is the outcome, so one job cannot stop
    the batch. Returns plain data (it travels back to the client).
    """
    from .notebook import run_report_notebook

    started = time.perf_counter()
    worker = _worker_address()
    try:
        run = run_report_notebook(job.kind, dict(job.parameters), timeout=timeout)
    except AuditReportsError as exc:
        return _outcome(job, "failed", started, worker, error=exc.message)
    except Exception as exc:  # a broken environment on one worker must not lose the batch summary
        return _outcome(job, "failed", started, worker, error=f"{type(exc).__name__}: {exc}")
    return _outcome(job, "ok", started, worker, pdf=str(run.pdf))


def _worker_address() -> str | None:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return None


def _outcome(
    job: ReportJob, status: str, started: float, worker: str | None, *, pdf: str | None = None, error: str | None = None
) -> dict[str, Any]:
    return asdict(
        JobOutcome(
            label=job.label,
            out_dir=str(job.out_dir),
            status=status,
            seconds=round(time.perf_counter() - started, 2),
            worker=worker,
            pdf=pdf,
            error=error,
        )
    )


def _client(scheduler: str | None, workers: int | None) -> tuple[Any, Any, str]:
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - distributed is a core dependency
        raise DependencyError("auditreports batch needs dask.distributed: pip install 'dask[distributed]'") from exc
    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"cannot reach the Dask scheduler at {scheduler}: {exc}; is it running?") from None
        return client, None, scheduler
    n = workers or max(1, min(2, os.cpu_count() or 1))
    # One thread per worker: a job is one notebook kernel, CPU-bound in its own process.
    # On loopback, on free ports: a busy 8787 (another cluster, a notebook) must not matter.
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address="127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",
    )
    return Client(cluster), cluster, f"LocalCluster ({n} worker{'s' if n != 1 else ''})"


def run_batch(
    jobs: Sequence[ReportJob],
    out_dir: str | os.PathLike[str],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    on_done: Callable[[JobOutcome, int, int], None] | None = None,
) -> BatchResult:
    """Run ``jobs`` on Dask and write ``batch.json`` in ``out_dir``.

    ``on_done(outcome, done, total)`` is called as each job finishes (progress lines).
    """
    if not jobs:
        raise UsageError("the batch has no job to run")
    from .parameters import check_parameters

    # Every job's parameters are checked here, before any worker or kernel starts. When
    # every job fails the same check the mistake is shared (a bad period, a missing
    # store): one line, not N failed notebooks. A check that fails for some jobs only
    # (an unknown subject) is that job's outcome; the others run.
    refused: list[JobOutcome] = []
    runnable: list[ReportJob] = []
    first_error: AuditReportsError | None = None
    for job in jobs:
        try:
            check_parameters(job.kind, dict(job.parameters))
            if job.kind == "gdpr":  # an unknown subject is refused here, not inside its notebook
                from .report.gdpr import check_subject_parameters

                check_subject_parameters(dict(job.parameters))
        except AuditReportsError as exc:
            first_error = first_error or exc
            refused.append(JobOutcome(**_outcome(job, "failed", time.perf_counter(), None, error=exc.message)))
            continue
        runnable.append(job)
    if first_error is not None and not runnable:
        raise first_error
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    client, cluster, where = _client(scheduler, workers)
    outcomes: list[JobOutcome] = []
    for outcome in refused:
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome, len(outcomes), len(jobs))
    try:
        from distributed import as_completed

        futures = {
            client.submit(run_job, job, timeout, key=f"auditreports-{i:05d}-{job.kind}", pure=False): job
            for i, job in enumerate(runnable)
        }
        for future in as_completed(futures):
            job = futures[future]
            try:
                data = future.result()
            except Exception as exc:  # the worker died (KilledWorker) or the task could not run
                data = _outcome(job, "failed", time.perf_counter(), None, error=f"{type(exc).__name__}: {exc}")
                data["seconds"] = None  # unknown: the worker that timed it is gone
            outcome = JobOutcome(**data)
            outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome, len(outcomes), len(jobs))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    order = {str(job.out_dir): i for i, job in enumerate(jobs)}
    outcomes.sort(key=lambda o: order.get(o.out_dir, 0))
    result = BatchResult(
        kind=jobs[0].kind,
        scheduler=where,
        started_at=started_at,
        finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        jobs=outcomes,
    )
    summary = out / SUMMARY_FILE
    tmp = summary.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(summary)
    return result
