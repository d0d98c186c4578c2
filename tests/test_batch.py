"""``auditreports batch``: many report runs on Dask, one folder per job and a summary.

The slow tests start a real ``dask scheduler`` and ``dask worker`` on loopback (and the
default embedded LocalCluster) and stop them again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from auditreports.batch import gdpr_request_jobs, read_requests, workspace_jobs
from auditreports.cli import main
from auditreports.errors import UsageError

REPO = Path(__file__).resolve().parent.parent


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ the requests file


def test_requests_are_read_with_their_lines(tmp_path):
    f = _write(tmp_path / "r.csv", "\ufeffSubject,Received\ncus_1,2026-10-01\n\n cus_2 ,2026-10-02\n")
    rows = read_requests(f)
    assert [(s, d.isoformat(), line) for s, d, line in rows] == [
        ("cus_1", "2026-10-01", 2),
        ("cus_2", "2026-10-02", 4),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("subject,date\ncus_1,2026-10-01\n", r"r\.csv:1: .*subject,received"),
        ("subject,received\ncus_1,2026-10-01\n  ,2026-10-02\n", r"r\.csv:3: the subject is empty"),
        ("subject,received\ncus_1,03/10/2026\n", r"r\.csv:2: received '03/10/2026' is not a date"),
        ("subject,received\ncus_1,2026-10-01\nCUS_1,2026-10-09\n", r"r\.csv:3: .*already requested on line 2"),
        ("subject,received\n", r"holds no request"),
    ],
)
def test_a_bad_requests_file_is_one_line_naming_file_and_line(tmp_path, text, expected):
    with pytest.raises(UsageError, match=expected):
        read_requests(_write(tmp_path / "r.csv", text))


def test_each_subject_gets_its_own_folder_inside_out(tmp_path):
    f = _write(
        tmp_path / "r.csv",
        "subject,received\n../../etc,2026-10-01\na/b,2026-10-01\na_b,2026-10-01\njane@example.net,2026-10-01\n",
    )
    out = tmp_path / "out"
    jobs = gdpr_request_jobs(f, store=tmp_path / "store", out_dir=out, period="2026-Q3")
    folders = [job.out_dir for job in jobs]
    assert len(set(folders)) == 4
    for folder in folders:
        assert folder.parent == out.resolve()  # never outside --out, never nested
    assert folders[3].name == "jane@example.net"  # readable when nothing had to change
    assert [j.parameters["subject"] for j in jobs] == ["../../etc", "a/b", "a_b", "jane@example.net"]
    assert all(j.parameters["received"] == "2026-10-01" for j in jobs)


def test_workspace_jobs_one_folder_per_store(tmp_path):
    a, b = tmp_path / "x" / "acme", tmp_path / "y" / "acme"
    jobs = workspace_jobs("soc2", [a, b], out_dir=tmp_path / "out", period="2026-Q3")
    assert len({j.out_dir for j in jobs}) == 2
    with pytest.raises(UsageError, match="given twice"):
        workspace_jobs("soc2", [a, a], out_dir=tmp_path / "out", period="2026-Q3")


def test_cli_usage_errors_are_one_line(tmp_path, capsys):
    req = _write(tmp_path / "r.csv", "subject,received\ncus_1,2026-10-01\n")
    assert main(["batch", "gdpr", "--store", str(tmp_path), "--period", "2026-Q3", "--requests", str(req)]) == 2
    assert "needs --out" in capsys.readouterr().err
    assert main(["batch", "gdpr", "--period", "2026-Q3", "--requests", str(req), "--out", str(tmp_path / "o")]) == 2
    assert "exactly one --store" in capsys.readouterr().err
    code = main(["batch", "gdpr", "--store", str(tmp_path / "nostore"), "--requests", str(req), "--out", str(tmp_path)])
    assert code == 2
    assert "--period" in capsys.readouterr().err


def test_a_mistake_shared_by_every_job_stops_the_batch_before_any_worker_starts(tmp_path, capsys):
    req = _write(tmp_path / "r.csv", "subject,received\ncus_1,2026-10-01\ncus_2,2026-10-01\n")
    code = main(
        [
            "batch",
            "gdpr",
            "--store",
            str(tmp_path),
            "--period",
            "2026-Q9",
            "--requests",
            str(req),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "2026-Q9" in err and "Traceback" not in err
    assert not (tmp_path / "o" / "batch.json").exists()


# ------------------------------------------------------------------ real clusters


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A real ``dask scheduler`` and one ``dask worker`` on loopback, stopped afterwards."""
    work = tmp_path_factory.mktemp("dask")
    scheduler_file = work / "scheduler.json"
    common = {"cwd": work, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dask",
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(scheduler_file),
        ],
        start_new_session=True,
        **common,
    )
    procs = [scheduler]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            assert scheduler.poll() is None, "the dask scheduler exited at start-up"
            assert time.monotonic() < deadline, "the dask scheduler did not start within 60 s"
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dask",
                "worker",
                address,
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
                "--name",
                "auditreports-test-worker",
            ],
            start_new_session=True,
            **common,
        )
        procs.append(worker)
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(1, timeout=60)
            workers = list(client.scheduler_info()["workers"])
        yield address, workers
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert all(p.poll() is not None for p in procs)


