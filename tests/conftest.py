"""Shared test fixtures.

``shared_real`` points at ``../shared/data/real`` (third-party audit logs, present in
CI beside the clone); tests that need it skip with the reason when it is absent.
``data_samples`` is the committed sample quarter in the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_REAL = REPO.parent / "shared" / "data" / "real"
DATA_SAMPLES = REPO / "data_samples"

# Jupyter writes to IPYTHONDIR / JUPYTER dirs; keep them inside the repo's ignored folders.
os.environ.setdefault("IPYTHONDIR", str(REPO / ".ipython"))
os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_real() -> Path:
    if not SHARED_REAL.is_dir():
        pytest.skip(f"third-party audit logs not found at {SHARED_REAL} (CI has ../shared beside the clone)")
    return SHARED_REAL


@pytest.fixture(scope="session")
def data_samples() -> Path:
    if not (DATA_SAMPLES / "ground_truth.json").is_file():
        pytest.fail("data_samples/ is missing or incomplete; regenerate it with `auditreports samples data_samples`")
    return DATA_SAMPLES


@pytest.fixture(scope="session")
def held_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of a held-out sample quarter (seed 7, scale 0.05: ~16,000 events, 2026-Q3)."""
    from auditreports.cli import main

    root = tmp_path_factory.mktemp("held_out")
    assert main(["samples", str(root / "samples"), "--seed", "7", "--scale", "0.05"]) == 0
    store = root / "store"
    sources = [str(root / "samples" / "workspace"), str(root / "samples" / "conversations")]
    assert main(["ingest", *sources, "--store", str(store)]) == 0
    return store
