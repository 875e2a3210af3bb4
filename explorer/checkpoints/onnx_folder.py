"""An ONNX model folder opened on ONNX Runtime, after checks that run nothing from it.

Before a session is made, each graph is read with `onnx.load(load_external_data=False)` and:

- it must parse (a truncated file or another format is refused, naming the file);
- its operators must come from the standard domains: a custom operator library is never
  registered, so a graph that needs one is refused here rather than half-loaded;
- every external-data reference must name a file inside the folder that holds the bytes it
  declares (absolute paths, '..' and symlinks out of the folder are refused);
- the declared sizes of all its weights are checked against the memory budget
  (core/limits.check_declared) before ONNX Runtime reads any;
- its inputs and outputs must be the ones model.json names, of the declared shapes.

An opset this ONNX Runtime cannot run is found by ONNX Runtime itself when the session is made
(it knows its own limit), and said with the opset the graph declares.

Sessions use the CUDA provider when ONNX Runtime has it, else the CPU, with as many intra-op
threads as torch has in this process (the app's server sets one, so a slider move runs on one).
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from explorer.checkpoints.external import ExternalModelError, ExternalSpec, Graph
from explorer.checkpoints.paths import is_inside
from explorer.core.limits import MEMORY_BUDGET_BYTES, check_declared

MAX_GRAPH_BYTES = MEMORY_BUDGET_BYTES  # a graph file's own bytes (weights held inside it included)
STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml"}
ELEMENT_BYTES = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}
FLOAT, INT64 = 1, 7  # onnx.TensorProto's element types


def read_graph(folder: Path, graph: Graph):
    """The graph's ModelProto, its external data checked but not loaded."""
    import onnx

    file = folder / graph.file
    if not file.is_file() or not is_inside(file, folder):
        raise ExternalModelError(f"{file} is missing (or a link out of the folder); model.json names it")
    check_declared(file.stat().st_size, None, str(file), budget=MAX_GRAPH_BYTES, error=ExternalModelError)
    try:
        proto = onnx.load(str(file), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends: any failure to parse is the file's
        raise ExternalModelError(f"{file} is not an ONNX model, or it is truncated ({type(e).__name__}: {e}); "
                                 "export it again") from e
    if not proto.graph.output:
        raise ExternalModelError(f"{file} is not an ONNX model, or it is truncated (it has no graph outputs); "
                                 "export it again")
    _check_ops(file, proto)
    _check_weights(file, folder, proto)
    return proto


def _check_ops(file: Path, proto) -> None:
    for imp in proto.opset_import:
        if imp.domain not in STANDARD_DOMAINS:
            raise ExternalModelError(f"{file} uses operators of domain {imp.domain!r}, which need a custom operator "
                                     "library; those are never loaded: export with standard operators only")
    odd = sorted({n.domain for n in proto.graph.node} - STANDARD_DOMAINS)
    if odd:
        raise ExternalModelError(f"{file} has nodes of domain {odd[0]!r}, which need a custom operator library; "
                                 "those are never loaded: export with standard operators only")


def _check_weights(file: Path, folder: Path, proto) -> None:
    """Every weight's declared size against the budget; external data inside the folder and there."""
    total = 0
    for t in proto.graph.initializer:
        nbytes = math.prod(int(d) for d in t.dims) * ELEMENT_BYTES.get(t.data_type, 8)
        total += nbytes
        check_declared(total, None, f"{file} (its weights)", error=ExternalModelError)
        if t.data_location == 1:  # onnx.TensorProto.EXTERNAL
            _check_external(file, folder, t.name, {e.key: e.value for e in t.external_data}, nbytes)


def _check_external(file: Path, folder: Path, name: str, info: dict[str, str], nbytes: int) -> None:
    location = info.get("location", "")
    target = folder / location
    if not location or os.path.isabs(location) or ".." in Path(location).parts or not is_inside(target, folder):
        raise ExternalModelError(f"{file}: weight {name!r} points to external data {location!r}, outside the "
                                 "model folder; refused: keep the data files beside the graph")
    if not target.is_file():
        raise ExternalModelError(f"{file}: weight {name!r} needs the external data file {target}, which is missing")
    offset = int(info.get("offset", 0) or 0)
    length = int(info.get("length", nbytes) or nbytes)
    check_declared(max(nbytes, length), target.stat().st_size - offset, f"{target} (weight {name!r})",
                   error=ExternalModelError)


def _dims(value_info) -> list[int | None]:
    """A graph input's or output's dimensions; None where symbolic (a batch size)."""
    return [d.dim_value if d.HasField("dim_value") else None for d in value_info.type.tensor_type.shape.dim]


def check_io(file: Path, proto, graph: Graph, expected: dict[str, tuple[tuple, int]]) -> None:
    """The graph's inputs and outputs are those model.json names, with the declared shapes and types.
    `expected`: role -> (shape with None for the batch, element type)."""
    tensors = {v.name: v for v in [*proto.graph.input, *proto.graph.output]}
    declared_inputs = {v.name for v in proto.graph.input} - {t.name for t in proto.graph.initializer}
    for role, name in [*graph.inputs.items(), *graph.outputs.items()]:
        if name not in tensors:
            raise ExternalModelError(f"{file} has no tensor {name!r} (model.json's {role!r}); its inputs are "
                                     f"{sorted(declared_inputs)}, its outputs {[v.name for v in proto.graph.output]}")
        shape, elem = expected[role]
        dims, got_elem = _dims(tensors[name]), tensors[name].type.tensor_type.elem_type
        fits = len(dims) == len(shape) and all(d is None or s is None or d == s for d, s in zip(dims, shape))
        if not fits or got_elem != elem:
            raise ExternalModelError(f"{file}: tensor {name!r} ({role}) is declared {dims} of element type "
                                     f"{got_elem}; model.json needs {list(shape)} of type {elem} "
                                     "(1 = float32, 7 = int64; None = any size)")
    extra = declared_inputs - set(graph.inputs.values())
    if extra:
        raise ExternalModelError(f"{file} takes inputs {sorted(extra)} that model.json does not name")


def expected_io(spec: ExternalSpec, role: str) -> dict[str, tuple[tuple, int]]:
    """What each named tensor of a role's graph must be: (shape, element type)."""
    k, d, image = len(spec.class_names), spec.latent_dim, (None, *spec.image_shape)
    labels = ((None,), INT64) if spec.labels == "index" else ((None, k), FLOAT)
    return {"images": (image, FLOAT), "codes": ((None, d), FLOAT), "labels": labels, "mu": ((None, d), FLOAT),
            "logvar": ((None, d), FLOAT), "logits": ((None, k), FLOAT)}


class OnnxBackend:
    """The folder's graphs on ONNX Runtime, run on numpy arrays."""

    def __init__(self, spec: ExternalSpec, sessions: dict):
        self.spec, self.sessions = spec, sessions

    def where(self, role: str) -> str:
        graph = self.spec.graphs.get(role)
        return str(self.spec.path / graph.file) if graph else str(self.spec.file)

    def _run(self, role: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The graph's outputs by role (model.json's keys: mu, logvar, images, logits)."""
        if role not in self.spec.graphs:
            raise ExternalModelError(f"{self.spec.file} describes a {self.spec.kind}, which has no {role} graph")
        graph = self.spec.graphs[role]
        named = {graph.inputs[r]: v for r, v in feeds.items() if v is not None}
        roles, outputs = list(graph.outputs), list(graph.outputs.values())
        try:
            return dict(zip(roles, self.sessions[role].run(outputs, named)))
        except Exception as e:  # onnxruntime's own exception types live in its C extension
            raise ExternalModelError(f"{self.where(role)} failed to run ({type(e).__name__}: {str(e)[:300]})") from e

    def _labels(self, labels: np.ndarray | None) -> np.ndarray | None:
        if labels is None or self.spec.labels == "index":
            return labels
        return np.eye(len(self.spec.class_names), dtype=np.float32)[labels]

    def encode(self, images, labels):
        out = self._run("encoder", {"images": images, "labels": self._labels(labels)})
        return out["mu"], out["logvar"]

    def decode(self, codes, labels):
        return self._run("decoder", {"codes": codes, "labels": self._labels(labels)})["images"]

    def classify(self, inputs):
        graph = self.spec.graphs["classifier"]
        return self._run("classifier", {next(iter(graph.inputs)): inputs})["logits"]


def _reason(e: Exception) -> str:
    """ONNX Runtime's message without its C++ source location."""
    text = str(e).strip()
    return text[text.rfind(") ") + 2:][:300] if ") " in text else text[:300]


def providers() -> list[str]:
    """CUDA when this ONNX Runtime has it, else the CPU."""
    import onnxruntime as ort

    have = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in have]


def open_folder(spec: ExternalSpec) -> OnnxBackend:
    """Check every graph (nothing is run), then open one session per graph."""
    import onnxruntime as ort
    import torch

    opsets = {}
    for role, graph in spec.graphs.items():
        proto = read_graph(spec.path, graph)
        check_io(spec.path / graph.file, proto, graph, expected_io(spec, role))
        opsets[role] = max((i.version for i in proto.opset_import if i.domain in ("", "ai.onnx")), default=0)
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    sessions = {}
    for role, graph in spec.graphs.items():
        file = spec.path / graph.file
        try:
            sessions[role] = ort.InferenceSession(str(file), sess_options=options, providers=providers())
        except Exception as e:  # onnxruntime's exception types live in its C extension
            raise ExternalModelError(f"{file} (opset {opsets[role]}) cannot be run by ONNX Runtime {ort.__version__}: "
                                     f"{_reason(e)}; export it again with standard operators and an opset it "
                                     "supports (17 is safe)") from e
    return OnnxBackend(spec, sessions)
