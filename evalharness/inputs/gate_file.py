"""Reading a gate file (``configs/gate.yaml``): YAML with line numbers, checked against
:class:`~evalharness.records.gate.GateFile`."""

from __future__ import annotations

from pathlib import Path

from ..records.errors import ConfigError
from ..records.gate import GateFile
from .yamlfile import load_yaml, parse_model

__all__ = ["load_gate"]


def load_gate(path: Path | str) -> GateFile:
    """Read and check a gate file; errors name the file, line and field (exit 2)."""
    doc = load_yaml(Path(path), ConfigError)
    if doc.data is None:
        raise ConfigError("the gate file is empty", file=str(path), line=1,
                          fix="see configs/gate.yaml for an example")
    gate = parse_model(GateFile, doc, ConfigError, fix="see docs/ci-gate.md for the gate file format")
    assert isinstance(gate, GateFile)
    gate._source = doc
    return gate
