"""A model from outside the app, made into a checkpoint like ours: its description (`model.json`)
and the adapter that gives it the verbs our models have.

Two sources fill the same description and the same adapter:

- an ONNX model folder (`onnx_folder.py`): encoder.onnx, decoder.onnx, optionally
  classifier.onnx, run on ONNX Runtime; nothing in the folder is ever run as Python;
- a PyTorch factory the user names (`factory.py`), e.g. ``EXPLORER_FACTORY=mypkg.models:load``.

`ExternalModel` is an `nn.Module` with `cfg`, `encode`, `decode`, `reparameterize` and
`classify`, so explorer/analysis runs it exactly as it runs our own models: every page, export
and CLI command takes it through the one code path. Every output is checked as it comes back:
its shape, finiteness, and (for probabilities) the declared value range.

    model.json
      format          "latent-explorer/external-1"
      source          "onnx" | "factory"
      factory         "package.module:function" (factory only; run only when the user names it)
      kind            vae | cvae | hybrid | classifier
      dataset         a dataset of the app's registry (its test set is what the pages show)
      class_names     one name per class
      image_shape     [C, H, W]
      value_range     [low, high]: the intensities the model takes and, for probabilities, gives
      latent_dim      size of the code (VAE kinds)
      decoder_output  "logits" (Bernoulli logits) | "probabilities" (in value_range)
      labels          "index" (int64 (N,)) | "onehot" (float32 (N, K)): how a cvae takes its class
      encoder         {"file", "inputs": {"images", ["labels"]}, "outputs": {"mu", "logvar"}}
      decoder         {"file", "inputs": {"codes", ["labels"]}, "outputs": {"images"}}
      classifier      {"file", "inputs": {"images"} or {"codes"}, "outputs": {"logits"}} (optional)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from explorer.checkpoints.layout import CONFIG_FILE, CheckpointError
from explorer.core.config import ConfigError, ModelConfig
from explorer.core.jsonfile import read_json
from explorer.core.kinds import KINDS

EXTERNAL_FILE = "model.json"
EXTERNAL_FORMAT = "latent-explorer/external-1"
SOURCES = ("onnx", "factory")
DECODER_OUTPUTS = ("logits", "probabilities")
LABEL_FORMS = ("index", "onehot")
# Which tensors each graph takes and gives, by role; labels only for a conditional model.
ROLES = {
    "encoder": ({"images", "labels"}, {"mu", "logvar"}),
    "decoder": ({"codes", "labels"}, {"images"}),
    "classifier": ({"images", "codes"}, {"logits"}),
}
RANGE_TOLERANCE = 1e-3  # probabilities a hair outside the range are rounding, not a broken model
PROBABILITY_FLOOR = 1e-6  # probabilities are clipped to [floor, 1 - floor] before taking logits


class ExternalModelError(CheckpointError):
    """A model from outside that cannot be used as described; the message names the file or factory."""


@dataclass(frozen=True)
class Graph:
    """One graph of an ONNX folder: its file and its tensors' names by role."""

    file: str
    inputs: dict[str, str]
    outputs: dict[str, str]


@dataclass(frozen=True)
class ExternalSpec:
    """What model.json says about an external model (checked, not yet run)."""

    path: Path                 # the folder
    source: str
    kind: str
    dataset: str
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int]
    value_range: tuple[float, float]
    latent_dim: int
    decoder_output: str = "logits"
    labels: str = "index"
    factory: str = ""
    graphs: dict[str, Graph] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        return self.path / EXTERNAL_FILE

    @property
    def origin(self) -> str:
        """Where the model came from, as the sidebar and the model card say it."""
        return f"PyTorch factory {self.factory}" if self.source == "factory" else f"ONNX folder {self.path}"

    def model_cfg(self) -> ModelConfig:
        try:
            return ModelConfig(kind=self.kind, image_shape=self.image_shape, num_classes=len(self.class_names),
                               latent_dim=self.latent_dim if KINDS[self.kind].is_vae else 16)
        except ConfigError as e:
            raise ExternalModelError(f"{self.file}: {e}") from e


def is_external_dir(path: Path) -> bool:
    """Whether `path` is an external model's folder: a model.json and no config.json. A folder
    with a config.json is one of ours, whatever else it holds; this is the one place that says so."""
    return path.is_dir() and (path / EXTERNAL_FILE).is_file() and not (path / CONFIG_FILE).exists()


def read_spec(path: Path) -> ExternalSpec:
    """model.json, checked field by field; ExternalModelError naming the file and the field."""
    file = path / EXTERNAL_FILE
    raw = read_json(file, what="an external model's description", max_bytes=1024 * 1024, error=ExternalModelError)
    if not isinstance(raw, dict) or raw.get("format") != EXTERNAL_FORMAT:
        raise ExternalModelError(f"{file} is not an external model description (expected format {EXTERNAL_FORMAT!r})")
    try:
        spec = _spec_from(path, raw)
    except (KeyError, TypeError, ValueError) as e:
        raise ExternalModelError(f"{file}: {e}; see docs/your-own-model.md for the fields") from e
    spec.model_cfg()  # sizes in range
    return spec


def _choice(raw: dict, key: str, options: tuple[str, ...], default: str | None = None) -> str:
    value = raw.get(key, default)
    if value not in options:
        raise ValueError(f"{key!r} must be one of {', '.join(options)}, got {value!r}")
    return value


