"""The ``sources:`` settings section: where an organisation keeps its own field maps.

```yaml
sources:
  maps_dirs: [field-maps, /etc/auditreports/maps]   # relative to the settings file
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError

__all__ = ["SourcesSettings"]


@dataclass(frozen=True)
class SourcesSettings:
    """``maps_dirs``: directories of organisation field maps loaded by ``ingest`` (like ``--maps``)."""

    maps_dirs: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> SourcesSettings:
        if not data:
            return cls()
        unknown = sorted(set(data) - {"maps_dirs"})
        if unknown:
            raise ConfigError(
                f"unknown sources setting(s) {', '.join(unknown)}; the sources section knows maps_dirs",
                keys=unknown,
            )
        dirs = data.get("maps_dirs") or []
        if isinstance(dirs, str):
            dirs = [dirs]
        if not isinstance(dirs, list) or not all(isinstance(d, str) and d for d in dirs):
            raise ConfigError("sources.maps_dirs must be a list of directory paths; fix the settings file.")
        return cls(maps_dirs=tuple(dirs))
