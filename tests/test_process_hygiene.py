"""The conftest check that no test leaves a process running sees real processes, orphans included."""

from __future__ import annotations

import subprocess
import sys
import time

from conftest import marked_processes


def test_a_process_a_test_starts_is_seen_until_it_is_stopped() -> None:
    # A grandchild whose parent exits at once: an orphan, no longer a child of pytest.
    launcher = subprocess.run(
        [
            sys.executable,
            "-c",
            "import subprocess; print(subprocess.Popen(['sleep', '300'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    orphan = int(launcher.stdout)
    try:
        assert orphan in marked_processes()
    finally:
        subprocess.run(["kill", "-9", str(orphan)], check=False)
    # Gone (or a zombie awaiting its reaper, which is not running). SIGKILL is delivered
    # asynchronously: on a loaded machine the process can still be listed for a moment.
    deadline = time.monotonic() + 30
    while orphan in marked_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert orphan not in marked_processes()
