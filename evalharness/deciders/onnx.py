"""``kind: onnx``: a classifier exported to ONNX whose input is a string tensor of texts (as
skl2onnx exports TF-IDF pipelines), run with onnxruntime on the CPU.

Lowercasing in such graphs is a ``StringNormalizer`` node, which onnxruntime builds with a C++
locale: the node's ``locale`` attribute, or ``en_US.UTF-8`` when it has none (skl2onnx sets none).
Machines without that locale (minimal containers have only ``C``, ``C.UTF-8`` and ``POSIX``) fail
to create the session. Then this kind rewrites the attribute in memory (with the ``onnx``
package; the file is not changed) to ``C.UTF-8``, which lowercases non-ASCII letters too (plain
``C`` lowercases ASCII only), and records the change in the manifest.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import field_validator

from ..inputs.config import RunConfig, file_sha256
from ..inputs.policies import Policy
from ..records import GoldenItem
from .base import Decider
from .registry import decider
from .scored import ModelFileOptions, ScoringDecider, check_scored, model_file, outputs_from_array

__all__ = ["OnnxDecider", "OnnxOptions", "DEFAULT_LOCALE", "FALLBACK_LOCALES"]

DEFAULT_LOCALE = "en_US.UTF-8"
"""The locale onnxruntime gives a StringNormalizer without a ``locale`` attribute (Linux)."""
FALLBACK_LOCALES = ("C.UTF-8", "C.utf8")
"""Tried in this order when the model's locale is missing; both lowercase Unicode letters."""
_CLASS_LABELS = ("classlabels_strings", "classlabels_int64s", "classlabels_ints")


class OnnxOptions(ModelFileOptions):
    """An ONNX classifier that takes a string tensor of texts."""

    kind: Literal["onnx"]
    input: str | None = None
    """The model input that takes the texts (default: the model's only input)."""
    output: str | None = None
    """The output holding probabilities (default: the one that is a ZipMap list of dicts, else
    the float tensor of shape [n, classes])."""
    classes: list[str] | None = None
    """Class names of a float tensor output's columns (default: the class labels of the graph's
    classifier node)."""
    locale: str | None = None
    """Locale for the graph's StringNormalizer (lowercasing) nodes. Default: the model's own if
    this machine has it, else C.UTF-8 (rewritten in memory; needs the onnx package)."""

    @field_validator("classes", mode="before")
    @classmethod
    def _column_names(cls, value: Any) -> Any:  # not _class_names: that would replace labels'
        return [str(v) for v in value] if isinstance(value, list) else value


def _graphs(graph: Any) -> Iterator[Any]:
    """A graph and every subgraph of its nodes (If / Loop bodies), depth first."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.g.node:
                yield from _graphs(attr.g)
            for sub in attr.graphs:
                yield from _graphs(sub)


@functools.cache
def _locale_works(name: str) -> bool:
    """Whether onnxruntime can build a StringNormalizer with this locale on this machine."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    node = helper.make_node("StringNormalizer", ["x"], ["y"], case_change_action="LOWER", locale=name)
    io = [helper.make_tensor_value_info(n, TensorProto.STRING, [None]) for n in ("x", "y")]
    probe = helper.make_model(helper.make_graph([node], "probe", io[:1], io[1:]),
                              opset_imports=[helper.make_opsetid("", 10)], ir_version=8)
    try:
        ort.InferenceSession(probe.SerializeToString(), _quiet(), providers=["CPUExecutionProvider"])
    except Exception:  # onnxruntime raises its own Fail type for a missing locale
        return False
    return True


def _quiet() -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # failures come back as exceptions; keep stderr clean
    return options


