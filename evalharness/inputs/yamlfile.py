"""Read YAML while remembering the line of every key, so errors can point at it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..records.errors import EvalHarnessError, Problem


@dataclass
class YamlDocument:
    """Parsed YAML plus a map from key path (``("deciders", 0, "kind")``) to its 1-based line."""

    path: Path
    data: Any
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def line_of(self, loc: Sequence[Any]) -> int | None:
        """The line of ``loc``, or of its nearest ancestor that has one."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)


def _walk(node: yaml.Node, loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int],
          duplicates: list[tuple[tuple[Any, ...], int, int]]) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                duplicates.append((loc + (key,), seen[key], line))
            seen.setdefault(key, line)
            lines[loc + (key,)] = line
            _walk(value_node, loc + (key,), lines, duplicates)
            lines[loc + (key,)] = line
    elif isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            _walk(child, loc + (i,), lines, duplicates)


def load_yaml(path: Path, error: type[EvalHarnessError]) -> YamlDocument:
    """Parse ``path``; raise ``error`` naming the file and line when it is not valid YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error("file not found", file=str(path), fix="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read: {exc}", file=str(path)) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise error(
            f"not valid YAML: {problem}", file=str(path), line=line, fix="fix the YAML syntax"
        ) from None
    lines: dict[tuple[Any, ...], int] = {}
    duplicates: list[tuple[tuple[Any, ...], int, int]] = []
    if node is not None:
        _walk(node, (), lines, duplicates)
    if duplicates:
        raise error(problems=[
            Problem(f"key repeated (first on line {first}); YAML would silently keep the last one",
                    file=str(path), line=again, field=".".join(map(str, loc)),
                    fix="keep one of them")
            for loc, first, again in duplicates
        ])
    return YamlDocument(path=path, data=data, lines=lines)


def validation_problems(
    exc: ValidationError, doc: YamlDocument, *, prefix: tuple[Any, ...] = ()
) -> list[Problem]:
    """Turn a pydantic error into one :class:`Problem` per failed field, with its line."""
    problems = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        field_name = ".".join(str(p) for p in loc) or None
        message, fix = _describe(err)
        problems.append(
            Problem(message, file=str(doc.path), line=doc.line_of(loc), field=field_name, fix=fix)
        )
    return problems


def _describe(err: dict[str, Any]) -> tuple[str, str | None]:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key", "remove it or check its spelling against `evalharness schema`"
    if kind == "missing" and err["loc"][-1:] == ("kind",):
        return "missing `kind`", "add `kind:` (llm, classic, embedding, human, ...; see docs/config-reference.md)"
    if kind == "missing":
        return "required key is missing", "add it"
    return err["msg"], None


def parse_model(
    model: type[BaseModel], doc: YamlDocument, error: type[EvalHarnessError]
) -> BaseModel:
    """Validate the document against ``model``; raise ``error`` with every problem."""
    if not isinstance(doc.data, dict):
        raise error(
            "expected a mapping of keys at the top level",
            file=str(doc.path),
            line=1,
            fix="see the examples in configs/ and policies/",
        )
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise error(problems=validation_problems(exc, doc)) from None