@pytest.fixture(scope="module")
def batch_store(tmp_path_factory, data_samples) -> Path:
    from auditreports.sources import load
    from auditreports.store import write_store

    store = tmp_path_factory.mktemp("batch") / "store"
    write_store(store, load([str(data_samples / "workspace"), str(data_samples / "conversations")]))
    return store


def _pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


@pytest.mark.slow
def test_batch_gdpr_on_a_real_scheduler_and_worker(dask_cluster, batch_store, data_samples, tmp_path, capsys):
    address, workers = dask_cluster
    requests = _write(
        tmp_path / "requests.csv",
        "subject,received\ncus_1001,2026-10-05\ncus_1002,2026-10-06\n",
    )
    out = tmp_path / "out"
    code = main(
        [
            "batch",
            "gdpr",
            "--store",
            str(batch_store),
            "--period",
            "2026-Q3",
            "--requests",
            str(requests),
            "--settings",
            str(data_samples / "settings.yml"),
            "--scheduler",
            address,
            "--out",
            str(out),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert code == 0, captured.err
    assert summary == json.loads((out / "batch.json").read_text(encoding="utf-8"))
    assert summary["scheduler"] == address
    assert (summary["total"], summary["ok"], summary["failed"]) == (2, 2, 0)
    for job, subject in zip(summary["jobs"], ("cus_1001", "cus_1002"), strict=True):
        assert job["status"] == "ok"
        assert job["worker"] in workers  # ran on the cluster's worker, not in this process
        folder = out / subject
        assert job["out_dir"] == str(folder.resolve())
        # The same folder a single `auditreports report gdpr` run leaves.
        assert (folder / "report.pdf").is_file() and (folder / "report.ipynb").is_file()
        assert (folder / "evidence" / "subject_data.json").is_file()
        assert (folder / "release-record.pdf").is_file()
        assert (folder / "release-record-evidence" / "manifest.json").is_file()
        text = _pdf_text(folder / "report.pdf")
        other = "cus_1002" if subject == "cus_1001" else "cus_1001"
        assert subject in text and other not in text
    assert "[batch] 2/2 ok" in captured.err


@pytest.mark.slow
def test_batch_on_the_default_local_cluster_records_a_failed_job_and_goes_on(
    batch_store, data_samples, tmp_path, capsys
):
    requests = _write(
        tmp_path / "requests.csv", "subject,received\ncus_1003,2026-10-05\nnobody@nowhere.example,2026-10-05\n"
    )
    out = tmp_path / "out"
    code = main(
        [
            "batch",
            "gdpr",
            "--store",
            str(batch_store),
            "--period",
            "2026-Q3",
            "--requests",
            str(requests),
            "--settings",
            str(data_samples / "settings.yml"),
            "--out",
            str(out),
            "--workers",
            "1",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1  # one job failed: the batch says so in its exit code
    summary = json.loads((out / "batch.json").read_text(encoding="utf-8"))
    assert summary["scheduler"] == "LocalCluster (1 worker)"
    by_label = {j["label"]: j for j in summary["jobs"]}
    assert by_label["cus_1003"]["status"] == "ok"
    assert (out / "cus_1003" / "report.pdf").is_file()
    failed = by_label["nobody@nowhere.example"]
    assert failed["status"] == "failed" and "nobody@nowhere.example" in failed["error"]
    assert not (out / "nobody@nowhere.example" / "report.pdf").exists()
    assert "1 of 2 report(s) written" in captured.out


@pytest.mark.slow
def test_batch_of_one_kind_over_many_stores_on_a_real_cluster(dask_cluster, tmp_path, capsys):
    from auditreports.sources import load
    from auditreports.store import write_store

    address, workers = dask_cluster
    fixtures = REPO / "tests" / "fixtures" / "ingest"
    stores = []
    for name in ("acme", "globex"):
        store = tmp_path / "stores" / name
        write_store(store, load([str(fixtures / "workspace_events.json"), str(fixtures / "conversation_events.json")]))
        stores.append(store)
    out = tmp_path / "out"
    argv = ["batch", "soc2", "--period", "2026-07", "--scheduler", address, "--out", str(out)]
    for store in stores:
        argv += ["--store", str(store)]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads((out / "batch.json").read_text(encoding="utf-8"))
    assert (summary["kind"], summary["ok"], summary["failed"]) == ("soc2", 2, 0)
    for name, job in zip(("acme", "globex"), summary["jobs"], strict=True):
        assert job["out_dir"] == str((out / name).resolve()) and job["worker"] in workers
        assert (out / name / "report.pdf").is_file() and (out / name / "evidence" / "findings.json").is_file()