def _spec_from(path: Path, raw: dict) -> ExternalSpec:
    kind = _choice(raw, "kind", tuple(KINDS))
    source = _choice(raw, "source", SOURCES)
    names = raw["class_names"]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("'class_names' must be a list of strings")
    shape = tuple(int(s) for s in raw["image_shape"])
    low, high = (float(v) for v in raw.get("value_range", [0.0, 1.0]))
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"'value_range' must be two finite numbers, low < high, got {[low, high]}")
    latent = int(raw.get("latent_dim", 0)) if KINDS[kind].is_vae else 0
    graphs = _graphs(raw, kind) if source == "onnx" else {}
    factory = str(raw.get("factory", "")) if source == "factory" else ""
    return ExternalSpec(path=path, source=source, kind=kind, dataset=str(raw["dataset"]), class_names=tuple(names),
                        image_shape=shape, value_range=(low, high), latent_dim=latent,
                        decoder_output=_choice(raw, "decoder_output", DECODER_OUTPUTS, "logits"),
                        labels=_choice(raw, "labels", LABEL_FORMS, "index"), factory=factory, graphs=graphs)


def _graphs(raw: dict, kind: str) -> dict[str, Graph]:
    """The graphs the kind needs, each with the tensor names its role needs."""
    k = KINDS[kind]
    needed = (["encoder", "decoder"] if k.is_vae else []) + (["classifier"] if k.classifies else [])
    graphs = {}
    for role in needed:
        block = raw.get(role)
        if not isinstance(block, dict):
            raise ValueError(f"a {kind} needs a {role!r} block (file, inputs, outputs)")
        ins, outs = dict(block.get("inputs", {})), dict(block.get("outputs", {}))
        allowed_in, want_out = ROLES[role]
        want_in = {"images"} if role == "encoder" else {"codes"} if role == "decoder" else set(ins) & allowed_in
        want_in |= {"labels"} if k.conditional and role != "classifier" else set()
        if role == "encoder" and "mu" in outs and "logvar" not in outs:
            raise ValueError("the encoder names no 'logvar' output: a model without q(z|x)'s variance cannot show "
                             "what the app is for (Learn's KL per dimension and posterior samples, the ELBO on the "
                             "model card, anomaly scores); export the log-variance too (zeros if your model assumes "
                             "unit variance)")
        if set(ins) != want_in or (role == "classifier" and len(want_in) != 1) or set(outs) != want_out:
            takes = sorted(want_in) if role != "classifier" else ["images", "or", "codes"]
            raise ValueError(f"{role!r} must name inputs {takes} and outputs {sorted(want_out)}, "
                             f"got inputs {sorted(ins)} and outputs {sorted(outs)}")
        if not all(isinstance(v, str) and v for v in [*ins.values(), *outs.values()]):
            raise ValueError(f"{role!r}: every tensor name must be a non-empty string")
        file = str(block.get("file", ""))
        if not file or Path(file).name != file or file.startswith("."):
            raise ValueError(f"{role!r}: 'file' must be a plain file name inside the folder, got {file!r}")
        graphs[role] = Graph(file=file, inputs=ins, outputs=outs)
    return graphs


def spec_to_json(spec: ExternalSpec) -> dict[str, Any]:
    """model.json's content for `spec` (the inverse of read_spec)."""
    out: dict[str, Any] = {
        "format": EXTERNAL_FORMAT, "source": spec.source, "kind": spec.kind, "dataset": spec.dataset,
        "class_names": list(spec.class_names), "image_shape": list(spec.image_shape),
        "value_range": list(spec.value_range), "latent_dim": spec.latent_dim,
        "decoder_output": spec.decoder_output, "labels": spec.labels,
    }
    if spec.factory:
        out["factory"] = spec.factory
    for role, g in spec.graphs.items():
        out[role] = {"file": g.file, "inputs": dict(g.inputs), "outputs": dict(g.outputs)}
    return out


# ---------------------------------------------------------------- checking what comes back

def check_output(where: str, what: str, out: Any, shape: tuple[int, ...]) -> np.ndarray:
    """`out` as float32 when it has `shape` and is finite; else ExternalModelError naming `where`."""
    try:
        arr = np.asarray(out, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise ExternalModelError(f"{where} gave {what} that are not an array of numbers ({e})") from e
    if arr.shape != tuple(shape):
        raise ExternalModelError(f"{where} gave {what} of shape {arr.shape}; model.json declares "
                                 f"{tuple(shape)}: fix the model or its description")
    bad = int(arr.size - np.isfinite(arr).sum())
    if bad:
        raise ExternalModelError(f"{where} gave {bad:,} NaN or infinite values in its {what}; the model is damaged "
                                 "or diverged: export it again or load another")
    return arr


def probabilities_to_logits(where: str, out: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """Decoder probabilities in `value_range`, as Bernoulli logits on [0, 1] (so one code path
    serves both forms); values outside the range are refused."""
    low, high = value_range
    tol = RANGE_TOLERANCE * (high - low)
    if out.size and (out.min() < low - tol or out.max() > high + tol):
        raise ExternalModelError(f"{where} gave images with values from {out.min():.4g} to {out.max():.4g}, outside "
                                 f"the declared value_range [{low:g}, {high:g}]: fix 'value_range' or "
                                 "'decoder_output' (logits or probabilities) in model.json")
    p = np.clip((out - low) / (high - low), PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
    return (np.log(p) - np.log1p(-p)).astype(np.float32)