class OnnxDecider(ScoringDecider):
    """Runs an ONNX text classifier with onnxruntime's CPUExecutionProvider."""

    kind = "onnx"

    def __init__(self, options: OnnxOptions, run_config: RunConfig) -> None:
        super().__init__(options, run_config)
        self.options: OnnxOptions = options
        self.path: Path | None = None
        self.session: Any = None
        self.input_name = ""
        self.input_rank = 1
        self.output_name = ""
        self.zipmap = False
        self.classes: list[str] = []
        self.locales: list[dict[str, str]] = []

    def check(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        check_scored(self.options, policies, self.run_config)
        self.path = model_file(self.options, self.run_config)
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise self.problem("kind: onnx needs onnxruntime", "kind",
                               fix="pip install onnxruntime (part of evalharness[local])") from None

    def setup(self, policies: Sequence[Policy], items: Sequence[GoldenItem]) -> None:
        import onnxruntime as ort

        assert self.path is not None, "check() runs before setup()"
        data, graph_classes = self._model_bytes()
        try:
            self.session = ort.InferenceSession(data, _quiet(), providers=["CPUExecutionProvider"])
        except Exception as exc:  # a file onnxruntime cannot run is bad input
            message = str(exc).splitlines()[0][-300:]
            fix = ("pip install onnx, so evalharness can set a locale this machine has, or "
                   "install the locale") if "locale" in message else "check the file is an ONNX model"
            raise self.problem(f"onnxruntime cannot load {self.path.name}: {message}", "path",
                               fix=fix) from None
        self._pick_input()
        self._pick_output()
        if self.zipmap:
            first = self.session.run([self.output_name], {self.input_name: self._tensor([""])})[0]
            self.classes = [str(k) for k in first[0]]
        else:
            classes = self.options.classes or graph_classes
            width = self.session.get_outputs()[self._output_index()].shape[-1]
            if not classes:
                raise self.problem(f"output {self.output_name!r} is a tensor whose columns the "
                                   "graph does not name", "classes",
                                   fix="name its columns with classes: [...]")
            if isinstance(width, int) and width != len(classes):
                raise self.problem(f"output {self.output_name!r} has {width} columns but "
                                   f"classes names {len(classes)}", "classes",
                                   fix="give one class name per column")
            self.classes = list(classes)
        check_scored(self.options, policies, self.run_config, self.classes)

    def _model_bytes(self) -> tuple[bytes, list[str]]:
        """The model, its StringNormalizer locales set to ones this machine has, and the class
        labels its graph names (empty without the onnx package)."""
        assert self.path is not None
        data = self.path.read_bytes()
        try:
            import onnx
        except ImportError:
            return data, []
        model = onnx.load_from_string(data)
        classes: list[str] = []
        rewritten = False
        for graph in _graphs(model.graph):
            for node in graph.node:
                if not classes and node.domain == "ai.onnx.ml":
                    for attr in node.attribute:
                        if attr.name in _CLASS_LABELS and (attr.strings or attr.ints):
                            classes = [v.decode() if isinstance(v, bytes) else str(v)
                                       for v in (attr.strings or attr.ints)]
                if node.op_type == "StringNormalizer":
                    rewritten |= self._set_locale(node)
        return (model.SerializeToString() if rewritten else data), classes

    def _set_locale(self, node: Any) -> bool:
        from onnx import helper

        attrs = {a.name: a for a in node.attribute}
        own = attrs["locale"].s.decode() if "locale" in attrs else None
        wanted = self.options.locale or own or DEFAULT_LOCALE
        why = "set by locale:" if self.options.locale else "the model's own"
        if _locale_works(wanted):
            chosen = wanted
        elif self.options.locale:
            raise self.problem(f"locale {wanted!r} is not installed on this machine", "locale",
                               fix=f"use one it has (e.g. {FALLBACK_LOCALES[0]}), or remove locale:")
        else:
            chosen = next((n for n in FALLBACK_LOCALES if _locale_works(n)), "")
            if not chosen:
                raise self.problem(
                    f"the model lowercases text with locale {wanted}, and this machine has "
                    f"neither it nor {' / '.join(FALLBACK_LOCALES)}", "locale",
                    fix="install the locale (e.g. locale-gen en_US.UTF-8), or set locale: C "
                        "(lowercases ASCII letters only)")
            why = f"{wanted} is not installed on this machine; set in memory, the file is unchanged"
        self.locales.append({"node": node.name or "StringNormalizer",
                             "model": own or f"none (onnxruntime's default: {DEFAULT_LOCALE})",
                             "used": chosen, "why": why})
        if chosen == own or (own is None and chosen == DEFAULT_LOCALE):
            return False
        if "locale" in attrs:
            node.attribute.remove(attrs["locale"])
        node.attribute.append(helper.make_attribute("locale", chosen))
        return True

    def _pick_input(self) -> None:
        inputs = self.session.get_inputs()
        names = [i.name for i in inputs]
        if self.options.input is None and len(inputs) != 1:
            raise self.problem(f"the model has inputs {names}", "input", fix="name the text input with input:")
        name = self.options.input or names[0]
        if name not in names:
            raise self.problem(f"the model has no input {name!r} (inputs: {names})", "input",
                               fix=f"use one of {names}")
        found = inputs[names.index(name)]
        if found.type != "tensor(string)":
            raise self.problem(f"input {name!r} takes {found.type}, not texts (tensor(string))",
                               "input", fix="export the model with a string input (skl2onnx: "
                               "initial_types=[('text', StringTensorType([None, 1]))])")
        self.input_name, self.input_rank = name, max(len(found.shape or [None]), 1)

    def _output_index(self) -> int:
        return [o.name for o in self.session.get_outputs()].index(self.output_name)

    def _pick_output(self) -> None:
        outputs = self.session.get_outputs()
        names = [o.name for o in outputs]
        if self.options.output is not None:
            if self.options.output not in names:
                raise self.problem(f"the model has no output {self.options.output!r} (outputs: "
                                   f"{names})", "output", fix=f"use one of {names}")
            chosen = outputs[names.index(self.options.output)]
        else:
            maps = [o for o in outputs if o.type.startswith("seq(map(")]
            tensors = [o for o in outputs if o.type in ("tensor(float)", "tensor(double)")
                       and len(o.shape or []) == 2]
            candidates = maps or sorted(tensors, key=lambda o: "prob" not in o.name.lower())
            if not candidates:
                raise self.problem(f"no output holds probabilities (outputs: "
                                   f"{[(o.name, o.type) for o in outputs]})", "output",
                                   fix="name the probability output with output:")
            chosen = candidates[0]
        if not (chosen.type.startswith("seq(map(") or chosen.type.startswith("tensor(")):
            raise self.problem(f"output {chosen.name!r} is {chosen.type}", "output",
                               fix="choose a ZipMap (list of dicts) or float tensor output")
        self.output_name, self.zipmap = chosen.name, chosen.type.startswith("seq(map(")

    def _tensor(self, texts: list[str]) -> Any:
        import numpy as np

        array = np.array(texts, dtype=object)
        return array.reshape(-1, 1) if self.input_rank == 2 else array

    def predict(self, texts: list[str]) -> list[Any]:
        out = self.session.run([self.output_name], {self.input_name: self._tensor(texts)})[0]
        if self.zipmap:
            return [{str(k): v for k, v in row.items()} if isinstance(row, Mapping) else row
                    for row in out]
        return outputs_from_array(out, self.classes)

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "runtime": "onnxruntime/CPUExecutionProvider",
            "model": str(self.path), "sha256": file_sha256(self.path) if self.path else None,
            "input": self.input_name, "output": self.output_name, "classes": self.classes,
            "labels": self.options.labels, "threshold": self.options.threshold,
            "batch_size": self.options.batch_size,
            "string_normalizer_locales": self.locales,
            "note": "; ".join(
                f"the StringNormalizer node {loc['node']!r} lowercases with locale {loc['used']} "
                f"({loc['why']})" for loc in self.locales if loc["why"] != "the model's own") or None,
        }


@decider("onnx", options=OnnxOptions)
def _make(options: OnnxOptions, run_config: RunConfig) -> Decider:
    return OnnxDecider(options, run_config)
