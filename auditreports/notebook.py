"""Run a report notebook through Papermill: the reproducible record of how a report was made.

The notebook runs in a child process (``python -m papermill``) in its own process
group, so a wall-clock timeout can stop the whole run, kernel included, and a dead
kernel is reported as such. The executed notebook is always kept in ``OUT/report.ipynb``
— with the error visible in it when a cell failed — and a failed run never leaves a
``report.pdf`` that looks final: a PDF written during a failed run is renamed
``report.INCOMPLETE.pdf``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._resources import notebooks_dir
from .errors import NotebookExecutionError, ReviewFileError, ReviewIncompleteError, UsageError
from .parameters import check_parameters, search_frameworks_dirs
from .progress import say

__all__ = ["NotebookRun", "notebook_for", "notebooks_dir", "run_report_notebook"]

KERNEL_NAME = "python3"  # resolved by jupyter_client to this interpreter (sys.executable)


@dataclass(frozen=True)
class NotebookRun:
    kind: str
    notebook: Path  # the executed notebook
    pdf: Path
    out_dir: Path
    seconds: float
    parameters: dict[str, Any]


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in params.items()}


def _first_error(notebook_path: Path) -> tuple[int | None, str]:
    """(execution count, 'ErrorName: message') of the first failing cell of an executed notebook."""
    try:
        nb = json.loads(notebook_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, "the executed notebook could not be read"
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return cell.get(
                    "execution_count"
                ), f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
    return None, "no cell recorded an error"


def notebook_for(kind: str, frameworks_dirs: list[str] | tuple[str, ...] = ()) -> Path:
    """The shipped notebook that renders ``kind``: its own (gdpr) or the generic framework notebook."""
    from .report.registry import report_kind

    return notebooks_dir() / report_kind(kind, list(frameworks_dirs)).notebook


# Wall-clock limit of one report notebook: a 50M-event quarter takes ~20-35 min on a 2-core machine.
DEFAULT_TIMEOUT = 7200.0


def run_report_notebook(
    kind: str,
    parameters: dict[str, Any],
    *,
    notebook: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    start_timeout: float = 120.0,
) -> NotebookRun:
    """Check parameters, execute the report notebook with Papermill, return where things are.

    Raises :class:`ParameterError` before any kernel starts when a parameter is bad, and
    :class:`NotebookExecutionError` (naming the cell and error, or the timeout, or the
    dead kernel) when the run fails; the executed notebook is kept either way.
    """
    checked = check_parameters(kind, {**parameters, "kind": kind})
    source = notebook or notebook_for(kind, search_frameworks_dirs(checked))
    if not source.is_file():
        raise UsageError(f"notebook {source} does not exist")
    out_dir = Path(checked["out_dir"]).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / "report.ipynb"
    pdf = out_dir / "report.pdf"
    # A report.pdf from an earlier run must not pass for this run's result.
    if pdf.exists():
        pdf.unlink()
    incomplete = out_dir / "report.INCOMPLETE.pdf"
    # Nor may the logs of an earlier failed run sit beside this run's results.
    for stale in (incomplete, out_dir / "report.papermill.log", out_dir / "report.stderr.log"):
        stale.unlink(missing_ok=True)

    given = {k: v for k, v in _jsonable(checked).items()}
    given["out_dir"] = str(out_dir)
    if given.get("store"):
        given["store"] = str(Path(given["store"]).resolve())
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
        json.dump(given, fh)
        params_file = fh.name
    cmd = [
        sys.executable,
        "-m",
        "papermill",
        str(source),
        str(executed),
        "-f",
        params_file,
        "-k",
        KERNEL_NAME,
        "--cwd",
        str(Path.cwd()),
        "--start-timeout",
        str(int(start_timeout)),
        "--no-progress-bar",
        "--request-save-on-cell-execute",
        "--stderr-file",
        str(out_dir / "report.stderr.log"),
    ]
    env = dict(os.environ)
    # Each run gets a fresh, empty IPython profile: a user's startup files must not change
    # a report, and kernels started side by side must not race to create one profile
    # (a first-ever demo run lost a kernel that way).
    ipython_dir = tempfile.mkdtemp(prefix="auditreports-ipython-")
    env["IPYTHONDIR"] = ipython_dir
    env.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    env["PYTHONWARNINGS"] = env.get("PYTHONWARNINGS", "ignore::DeprecationWarning")
    say(f"[auditreports] {kind}: parameters checked; starting a kernel for {source.name} (Papermill → {executed})")
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True, text=True
    )
    # Papermill's own stderr is kept for the failure message; the kernel's stderr (the
    # pipeline's stage lines) streams into report.stderr.log and is relayed as it grows.
    err_parts: list[str] = []
    reader = threading.Thread(target=lambda: err_parts.append(proc.stderr.read() if proc.stderr else ""), daemon=True)
    reader.start()
    relay = _StageRelay(out_dir / "report.stderr.log", kind)
    try:
        with _terminate_as_exit():
            _wait(proc, relay, started + timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        _close_stderr(proc, reader)
        _quarantine_pdf(pdf, incomplete)
        raise NotebookExecutionError(
            f"the {kind} report notebook did not finish within {timeout:.0f} s and was stopped; "
            f"the partial notebook is {executed} (its stage lines say how far it got; a larger quarter "
            "or a busy machine may need more: --timeout SECONDS)",
            notebook=str(executed),
        ) from None
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM): Papermill and its kernel run in a session of their own,
        # so no signal of ours reaches them - they are stopped here, not left running.
        _stop_group(proc)
        _close_stderr(proc, reader)
        _quarantine_pdf(pdf, incomplete)
        raise
    finally:
        Path(params_file).unlink(missing_ok=True)
        _remove_scratch_profile(ipython_dir)
    _close_stderr(proc, reader)
    err = "".join(err_parts)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        # Papermill's own account (kernel start-up, dead kernel) is kept beside the notebook.
        (out_dir / "report.papermill.log").write_text(err, encoding="utf-8")
        _quarantine_pdf(pdf, incomplete)
        if "DeadKernelError" in err or "Kernel died" in err:
            raise NotebookExecutionError(
                f"the kernel running the {kind} report notebook died (out of memory or killed); "
                f"the partial notebook is {executed}, Papermill's log {out_dir / 'report.papermill.log'}",
                notebook=str(executed),
            )
        cell, error = _first_error(executed) if executed.exists() else (None, err.strip().splitlines()[-1:])
        _raise_review_error(str(error))
        where = f"cell In [{cell}]" if cell else "a cell"
        raise NotebookExecutionError(
            f"the {kind} report notebook failed in {where} ({error}); no report.pdf was produced — "
            f"open {executed} to see the error",
            notebook=str(executed),
            cell=cell,
        )
    if not pdf.is_file():
        raise NotebookExecutionError(
            f"the {kind} report notebook ran but wrote no {pdf}; open {executed} to see why", notebook=str(executed)
        )
    return NotebookRun(kind=kind, notebook=executed, pdf=pdf, out_dir=out_dir, seconds=seconds, parameters=checked)


class _StageRelay:
    """Forward the kernel's ``[auditreports] …`` stage lines from report.stderr.log to our stderr."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self._offset = 0
        self._partial = b""

    def pump(self) -> None:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except OSError:
            return  # not created yet
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").strip()
            if line.startswith("[auditreports] "):
                say(f"[auditreports] {self.kind}: {line.removeprefix('[auditreports] ')}")


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """SIGTERM raises SystemExit(143) while inside (Python's default ends the process without
    cleanup); only in the main thread, where signal handlers can be set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop_group(proc: subprocess.Popen[str], grace: float = 10.0) -> None:
    """Stop Papermill and its kernel (their process group): SIGTERM, then SIGKILL after ``grace`` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    # Whatever of the group is left (Papermill past its grace, or a kernel it left behind).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _close_stderr(proc: subprocess.Popen[str], reader: threading.Thread) -> None:
    reader.join(timeout=30)
    if proc.stderr is not None:
        proc.stderr.close()


