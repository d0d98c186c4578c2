"""Two writers, one store: the lock serialises them; a crashed write is undone; reports refuse a store that does not reconcile.

Real processes throughout: `auditreports ingest` run as two child processes at once,
and a child killed in the middle of a write (``os._exit`` between the Parquet parts
and the ledger commit, which is what kill -9 does at that moment).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest
from test_sources_formats import records

from auditreports.errors import ParameterError, StoreError
from auditreports.parameters import check_parameters
from auditreports.sources import load
from auditreports.store import open_store, reconcile, store_lock, write_store

TEMPLATE = records("workspace")[0]


def _export(path: Path, tag: str, n: int) -> Path:
    lines = []
    for i in range(n):
        rec = copy.deepcopy(TEMPLATE)
        rec["id"] = f"evt_{tag}_{i:05d}"
        rec["sequence"] = i + 1
        rec["occurred_at"] = f"2026-07-{1 + i % 28:02d}T{i % 24:02d}:00:00.000Z"
        rec.pop("hash", None)
        rec.pop("prev_hash", None)
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ingest(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "auditreports", "ingest", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_line(proc: subprocess.Popen[str], needle: str, seen: list[str]) -> None:
    """Read the child's stderr until a line contains ``needle`` (keeps what was read)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        if needle in line:
            return
    raise AssertionError(f"the child ended without printing {needle!r}: {''.join(seen)}")


def _run_two_writers_at_once(store: Path, first: list[str], second: list[str]) -> tuple[str, str]:
    """Both children start while this test holds the lock, so both are certainly waiting; then release."""
    stderr: dict[int, list[str]] = {0: [], 1: []}
    store.mkdir()
    with store_lock(store):
        procs = [_ingest(*first, "--store", str(store)), _ingest(*second, "--store", str(store))]
        for i, proc in enumerate(procs):
            _wait_for_line(proc, "the store is being written by process", stderr[i])
    outs = []
    for i, proc in enumerate(procs):
        _, rest = proc.communicate(timeout=600)
        assert proc.returncode == 0, "".join(stderr[i]) + rest
        outs.append("".join(stderr[i]) + rest)
    return outs[0], outs[1]


