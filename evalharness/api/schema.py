"""The JSON Schema of eval configs and the config reference (``docs/config-reference.md``) made
from it, with every registered decider kind — a plugin's too — in ``deciders:``.

Field descriptions come from the docstrings under each field of the config models
(:mod:`evalharness.inputs.config` and each kind's options model), so the reference,
``evalharness schema`` and editor completion say the same thing. A test fails when the committed
reference is out of date (regenerate it with ``evalharness schema --markdown``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Union

from pydantic import Field, create_model

from ..deciders.registry import decider_kind, decider_kinds
from ..inputs.config import RunConfig

__all__ = ["config_json_schema", "config_reference_markdown"]


def config_json_schema() -> dict[str, Any]:
    """JSON Schema of the config format: :class:`RunConfig` with ``deciders`` items one of the
    registered kinds' options models, told apart by ``kind``."""
    options = tuple(decider_kind(k).options for k in decider_kinds())
    entry = Annotated[Union[options], Field(discriminator="kind")]  # type: ignore[valid-type]
    field = RunConfig.model_fields["deciders"]
    typed = create_model("RunConfig", __base__=RunConfig, __doc__=RunConfig.__doc__,
                         deciders=(list[entry], Field(min_length=1,  # type: ignore[valid-type]
                                                      description=field.description)))
    return typed.model_json_schema()

_HEADER = """# Config reference

Generated from the JSON Schema of eval configs by `evalharness schema --markdown`; do not edit by
hand. `evalharness schema` prints the JSON Schema itself (point your editor's YAML language server
at it for completion). Unknown keys are errors. Relative paths are resolved against the config
file's folder.
"""


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return f"[{prop['$ref'].rsplit('/', 1)[-1]}](#{prop['$ref'].rsplit('/', 1)[-1].lower()})"
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    if "enum" in prop:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in prop["enum"])
    for key in ("anyOf", "oneOf"):
        if key in prop:
            return " or ".join(_type(p) for p in prop[key])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object" and "additionalProperties" in prop and isinstance(prop["additionalProperties"], dict):
        return f"map of {_type(prop['additionalProperties'])}"
    return str(kind)


def _default(prop: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" in prop:
        return f"`{json.dumps(prop['default'])}`"
    return ""


def _table(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"## {name}", ""]
    if schema.get("description"):
        lines += [" ".join(schema["description"].split()), ""]
    lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
    required = set(schema.get("required", []))
    for key, prop in schema.get("properties", {}).items():
        description = " ".join(prop.get("description", "").split()).replace("|", "\\|")
        lines.append(f"| `{key}` | {_type(prop)} | {_default(prop, key in required)} | {description} |")
    return lines + [""]


def config_reference_markdown() -> str:
    """The whole reference: the top-level config, then every nested block."""
    schema = config_json_schema()
    lines = [_HEADER, *_table("RunConfig", schema)]
    for name, sub in sorted(schema.get("$defs", {}).items()):
        lines += _table(name, sub)
    return "\n".join(lines).rstrip() + "\n"
