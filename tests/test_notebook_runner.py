"""The Papermill runner: failures keep the notebook, never leave a final-looking PDF."""

from __future__ import annotations

import subprocess
import sys

import nbformat
import pytest

from auditreports.errors import NotebookExecutionError, ParameterError
from auditreports.notebook import run_report_notebook


def _notebook(path, body: str):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("store = None\nperiod = None\nout_dir = 'out'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_failing_cell_keeps_notebook_and_no_final_pdf(tmp_path):
    nb = _notebook(
        tmp_path / "fails.ipynb",
        "from pathlib import Path\n"
        "Path(out_dir, 'report.pdf').write_bytes(b'%PDF-1.7 half written')\n"
        "raise RuntimeError('rendering exploded')",
    )
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.pdf").write_bytes(b"%PDF from last quarter")
    with pytest.raises(NotebookExecutionError) as err:
        run_report_notebook("soc2", {"store": str(tmp_path), "period": "2026-Q3", "out_dir": str(out)}, notebook=nb)
    assert "rendering exploded" in err.value.message
    assert not (out / "report.pdf").exists()
    assert (out / "report.INCOMPLETE.pdf").exists()
    executed = nbformat.read(out / "report.ipynb", as_version=4)
    errors = [
        o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert errors and errors[0]["evalue"] == "rendering exploded"
    failing = next(c for c in executed.cells if any(o.output_type == "error" for o in c.get("outputs", [])))
    assert f"cell In [{failing.execution_count}]" in err.value.message


@pytest.mark.slow
def test_wall_clock_timeout_stops_the_kernel(tmp_path):
    nb = _notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(600)")
    with pytest.raises(NotebookExecutionError, match="did not finish within 8 s"):
        run_report_notebook(
            "soc2",
            {"store": str(tmp_path), "period": "2026-Q3", "out_dir": str(tmp_path / "o")},
            notebook=nb,
            timeout=8,
        )


def test_bad_parameter_fails_before_a_kernel_starts(tmp_path):
    with pytest.raises(ParameterError, match="perid"):
        run_report_notebook("soc2", {"store": str(tmp_path), "perid": "2026-Q3", "out_dir": str(tmp_path)})
    assert not (tmp_path / "report.ipynb").exists()


def test_cli_bad_parameter_is_one_line_exit_2(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditreports",
            "report",
            "soc2",
            "--store",
            str(tmp_path),
            "--period",
            "2026-Q9",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "period" in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_dead_kernel_is_reported_as_such(tmp_path):
    nb = _notebook(tmp_path / "dies.ipynb", "import os\nos.kill(os.getpid(), 9)")
    out = tmp_path / "out"
    with pytest.raises(NotebookExecutionError) as err:
        run_report_notebook("soc2", {"store": str(tmp_path), "period": "2026-Q3", "out_dir": str(out)}, notebook=nb)
    assert "kernel" in err.value.message and "died" in err.value.message
    assert (out / "report.ipynb").exists()
    assert not (out / "report.pdf").exists()


def test_scratch_profile_removal_failure_is_reported_not_hidden(tmp_path, capsys):
    from auditreports.notebook import _remove_scratch_profile

    profile = tmp_path / "profile"
    (profile / "sub").mkdir(parents=True)
    _remove_scratch_profile(str(profile))
    assert not profile.exists()
    _remove_scratch_profile(str(tmp_path / "never-created"))
    assert "could not remove the temporary IPython profile" in capsys.readouterr().err


@pytest.mark.slow
def test_stage_lines_are_relayed_and_a_failed_runs_log_goes_with_the_next_success(tmp_path, capfd):
    out = tmp_path / "out"
    fails = _notebook(tmp_path / "fails.ipynb", "import sys\nsys.exit(3)")
    with pytest.raises(NotebookExecutionError):
        run_report_notebook("soc2", {"store": str(tmp_path), "period": "2026-Q3", "out_dir": str(out)}, notebook=fails)
    assert (out / "report.papermill.log").is_file()

    works = _notebook(
        tmp_path / "works.ipynb",
        "from pathlib import Path\n"
        "from auditreports.progress import stage\n"
        "with stage('render PDF'):\n"
        "    Path(out_dir, 'report.pdf').write_bytes(b'%PDF-1.7 fine')",
    )
    capfd.readouterr()
    run = run_report_notebook(
        "soc2", {"store": str(tmp_path), "period": "2026-Q3", "out_dir": str(out)}, notebook=works
    )
    err = capfd.readouterr().err
    assert run.pdf.read_bytes() == b"%PDF-1.7 fine"
    # The kernel's stage lines reach the caller's stderr, named by report kind, while it runs.
    assert "[auditreports] soc2: render PDF …" in err
    assert "[auditreports] soc2: render PDF: done in" in err
    assert not (out / "report.papermill.log").exists()
    assert sorted(p.name for p in out.iterdir()) == ["report.ipynb", "report.pdf", "report.stderr.log"]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
def test_a_stopped_report_command_stops_its_notebook(tmp_path, data_samples, how):
    """`auditreports report` stopped (SIGTERM, Ctrl-C) stops Papermill and the kernel it started.

    They run in a session of their own, so no signal to the command reaches them: left alone
    they would go on running the quarter's report, holding its memory, with nobody waiting.
    """
    import signal
    import time

    psutil = pytest.importorskip("psutil")
    from auditreports.cli import main as cli_main

    store = tmp_path / "store"
    assert (
        cli_main(
            [
                "ingest",
                str(data_samples / "workspace" / "workspace-audit-2026-Q3-0001.ndjson.gz"),
                "--store",
                str(store),
            ]
        )
        == 0
    )
    nb = _notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(600)")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "auditreports", "report", "soc2", "--store", str(store), "--period", "2026-Q3"]
    proc = subprocess.Popen(
        [*cmd, "--out", str(out), "--notebook", str(nb)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        deadline = time.monotonic() + 120
        kernel = None
        while kernel is None and time.monotonic() < deadline:
            time.sleep(0.5)
            for child in psutil.Process(proc.pid).children(recursive=True):
                if "ipykernel" in " ".join(child.cmdline()):
                    kernel = child
        assert kernel is not None, f"the notebook's kernel did not start: {proc.poll()}"
        group = [p for p in psutil.Process(proc.pid).children(recursive=True)]
        time.sleep(1)  # the kernel is executing the sleeping cell
        proc.send_signal(getattr(signal, how))
        code = proc.wait(timeout=60)
        _, alive = psutil.wait_procs(group, timeout=30)
        assert not alive, f"left running after {how}: {[p.cmdline()[:3] for p in alive]}"
        assert code == (143 if how == "SIGTERM" else 130)
        assert not (out / "report.pdf").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
