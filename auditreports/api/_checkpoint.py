"""Resume points: where an interrupted fetch picks up again.

A checkpoint lives beside the store, ``STORE/fetch-checkpoints/<key>.json``, where
the key hashes the endpoint, the filters and the page size (so a different fetch
never resumes from it). It names the next page to request and the counts so far,
and is only written after the pages it covers are in the store. It is written
atomically (temp file, fsync, rename, fsync of the folder), so a kill -9 leaves
either the old or the new checkpoint, never half of one. It never holds the token.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import StoreError

__all__ = ["CHECKPOINT_DIR", "Checkpoint", "checkpoint_key"]

CHECKPOINT_DIR = "fetch-checkpoints"
VERSION = 1


def checkpoint_key(url: str, filters: dict[str, str | None], page_size: int, strategy: str) -> str:
    ident = json.dumps({"url": url, "filters": filters, "page_size": page_size, "strategy": strategy}, sort_keys=True)
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


class Checkpoint:
    """The checkpoint file of one fetch (identified by ``key``) in ``store``."""

    def __init__(self, store: Path, key: str) -> None:
        self.path = Path(store) / CHECKPOINT_DIR / f"{key}.json"
        self._tmp_prefix = f".{key}.tmp-"

    def load(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"the fetch checkpoint {self.path} is unreadable ({exc}); delete it to fetch from the start",
                path=str(self.path),
            ) from None
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise StoreError(
                f"the fetch checkpoint {self.path} is not one this version wrote; delete it to fetch from the start",
                path=str(self.path),
            )
        return data

    def save(self, state: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"version": VERSION, **state}, indent=1, sort_keys=True).encode()
        # ".partial", not ".json": nothing that lists checkpoints can take a half-written one for one.
        fd, tmp = tempfile.mkstemp(prefix=self._tmp_prefix, suffix=".partial", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.path.parent)

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        # a run killed while saving leaves its temp file behind; it never became the checkpoint
        for stale in self.path.parent.glob(f"{self._tmp_prefix}*"):
            with contextlib.suppress(OSError):
                stale.unlink()
        _fsync_dir(self.path.parent)
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()  # only when empty: other fetches may have checkpoints here


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
