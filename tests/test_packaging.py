"""The package as a user installs it: metadata, extras, constraints, and a wheel that works.

The slow test builds the wheel from this checkout, installs it (core extras only, with
constraints.txt) into a new virtualenv outside the checkout, and from an empty directory
runs the commands a user starts with — the README's pip path.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from auditreports import __version__
from auditreports._versions import RENDERING_STACK, rendering_stack
from auditreports.cli import main

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version.strip()
    return pins


def test_metadata_licence_extras_and_one_version_source() -> None:
    project = PYPROJECT["project"]
    assert project["license"] == "Apache-2.0" and "Apache License" in (REPO / "LICENSE").read_text()[:200]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "auditreports._version.__version__"}
    assert (REPO / "auditreports" / "py.typed").is_file()
    core = {_name(r) for r in project["dependencies"]}
    # What the report notebooks import is installed with the core; JupyterLab is the [lab] extra.
    assert {"papermill", "ipykernel", "pypdf", "plotly", "kaleido", "weasyprint"} <= core
    assert "jupyterlab" not in core
    assert {_name(r) for r in project["optional-dependencies"]["lab"]} == {"jupyterlab"}


def test_constraints_pin_every_dependency_and_the_rendering_stack() -> None:
    pins = _pins()
    wanted = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        wanted |= {_name(r) for r in extra if not r.startswith("auditreports")}
    assert wanted - set(pins) == set(), "constraints.txt misses dependencies; run `make constraints`"
    assert set(RENDERING_STACK) <= set(pins)
    assert "auditreports" not in pins


def test_the_stamp_names_the_resolved_rendering_stack() -> None:
    from importlib.metadata import version

    line = rendering_stack()
    for name in RENDERING_STACK:
        assert f"{name} {version(name)}" in line
    from auditreports.report.model import build_stamp
    from auditreports.report.period import parse_period

    stamp = build_stamp(
        kind="soc2",
        period=parse_period("2026-Q3"),
        parameters={},
        notebook_name=None,
        rule_pack_hash=None,
        manifest_hash=None,
        ledger=None,
        generated_at=datetime.datetime(2026, 10, 1, tzinfo=datetime.UTC),
    )
    assert dict(stamp.items)["rendering stack"] == line


def test_lab_without_jupyterlab_names_the_extra(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jupyterlab" else real(name, *a))
    assert main(["lab", "--no-browser"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'auditreports[lab]'" in err[0]


def _run(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900, ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode in ok, f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow  # builds a wheel, installs it and its dependencies into a new venv, runs every stage: minutes
def test_the_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    _run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(dist)], tmp_path, build_env)
    (wheel,) = dist.glob("auditreports-*.whl")
    assert wheel.name.startswith(f"auditreports-{__version__}-")
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in (
        "auditreports/templates/report.html",
        "auditreports/templates/report.css",
        "auditreports/notebooks/framework_report.ipynb",
        "auditreports/notebooks/explore.ipynb",
        "auditreports/rules/brute_force_login.yml",
        "auditreports/frameworks/soc2.yml",
        "auditreports/sources/vendors/maps/okta.yml",
        "auditreports/py.typed",
    ):
        assert shipped in names, shipped
    # Exactly the repository's notebooks and templates: nothing stale from an earlier build.
    for folder in ("notebooks", "templates"):
        shipped_files = {n.split("/", 2)[2] for n in names if n.startswith(f"auditreports/{folder}/")}
        assert shipped_files == {p.name for p in (REPO / folder).iterdir() if p.is_file()}, folder
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata and "Classifier: Typing :: Typed" in metadata
    assert not [n for n in names if n.startswith(("templates/", "notebooks/", "tests/"))]

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, build_env)
    py, exe = venv / "bin" / "python", venv / "bin" / "auditreports"
    _run([str(py), "-m", "pip", "install", "-q", "-c", str(REPO / "constraints.txt"), str(wheel)], tmp_path, build_env)

    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in build_env.items() if not k.startswith(("AUDITREPORTS_TOKEN", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    where = _run(
        [str(py), "-c", "import auditreports._resources as r; print(r.templates_dir()); print(r.notebooks_dir())"],
        work,
        env,
    ).stdout.split()
    site = str(venv / "lib")
    assert all(p.startswith(site) for p in where), where  # the installed copy, not this checkout

    _run([str(exe), "samples", "data_samples"], work, env)
    ingest = _run([str(exe), "ingest", "data_samples", "--store", "store"], work, env)
    assert "0 identical duplicates" in ingest.stderr + ingest.stdout
    # The sample quarter is PARTIAL on purpose (exit 3): a day of workspace logging is missing.
    verify = _run([str(exe), "verify", "--store", "store", "--period", "2026-Q3", "--json"], work, env, ok=(3,))
    assert json.loads(verify.stdout)["verdict"] == "PARTIAL"
    detect = _run(
        [str(exe), "detect", "--store", "store", "--settings", "data_samples/settings.yml", "--json"], work, env
    )
    assert json.loads(detect.stdout)["findings"]
    for kind, extra in (("soc2", []), ("gdpr", ["--subject", "cus_1001", "--received", "2026-10-05"])):
        report = _run(
            [
                str(exe),
                "report",
                kind,
                "--store",
                "store",
                "--period",
                "2026-Q3",
                "--out",
                kind,
                "--json",
                "--settings",
                "data_samples/settings.yml",
                *extra,
            ],
            work,
            env,
        )
        doc = json.loads(report.stdout)
        assert Path(doc["report"]).read_bytes()[:5] == b"%PDF-"
        if kind == "gdpr":  # the response carries only the subject's data; the manifest is the record's
            assert set(doc["evidence_files"]) == {"subject_data.json", "subject_data.csv"}
            assert Path(doc["release_record"]).read_bytes()[:5] == b"%PDF-"
            assert (Path(doc["release_evidence"]) / "manifest.json").is_file()
        else:
            assert "manifest.json" in doc["evidence_files"]
        assert "render PDF" in report.stderr  # the kernel's stages are relayed while it runs
    demo_dir = tmp_path / "demo"
    demo_dir.mkdir()
    demo = json.loads(_run([str(exe), "demo", "--json"], demo_dir, env).stdout)
    assert demo["ok"] and set(demo["reports"]) == {"soc2", "hipaa", "gdpr"}
    for run in demo["reports"].values():
        assert Path(run["report"]).read_bytes()[:5] == b"%PDF-"

    # The core install has no JupyterLab: `lab` says which extra to install, in one line.
    lab = subprocess.run(
        [str(exe), "lab", "--no-browser"], cwd=work, env=env, capture_output=True, text=True, timeout=60
    )
    assert lab.returncode == 2 and "auditreports[lab]" in lab.stderr and len(lab.stderr.strip().splitlines()) == 1
