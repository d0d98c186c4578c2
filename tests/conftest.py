"""Shared test fixtures.

``shared_real`` points at ``../shared/data/real`` (third-party audit logs, present in
CI beside the clone); tests that need it skip with the reason when it is absent.
``data_samples`` is the committed sample quarter in the repository.

Every process a test starts inherits ``AUDITREPORTS_TEST_RUN`` (this run's id) from the
environment; after each test, one it started that is still alive — a server, a kernel, a
Chromium, also one orphaned by its parent — fails that test (and is then killed), and the
session ends with a check that none is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
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


# --- no process outlives the test that started it ------------------------------------
RUN_MARKER = "AUDITREPORTS_TEST_RUN"
RUN_ID = os.environ.setdefault(RUN_MARKER, uuid.uuid4().hex)
_MARK = f"{RUN_MARKER}={RUN_ID}".encode()


# multiprocessing's helpers started for the pytest process itself (a test that runs a Dask
# LocalCluster in-process starts one): they live exactly as long as pytest, exiting when its
# pipe closes, so they are no server left behind.
_LIVES_WITH_PYTEST = (
    "from multiprocessing.resource_tracker import main",
    "from multiprocessing.forkserver import main",
)
_UNMARKED: set[tuple[str, bytes]] = set()  # (pid, start time) of processes known not to be ours


def marked_processes() -> dict[int, str]:
    """Live processes (not zombies) started from this test run: pid -> command line."""
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[-1].split()
            key = (entry.name, fields[19])  # the start time tells a reused pid apart
            if fields[0] in (b"Z", b"X") or key in _UNMARKED:
                continue
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                if _MARK not in fh.read().split(b"\0"):
                    _UNMARKED.add(key)  # a process's initial environment never changes
                    continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
            if fields[1] == str(os.getpid()).encode() and any(helper in cmd for helper in _LIVES_WITH_PYTEST):
                continue
            found[int(entry.name)] = cmd
        except (OSError, IndexError):  # gone meanwhile, or not ours to read
            continue
    return found


def _leftovers(before: set[int], grace: float) -> dict[int, str]:
    """Processes started since ``before`` still alive after ``grace`` seconds (they may be exiting)."""
    deadline = time.monotonic() + grace
    while True:
        left = {pid: cmd for pid, cmd in marked_processes().items() if pid not in before}
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.2)


def _kill(pids: dict[int, str]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(autouse=True)
def no_process_left_behind() -> Iterator[None]:
    if not os.path.isdir("/proc"):  # pragma: no cover - Linux only
        yield
        return
    before = set(marked_processes())
    yield
    left = _leftovers(before, grace=10.0)
    if left:
        _kill(left)
        pytest.fail(
            "the test left process(es) running (now killed): "
            + "; ".join(f"{pid}: {cmd[:160]}" for pid, cmd in sorted(left.items())),
            pytrace=False,
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not os.path.isdir("/proc"):  # pragma: no cover - Linux only
        return
    left = _leftovers(set(), grace=10.0)
    if left:
        _kill(left)
        print(
            "\nprocesses started by the test run were still running at its end (now killed):\n"
            + "\n".join(f"  {pid}: {cmd[:200]}" for pid, cmd in sorted(left.items()))
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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
