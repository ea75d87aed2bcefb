"""YAML files read with the line of every key, so problems can point at it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass
class Problem:
    """One thing wrong (or suspicious) in a project file."""

    file: str
    message: str
    key: str | None = None
    line: int | None = None
    severity: str = "error"

    def to_json(self) -> dict:
        doc = {"severity": self.severity, "file": self.file, "message": self.message}
        if self.key is not None:
            doc["key"] = self.key
        if self.line is not None:
            doc["line"] = self.line
        return doc

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        key = f" ({self.key})" if self.key else ""
        return f"{where}{key}: {self.message}"


@dataclass
class YamlDocument:
    """A parsed YAML file and the line where each key path starts."""

    name: str
    data: object
    lines: dict[str, int] = field(default_factory=dict)

    def line(self, key: str) -> int | None:
        return self.lines.get(key)

    def problem(self, message: str, key: str | None = None, **kw) -> Problem:
        return Problem(self.name, message, key, self.line(key) if key else None, **kw)


def key_path(parent: str, child: str | int) -> str:
    if isinstance(child, int):
        return f"{parent}[{child}]"
    return f"{parent}.{child}" if parent else str(child)


def _record_lines(node: yaml.Node, path: str, lines: dict[str, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = key_path(path, str(key_node.value))
            lines[child] = key_node.start_mark.line + 1
            _record_lines(value_node, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, key_path(path, index), lines)


def read_yaml(path: Path, name: str) -> tuple[YamlDocument | None, Problem | None]:
    """Parse one YAML file; a syntax error comes back as a Problem with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, Problem(name, f"cannot read the file: {exc}")
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark else None
        return None, Problem(name, f"not valid YAML: {reason}", line=line)
    lines: dict[str, int] = {}
    if node is not None:
        _record_lines(node, "", lines)
    return YamlDocument(name, data, lines), None
