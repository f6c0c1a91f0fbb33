"""Read YAML while remembering the line of every key, so errors can point at it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from ..records.errors import EvalHarnessError, Problem, did_you_mean
from .textfile import read_utf8


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
    text = read_utf8(path, error)
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


CONFIG_FIX = "see docs/config-reference.md for the allowed values"
"""The fix named for a value that breaks a rule of its field."""


def _model_named(title: str, base: type[BaseModel] = BaseModel) -> type[BaseModel] | None:
    """The model class a pydantic error's ``title`` names (searched among loaded subclasses)."""
    for sub in base.__subclasses__():
        if sub.__name__ == title:
            return sub
        found = _model_named(title, sub)
        if found is not None:
            return found
    return None


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside a field's type (``X | None``, ``list[X]``, ``dict[str, X]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in (Union, list, dict, tuple) or get_args(annotation):
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    return []


def allowed_keys(model: type[BaseModel] | None, loc: Sequence[Any]) -> list[str]:
    """The keys the mapping at ``loc`` (relative to ``model``) may hold; [] when unknown."""
    models = [model] if model is not None else []
    for part in loc:
        if isinstance(part, int) or not models:
            continue  # a list index (or a dict key's value) keeps the same models
        inner = [m for cls in models for name, f in cls.model_fields.items()
                 if part in (name, f.alias) for m in _models_in(f.annotation)]
        models = inner or [m for cls in models for f in cls.model_fields.values()
                           if get_origin(f.annotation) is dict for m in _models_in(f.annotation)]
    return sorted({f.alias or name for cls in models for name, f in cls.model_fields.items()})


def validation_problems(
    exc: ValidationError, doc: YamlDocument, *, prefix: tuple[Any, ...] = (),
    model: type[BaseModel] | None = None, fix: str = CONFIG_FIX,
) -> list[Problem]:
    """Turn a pydantic error into one :class:`Problem` per failed field, with its line; an
    unknown key gets the closest allowed key as a "did you mean"."""
    model = model or _model_named(exc.title)
    problems = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        message, hint = _describe(err, fix)
        key, colon, rest = message.partition(": ")
        if colon and loc + (key,) in doc.lines:  # a model check naming one of its keys first
            loc, message = loc + (key,), rest
        field_name = ".".join(str(p) for p in loc) or None
        if err["type"] == "extra_forbidden":
            close = did_you_mean(str(err["loc"][-1]), allowed_keys(model, err["loc"][:-1]))
            if close:
                hint = f"did you mean `{close}`? Or remove it"
        problems.append(
            Problem(message, file=str(doc.path), line=doc.line_of(loc), field=field_name, fix=hint)
        )
    return problems


def _describe(err: dict[str, Any], default_fix: str = CONFIG_FIX) -> tuple[str, str | None]:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key", "remove it or check its spelling against `evalharness schema`"
    if kind == "missing" and err["loc"][-1:] == ("kind",):
        return "missing `kind`", "add `kind:` (llm, classic, embedding, human, ...; see docs/config-reference.md)"
    if kind == "missing":
        return "required key is missing", "add it"
    message = err["msg"].removeprefix("Value error, ")
    return message, default_fix


def parse_model(
    model: type[BaseModel], doc: YamlDocument, error: type[EvalHarnessError], *,
    fix: str = CONFIG_FIX,
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
        raise error(problems=validation_problems(exc, doc, model=model, fix=fix)) from None