def _wait(proc: subprocess.Popen[str], relay: _StageRelay, deadline: float) -> None:
    """Wait for Papermill to exit, relaying stage lines; TimeoutExpired past ``deadline``."""
    while True:
        try:
            proc.wait(timeout=max(0.0, min(0.5, deadline - time.perf_counter())))
        except subprocess.TimeoutExpired:
            relay.pump()
            if time.perf_counter() >= deadline:
                raise
            continue
        relay.pump()
        return


def _raise_review_error(error: str) -> None:
    """A review problem found inside the notebook is the user's to fix: its own one-line error and exit code.

    (An unknown finding id can only be seen once findings are detected; --final's
    refusal is not a crash of the notebook.)
    """
    for cls in (ReviewIncompleteError, ReviewFileError):
        prefix = f"{cls.__name__}: "
        if error.startswith(prefix):
            raise cls(error[len(prefix) :])


def _remove_scratch_profile(path: str) -> None:
    """Remove the run's throw-away IPython profile (no evidence lives there).

    A failure to remove it is said on stderr, never hidden: it only leaves a temporary
    directory behind, so it does not fail the report.
    """
    try:
        shutil.rmtree(path)
    except OSError as exc:
        say(f"[auditreports] warning: could not remove the temporary IPython profile {path}: {exc.strerror or exc}")


def _quarantine_pdf(pdf: Path, incomplete: Path) -> None:
    if pdf.exists():
        pdf.replace(incomplete)