@pytest.fixture
def exports(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "exports"
    folder.mkdir()
    return [_export(folder / f"part{i}.ndjson", f"p{i}", 400) for i in range(4)]


def test_two_ingests_of_the_same_files_at_once_store_every_event_once(tmp_path: Path, exports: list[Path]) -> None:
    store = tmp_path / "store"
    files = [str(p) for p in exports]
    err1, _ = _run_two_writers_at_once(store, files, files)
    assert f"process {os.getpid()}" in err1  # the waiting writer names the holder
    events = open_store(store).events.collect()
    assert events.height == 1600
    assert events["event_id"].n_unique() == 1600
    ledger = open_store(store).ledger
    statuses = sorted(e["status"] for e in ledger["inputs"])
    assert statuses == ["already_ingested"] * 4 + ["ingested"] * 4
    assert reconcile(store) == []


def test_two_ingests_of_different_files_at_once_leave_a_complete_ledger(tmp_path: Path, exports: list[Path]) -> None:
    store = tmp_path / "store"
    _run_two_writers_at_once(store, [str(p) for p in exports[:2]], [str(p) for p in exports[2:]])
    events = open_store(store).events.collect()
    ledger = open_store(store).ledger
    assert sorted(e["path"] for e in ledger["inputs"]) == sorted(str(p) for p in exports)
    assert sum(e["added"] for e in ledger["inputs"]) == events.height == 1600
    per_file = dict(events.group_by("source_file").len().iter_rows())
    assert per_file == {e["path"]: e["added"] for e in ledger["inputs"]}
    assert reconcile(store) == []


def test_a_writer_that_cannot_wait_names_the_holder_and_exits_2(tmp_path: Path, exports: list[Path]) -> None:
    store = tmp_path / "store"
    write_store(store, load(exports[0]))
    with store_lock(store):
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from auditreports.store import store_lock\n"
                "from auditreports.errors import StoreError\n"
                "try:\n    store_lock(sys.argv[1], timeout=0).__enter__()\n"
                "except StoreError as e:\n    print(e); sys.exit(2)",
                str(store),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert child.returncode == 2
    assert f"the store is being written by process {os.getpid()}" in child.stdout


_CRASH_MID_WRITE = """
import os, sys
import auditreports.store as store
from auditreports.sources import load
real = store._append_quarantine
def die(*a, **k):
    os._exit(9)   # as kill -9 would: parts written, no quarantine, no ledger commit
store._append_quarantine = die
store.write_store(sys.argv[1], load(sys.argv[2:]))
"""


def test_a_write_killed_before_its_commit_is_undone_by_the_next_writer(tmp_path: Path, exports: list[Path]) -> None:
    store = tmp_path / "store"
    write_store(store, load(exports[0]))
    broken = exports[1].with_name("broken.ndjson")
    broken.write_bytes(exports[1].read_bytes() + b"{cut off\n")
    child = subprocess.run([sys.executable, "-c", _CRASH_MID_WRITE, str(store), str(broken)], timeout=300)
    assert child.returncode == 9
    # Parts of the dead write are on disk, the ledger does not know them: reports refuse the store.
    problems = reconcile(store)
    assert any("interrupted" in p for p in problems)
    assert any("not in the ledger" in p for p in problems)
    with pytest.raises(ParameterError, match="the ledger does not reconcile"):
        check_parameters("soc2", {"store": str(store), "period": "2026-Q3"})
    # The next writer removes what was never committed, then does its own write.
    write_store(store, load([exports[0], broken]))
    assert reconcile(store) == []
    events = open_store(store).events.collect()
    assert events.height == 800 and events["event_id"].n_unique() == 800
    assert open_store(store).quarantine.height == 1


def test_a_part_the_ledger_does_not_list_makes_the_store_unfit_for_a_report(
    tmp_path: Path, exports: list[Path]
) -> None:
    store = tmp_path / "store"
    write_store(store, load(exports[0]))
    stray_dir = store / "events" / "event_date=2026-07-01"
    pl.read_parquet(next(stray_dir.glob("*.parquet"))).write_parquet(stray_dir / "part-0000000000000000.parquet")
    assert any("not in the ledger" in p for p in reconcile(store))
    with pytest.raises(StoreError, match="the ledger does not reconcile"):
        from auditreports.pipeline import prepare_inputs

        prepare_inputs(store, period="2026-Q3")


def test_a_read_only_store_is_one_sentence_not_a_traceback(tmp_path: Path, exports: list[Path]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    store = tmp_path / "store"
    write_store(store, load(exports[0]))
    store.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="cannot write to the store"):
            write_store(store, load(exports[1]))
    finally:
        store.chmod(0o755)


def test_a_store_under_a_file_is_one_sentence_not_a_traceback(tmp_path: Path, exports: list[Path]) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(StoreError, match="cannot create the store directory"):
        write_store(tmp_path / "afile" / "store", load(exports[0]))


def test_the_lock_is_reentrant_within_one_thread_and_excludes_others(tmp_path: Path, exports: list[Path]) -> None:
    store = tmp_path / "store"
    done = []
    store.mkdir()
    errors: list[str] = []

    def other_thread() -> None:
        try:
            with store_lock(store, timeout=0):
                done.append(True)
        except StoreError as exc:
            errors.append(exc.message)

    with store_lock(store):
        write_store(store, load(exports[0]))  # would deadlock if the lock were not re-entrant
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
    assert not done and "the store is being written by process" in errors[0]  # another thread is another writer
    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert done and open_store(store).events.collect().height == 400


def test_a_store_path_holding_name_value_pieces_is_read_as_a_path(tmp_path: Path, exports: list[Path], capsys) -> None:
    """Polars' hive parsing once read `team=audit` in the store's own path as a column (verify/detect crashed)."""
    from auditreports.cli import main

    store = tmp_path / "team=audit" / "year=2026" / "store"
    assert main(["ingest", str(exports[0]), "--store", str(store)]) == 0
    assert open_store(store).events.collect().height == 400
    for command in (["verify", "--store", str(store), "--json"], ["detect", "--store", str(store), "--json"]):
        capsys.readouterr()
        code = main(command)
        out, err = capsys.readouterr()
        assert code in (0, 1, 3), err
        assert "Traceback" not in err
        json.loads(out)
    assert main(["search", "--store", str(store), "--conversation-id", "nope", "--json"]) == 0
