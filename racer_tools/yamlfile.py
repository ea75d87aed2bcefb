"""YAML files read with the line of every key, so problems can point at it.

conda-project reads its files as YAML 1.2, where `yes`, `on` and `off` are
text and `0755` is the number 755. PyYAML speaks YAML 1.1, so the loader
here swaps in the 1.2 rules for plain scalars; a variable written `DEBUG: on`
then means the same to racer as to conda-project.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

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


class HasProblems:
    """Splits a `problems` list into errors and warnings."""

    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


@dataclass
class YamlDocument:
    """A parsed YAML file and the line where each key path starts."""

    name: str
    data: object
    lines: dict[str, int] = field(default_factory=dict)
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    text_lines: list[str] = field(default_factory=list)

    def line(self, key: str) -> int | None:
        return self.lines.get(key)

    def problem(self, message: str, key: str | None = None, **kw) -> Problem:
        return Problem(self.name, message, key, self.line(key) if key else None, **kw)


def key_path(parent: str, child: str | int) -> str:
    if isinstance(child, int):
        return f"{parent}[{child}]"
    return f"{parent}.{child}" if parent else str(child)


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's rules for plain scalars."""

    yaml_implicit_resolvers: ClassVar[dict] = {}

    def construct_yaml12_int(self, node) -> int:
        text = self.construct_scalar(node).replace("_", "")
        sign, digits = (-1, text[1:]) if text[0] == "-" else (1, text.lstrip("+"))
        bases = {"0b": 2, "0o": 8, "0x": 16}
        base = bases.get(digits[:2].lower())
        # Unlike YAML 1.1, a leading zero alone does not make an octal number.
        return sign * (int(digits[2:], base) if base else int(digits, 10))

    def construct_yaml12_float(self, node) -> float:
        text = self.construct_scalar(node).replace("_", "").lower()
        return float(text.replace(".inf", "inf").replace(".nan", "nan"))


YAML12_FLOAT = (
    r"[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
    r"|[-+]?\.[0-9_]+(?:[eE][-+][0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
YAML12_INT = r"[-+]?0b[01_]+|[-+]?0o?[0-7_]+|[-+]?[0-9_]+|[-+]?0x[0-9a-fA-F_]+"

# Tag, pattern of the whole scalar, the characters such a scalar starts with.
_YAML12_SCALARS = (
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("float", YAML12_FLOAT, "-+0123456789."),
    ("int", YAML12_INT, "-+0123456789"),
    ("null", r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    ("merge", r"<<", "<"),
)

for _tag, _pattern, _first in _YAML12_SCALARS:
    Yaml12Loader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_tag}", re.compile(f"^(?:{_pattern})$"), list(_first)
    )
Yaml12Loader.add_constructor("tag:yaml.org,2002:int", Yaml12Loader.construct_yaml12_int)
Yaml12Loader.add_constructor(
    "tag:yaml.org,2002:float", Yaml12Loader.construct_yaml12_float
)


def _record_lines(node: yaml.Node, path: str, doc: YamlDocument) -> None:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            child = key_path(path, str(key_node.value))
            line = key_node.start_mark.line + 1
            if child in seen:
                doc.duplicates.append((child, line))
                continue
            seen.add(child)
            doc.lines[child] = line
            _record_lines(value_node, child, doc)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, key_path(path, index), doc)


# Aliases let a small file stand for billions of values ("billion laughs");
# no project file needs more than this many once aliases are expanded.
MAX_VALUES = 100_000


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values the node stands for with aliases expanded; linear time."""
    if id(node) not in sizes:
        sizes[id(node)] = 0  # a cycle counts once
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        sizes[id(node)] = 1 + sum(_expanded_size(c, sizes) for c in children)
    return sizes[id(node)]


def _parse(text: str) -> tuple[yaml.Node | None, object]:
    loader = Yaml12Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node, {}) > MAX_VALUES:
            raise yaml.YAMLError(
                f"more than {MAX_VALUES} values once its aliases are expanded"
            )
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data


def read_yaml(path: Path, name: str) -> tuple[YamlDocument | None, Problem | None]:
    """Parse one YAML file; a syntax error comes back as a Problem with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, Problem(name, f"cannot read the file: {exc}")
    try:
        node, data = _parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark else None
        return None, Problem(name, f"not valid YAML: {reason}", line=line)
    doc = YamlDocument(name, data, text_lines=text.splitlines())
    if node is not None:
        _record_lines(node, "", doc)
    return doc, None


def duplicate_key_problems(doc: YamlDocument) -> list[Problem]:
    """conda-project refuses a mapping that repeats a key; PyYAML keeps the last."""
    return [
        Problem(
            doc.name, f"the key '{key.rsplit('.', 1)[-1]}' appears twice", key, line
        )
        for key, line in doc.duplicates
    ]
