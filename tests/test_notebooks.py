"""The notebooks: committed clean, parameters as declared, and every one executed by Papermill.

The executed runs share one store built once from data_samples/ (session fixture) and
run the three report notebooks side by side, with AUDITREPORTS_TOKEN set in their
environment, so the same runs prove that no token reaches an executed notebook or
anything in --out. PDF content is only spot-checked here: the report tests own it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import nbformat
import papermill
import pytest
from pypdf import PdfReader

from auditreports.detect import detect
from auditreports.notebook import NotebookRun, run_report_notebook
from auditreports.parameters import declared_parameters, generic_notebook_parameters
from auditreports.report.registry import GENERIC_NOTEBOOK, report_kinds
from auditreports.settings import load_settings
from auditreports.store import open_store

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO / "notebooks"
# Every shipped report kind's notebook (the registry says which), and the explore notebook.
ALL = {**{kind: k.notebook for kind, k in report_kinds().items()}, "explore": "explore.ipynb"}
TOKEN = "tok_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0"


def _read(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK_DIR / name, as_version=4)


def _parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell must be tagged 'parameters'"
    return tagged[0]


@pytest.mark.parametrize("name", sorted(ALL.values()))
def test_committed_notebooks_hold_no_outputs(name):
    nb = _read(name)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: a cell was committed with outputs"
            assert cell.execution_count is None
        assert "papermill" not in cell.metadata
    assert "papermill" not in nb.metadata
    assert nb.metadata.kernelspec.name == "python3"


def test_notebooks_are_what_the_generator_writes():
    spec = importlib.util.spec_from_file_location("make_notebooks", REPO / "scripts" / "make_notebooks.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert generator.main(["--check"]) == 0, "run scripts/make_notebooks.py and commit the notebooks"


@pytest.mark.parametrize("kind", sorted(ALL))
def test_parameters_cell_declares_exactly_the_checked_parameters(kind):
    nb = _read(ALL[kind])
    cell = _parameters_cell(nb)
    namespace: dict[str, object] = {}
    exec(cell.source, namespace)  # the cell is plain assignments
    cell_names = {k: v for k, v in namespace.items() if k != "__builtins__"}
    following = nb.cells[nb.cells.index(cell) + 1 :]
    first_code = next(c for c in following if c.cell_type == "code")
    if ALL[kind] == GENERIC_NOTEBOOK:
        # One notebook for every kind built from sections: it declares what any of them may take,
        # and checks the parameters of the kind it runs.
        assert cell_names == {name: spec.default for name, spec in generic_notebook_parameters().items()}
        assert set(declared_parameters(kind)) <= set(cell_names)
        assert "check_parameters(kind," in first_code.source
    else:
        declared = {name: spec.default for name, spec in declared_parameters(kind).items()}
        assert cell_names == declared
        assert f'check_parameters("{kind}"' in first_code.source


def test_shipped_kinds_share_the_generic_notebook_except_gdpr():
    kinds = report_kinds()
    assert {"soc2", "hipaa", "gdpr"} <= set(kinds)
    assert kinds["soc2"].notebook == kinds["hipaa"].notebook == GENERIC_NOTEBOOK
    assert kinds["gdpr"].notebook == "gdpr_subject_access.ipynb"
    assert {p.name for p in NOTEBOOK_DIR.glob("*.ipynb")} == set(ALL.values())


# ------------------------------------------------------------------ executed runs


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory, data_samples) -> Path:
    from auditreports.sources import load
    from auditreports.store import write_store

    store = tmp_path_factory.mktemp("notebooks") / "store"
    write_store(store, load([str(data_samples / "workspace"), str(data_samples / "conversations")]))
    return store


@pytest.fixture(scope="session")
def gdpr_subject(sample_store) -> str:
    from auditreports.commands.demo import choose_demo_subject
    from auditreports.detect import detect
    from auditreports.store import open_store

    events = open_store(sample_store).events
    return choose_demo_subject(events, detect(events).frame)


@pytest.fixture(scope="session")
def report_runs(sample_store, gdpr_subject, data_samples, tmp_path_factory) -> dict[str, NotebookRun]:
    """The three report notebooks, run side by side as the demo does, with a token in the environment."""
    out = tmp_path_factory.mktemp("reports")
    common = {"store": str(sample_store), "period": "2026-Q3", "appendix_cap": 150, "organisation": "Acme Health Ltd"}
    params = {
        "soc2": {**common, "reviewer": "Dana Lee"},
        # One month keeps the HIPAA tables (every PHI access) small; it holds the snooping incident.
        "hipaa": {**common, "period": "2026-09", "phi_tags": ["phi"]},
        "gdpr": {
            **common,
            "subject": gdpr_subject,
            "received": "2026-10-05",
            "customer_directory": str(data_samples / "customers.csv"),
            "processing_record": str(data_samples / "processing_record.yml"),
        },
    }
    previous = os.environ.get("AUDITREPORTS_TOKEN")
    os.environ["AUDITREPORTS_TOKEN"] = TOKEN
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = {
                kind: pool.submit(run_report_notebook, kind, {**p, "out_dir": str(out / kind)}, timeout=900)
                for kind, p in params.items()
            }
            return {kind: f.result() for kind, f in futures.items()}
    finally:
        if previous is None:
            os.environ.pop("AUDITREPORTS_TOKEN", None)
        else:
            os.environ["AUDITREPORTS_TOKEN"] = previous


def _outputs(path: Path) -> list[dict]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def assert_static_image_beside_every_figure(outputs: list[dict]) -> None:
    """Outside JupyterLab (nbconvert, GitHub) only the SVG shows: each Plotly output carries one."""
    figures = [o["data"] for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert figures
    for data in figures:
        svg = "".join(data.get("image/svg+xml", ""))
        assert svg.lstrip().startswith("<svg") and "</svg>" in svg, sorted(data)


def _stdout(outputs: list[dict]) -> str:
    return "".join("".join(o["text"]) for o in outputs if o["output_type"] == "stream" and o["name"] == "stdout")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["soc2", "hipaa", "gdpr"])
def test_report_notebook_leaves_pdf_notebook_and_evidence(report_runs, kind):
    run = report_runs[kind]
    assert run.pdf == run.out_dir / "report.pdf" and run.pdf.read_bytes()[:5] == b"%PDF-"
    assert run.notebook == run.out_dir / "report.ipynb"
    evidence = run.out_dir / "evidence"
    if kind == "gdpr":  # the response carries the subject's data; the audit evidence is the release record's
        assert {p.name for p in evidence.iterdir()} == {"subject_data.json", "subject_data.csv"}
        assert (run.out_dir / "release-record.pdf").read_bytes()[:5] == b"%PDF-"
        evidence = run.out_dir / "release-record-evidence"
    assert {"findings.json", "events.csv", "verification.json", "manifest.json"} <= {p.name for p in evidence.iterdir()}
    outputs = _outputs(run.notebook)
    assert not [o for o in outputs if o["output_type"] == "error"]
    # The analyst sees interactive charts and the findings table, and the run honoured the overrides.
    assert sum("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs) >= 2
    assert_static_image_beside_every_figure(outputs)
    assert any("finding_id" in "".join(o.get("data", {}).get("text/html", "")) for o in outputs)
    text = _stdout(outputs)
    assert "integrity verdict:" in text and "appendix cap: 150 rows" in text and "Acme Health Ltd" in text
    assert f"report:   {run.pdf}" in text


@pytest.mark.slow
def test_rendered_pdfs_name_the_planted_incidents(report_runs, gdpr_subject, data_samples):
    truth = {i["id"]: i for i in json.loads((data_samples / "ground_truth.json").read_text())["incidents"]}

    def text(kind: str) -> str:
        assert len(PdfReader(report_runs[kind].pdf).pages) > 1
        return subprocess.run(
            ["pdftotext", "-q", str(report_runs[kind].pdf), "-"], capture_output=True, text=True, check=True
        ).stdout

    soc2 = text("soc2")
    assert truth["INC-01"]["ip"] in soc2  # the brute-force source
    assert "Acme Health Ltd" in soc2 and "Dana Lee" in soc2
    gdpr = text("gdpr")
    assert gdpr_subject in gdpr
    assert "PHI" in text("hipaa")


@pytest.mark.slow
def test_no_token_in_executed_notebooks_or_outputs(report_runs):
    checked = 0
    for run in report_runs.values():
        for path in run.out_dir.rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), f"the API token leaked into {path}"
                checked += 1
    assert checked >= 15


@pytest.mark.slow
def test_organisation_framework_runs_as_its_own_report_kind(sample_store, tmp_path):
    """A copy of the shipped soc2.yml saved as acme.yml in a --frameworks directory is `report acme`."""
    from auditreports.cli import main as cli_main
    from auditreports.detect.frameworks import builtin_frameworks

    frameworks = tmp_path / "frameworks"
    frameworks.mkdir()
    (frameworks / "acme.yml").write_bytes(builtin_frameworks()["soc2"].read_bytes())
    out = tmp_path / "acme"
    args = ["report", "acme", "--store", str(sample_store), "--period", "2026-09", "--out", str(out)]
    assert cli_main([*args, "--appendix-cap", "20", "--frameworks", str(frameworks)]) == 0
    text = subprocess.run(["pdftotext", "-q", str(out / "report.pdf"), "-"], capture_output=True, text=True).stdout
    flat = " ".join(text.split())
    assert "SOC 2 quarterly access and change review" in flat and "User access: joiners, movers, leavers" in flat
    assert "report kind acme" in flat  # the reproducibility stamp names the kind that was run
    executed = json.loads((out / "report.ipynb").read_text(encoding="utf-8"))
    assert any("framework_report" in "".join(c["source"]) for c in executed["cells"])
    # Without the directory, the kind is unknown: one line, exit 2, nothing run.
    assert cli_main([*args]) == 2
    assert not (tmp_path / "acme-missing").exists()


@pytest.mark.slow
def test_explore_notebook_filters_timeline_and_finding(sample_store, data_samples, tmp_path):
    snooper = next(
        i for i in json.loads((data_samples / "ground_truth.json").read_text())["incidents"] if i["id"] == "INC-08"
    )
    executed = tmp_path / "explore.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK_DIR / "explore.ipynb"),
        str(executed),
        parameters={
            "store": str(sample_store),
            "period": "2026-Q3",
            "actor": snooper["actor_id"],
            "since": snooper["window_start"][:10],
            "until": snooper["window_end"][:10],
            "text": None,
            "settings_file": str(data_samples / "settings.yml"),
        },
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
    )
    outputs = _outputs(executed)
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = _stdout(outputs)
    # The filter found the snooper's day, the timeline is theirs, and the finding's evidence is all in the store.
    assert f"timeline of actor {snooper['actor_id']}" in text
    count = int(text.split(" events match ")[0].split()[-1].replace(",", ""))
    assert count >= snooper["count"]
    assert " evidence events found in the store" in text
    found, of = text.split(" evidence events found")[0].split()[-3::2]
    assert found == of
    assert sum("application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs) >= 4
    assert_static_image_beside_every_figure(outputs)
    # detect ran with the settings (staff time zones for off-hours), as the reports do.
    settings = load_settings(data_samples / "settings.yml")
    expected = detect(open_store(sample_store).events, settings=settings.detection)
    assert f"settings: {settings.path}" in text
    assert f"{len(expected)} finding(s) over " in text
    assert len(expected) != len(detect(open_store(sample_store).events)), "the settings should change the findings"
    # The integrity result is in the notebook, with the sample's planted logging outage.
    assert "integrity verdict: PARTIAL" in text and "likely logging outage" in text
    tables = "".join(
        "".join(o["data"].get("text/plain", ""))
        for o in outputs
        if o["output_type"] in ("display_data", "execute_result")
    )
    assert "likely_outage" in tables and "2026-08-19" in tables
    # Every finding is listed (none cut), with its summary and the findings that share its events.
    assert "shares_events_with" in tables and "summary" in tables
    assert "showing the first" not in text.split(" finding(s) over ")[1].split("evidence events")[0]
    # Who acted is the actor's id and type: an API key's calls are not credited to its owner's name alone.
    assert "actor_type" in tables and "┆ names " in tables


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_lab_starts_serves_the_notebooks_with_the_project_kernel(tmp_path):
    port = _free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    log = tmp_path / "lab.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "auditreports", "lab", "--port", str(port), "--no-browser", "--token", "t3st"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        answer = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert answer is not None and answer.status_code == 200, log.read_text()[-2000:]
        assert "version" in answer.json()
        headers = {"Authorization": "token t3st"}
        contents = httpx.get(f"http://127.0.0.1:{port}/api/contents", headers=headers, timeout=5).json()
        assert set(ALL.values()) <= {item["name"] for item in contents["content"]}
        specs = httpx.get(f"http://127.0.0.1:{port}/api/kernelspecs", headers=headers, timeout=5).json()
        assert specs["default"] == "python3"
        argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
        # jupyter_client starts a kernel whose argv[0] is "python" with the server's own interpreter,
        # i.e. this environment's, where auditreports is installed.
        assert argv[0] == "python" or Path(argv[0]).resolve() == Path(sys.executable).resolve()
        assert argv[1:3] == ["-m", "ipykernel_launcher"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
