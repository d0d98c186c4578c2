"""YAML that remembers where each value came from.

Rule and framework errors must point at ``file:line`` so an analyst can fix the
file without guessing; plain ``yaml.safe_load`` forgets positions, so this loader
builds mappings and lists that carry the 1-based line of every key and item.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

__all__ = ["LineDict", "LineList", "line_of", "load_yaml"]


class LineDict(dict[str, Any]):
    """A mapping read from YAML: ``line`` is where it starts, ``key_lines[k]`` where key ``k`` is."""

    line: int | None = None
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int | None:
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A sequence read from YAML: ``line`` is where it starts, ``item_lines[i]`` where item ``i`` is."""

    line: int | None = None
    item_lines: list[int]


def line_of(value: Any, key: str | int | None = None) -> int | None:
    """The line of ``value`` (or of its key/item ``key``) when it was read from YAML, else None."""
    if isinstance(value, LineDict):
        return value.line if key is None else value.key_lines.get(str(key), value.line)
    if isinstance(value, LineList):
        if isinstance(key, int) and 0 <= key < len(value.item_lines):
            return value.item_lines[key]
        return value.line
    return None


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences record line numbers."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        key_text = str(key)
        if key_text in result:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key_text!r}", key_node.start_mark)
        result[key_text] = loader.construct_object(value_node, deep=True)
        result.key_lines[key_text] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file with line numbers; a syntax error is a ConfigError naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}; check the path.", path=str(path)) from exc
    try:
        return yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(
            f"{path}:{line}: not valid YAML ({exc.problem or exc.context}); fix the syntax.",
            path=str(path),
            line=line,
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}); fix the syntax.", path=str(path)) from exc
