"""Read a settings YAML file strictly: UTF-8 only, no duplicate keys, no aliases, line numbers kept.

PyYAML's ``safe_load`` keeps the last of two equal keys without a word, expands aliases
(a few hundred bytes of nested aliases expand to gigabytes) and decodes whatever bytes it
is given. A settings file decides what an audit reports, so none of that is acceptable:
:func:`read_yaml_mapping` refuses each with one :class:`ConfigError` naming the file and
line, and returns the data with the line of every key (for error messages).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["KeyLines", "read_yaml_mapping"]

# (section, key, …) -> line number (1-based) of that key in the file
KeyLines = dict[tuple[str, ...], int]

_MAX_BYTES = 1 << 20  # a settings file is a page of YAML; a megabyte is already absurd
_MAX_DEPTH = 20
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _StrictComposer(yaml.SafeLoader):
    """A safe loader that refuses anchors and aliases (the way alias bombs are built)."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            mark = event.start_mark
            raise _Refused(mark.line + 1, "uses a YAML anchor or alias (&name / *name); write the values out in full")
        return super().compose_node(parent, index)


class _Refused(Exception):
    def __init__(self, line: int, what: str) -> None:
        super().__init__(what)
        self.line = line
        self.what = what


def _decode(raw: bytes, file: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"settings file {file} is UTF-16 text; save it as UTF-8.", path=str(file))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"settings file {file} line {line} is not UTF-8 (byte 0x{raw[exc.start]:02x}); "
            "settings files must be UTF-8 — save it as UTF-8.",
            path=str(file),
        ) from None


def _build(node: yaml.Node, loader: yaml.SafeLoader, path: tuple[str, ...], lines: KeyLines, file: Path) -> Any:
    if len(path) > _MAX_DEPTH:
        raise _Refused(node.start_mark.line + 1, f"nests deeper than {_MAX_DEPTH} levels")
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
        raise _Refused(node.start_mark.line + 1, f"uses the YAML tag {node.tag!r}; settings are plain YAML")
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refused(key_node.start_mark.line + 1, "uses a YAML merge key (<<); write the keys out in full")
            key = _build(key_node, loader, path, lines, file)
            if isinstance(key, list | dict):
                raise _Refused(key_node.start_mark.line + 1, "uses a list or mapping as a key")
            here = (*path, str(key))
            line = key_node.start_mark.line + 1
            if key in out:
                where = ".".join(here)
                raise _Refused(
                    line,
                    f"repeats the key {where!r} (first at line {lines.get(here, '?')}); "
                    "a key or section may appear only once — merge the two",
                )
            lines[here] = line
            out[key] = _build(value_node, loader, here, lines, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, loader, (*path, str(i)), lines, file) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def read_yaml_mapping(file: Path, *, what: str = "settings file") -> tuple[dict[str, Any], KeyLines]:
    """The YAML mapping in ``file`` and the line of each key; every problem is one ConfigError."""
    try:
        if file.is_dir():
            raise ConfigError(f"{what} {file} is a directory; give the YAML file.", path=str(file))
        with file.open("rb") as handle:
            raw = handle.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {file}: {exc.strerror}; check the path.", path=str(file)) from None
    if len(raw) > _MAX_BYTES:
        raise ConfigError(f"{what} {file} is larger than 1 MB; a settings file is a page of YAML.", path=str(file))
    text = _decode(raw, file)
    loader = _StrictComposer(text)
    lines: KeyLines = {}
    try:
        node = loader.get_single_node()
        data = None if node is None else _build(node, loader, (), lines, file)
    except _Refused as exc:
        raise ConfigError(f"{what} {file} line {exc.line} {exc.what}.", path=str(file), line=exc.line) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ConfigError(f"{what} {file}{line} is not valid YAML ({problem}); fix it.", path=str(file)) from None
    except RecursionError:
        raise ConfigError(f"{what} {file} nests too deeply to be a settings file.", path=str(file)) from None
    finally:
        loader.dispose()
    if data is None:
        return {}, lines
    if not isinstance(data, dict):
        raise ConfigError(
            f"{what} {file} must be a mapping of sections (organisation, integrity, detection, report, fetch), "
            f"not a {type(data).__name__}.",
            path=str(file),
        )
    return data, lines
