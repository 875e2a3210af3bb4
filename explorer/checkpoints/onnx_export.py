"""One of our checkpoints written as an ONNX model folder (checkpoints/external.py describes the
form): encoder.onnx, decoder.onnx, classifier.onnx (a classifier's CNN on images, or a hybrid's
head on the code) and model.json. This is also how a user takes our models elsewhere.

Exported with torch.onnx's TorchScript exporter (`dynamo=False`: the dynamo exporter needs
onnxscript), opset OPSET, a dynamic batch size. The folder is built beside its destination and
renamed into place (checkpoints/recovery.replacing_dir), so an interrupted export leaves nothing
half-written.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from explorer.checkpoints.card import external_card
from explorer.checkpoints.external import EXTERNAL_FILE, ExternalSpec, Graph, spec_to_json
from explorer.checkpoints.format import load_checkpoint
from explorer.checkpoints.layout import CARD_FILE, CheckpointError
from explorer.checkpoints.recovery import replacing_dir
from explorer.core.atomic import write_json, write_text
from explorer.core.kinds import KINDS

OPSET = 17  # run by every ONNX Runtime since 1.14


class _Verb(nn.Module):
    """One of a model's methods (encode, decode, classify) as the forward an exporter traces."""

    def __init__(self, model: nn.Module, verb: str):
        super().__init__()
        self.model, self.verb = model, verb

    def forward(self, *inputs: torch.Tensor):
        return getattr(self.model, self.verb)(*inputs)


def _export(module: nn.Module, args: tuple, file: Path, inputs: list[str], outputs: list[str]) -> None:
    axes = {name: {0: "batch"} for name in inputs + outputs}
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation notice, not ours to act on
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, str(file), input_names=inputs, output_names=outputs,
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)


def _graphs(model: nn.Module, kind: str, tmp: Path) -> dict[str, Graph]:
    """Export each graph the kind has into `tmp`; their names by role."""
    cfg, k = model.cfg, KINDS[kind]
    x = torch.rand(2, *cfg.image_shape)
    y = torch.zeros(2, dtype=torch.long)
    graphs: dict[str, Graph] = {}
    if k.is_vae:
        enc_in = (x, y) if k.conditional else (x,)
        names = ["images", "labels"][:len(enc_in)]
        _export(_Verb(model, "encode"), enc_in, tmp / "encoder.onnx", names, ["mu", "logvar"])
        graphs["encoder"] = Graph("encoder.onnx", {n: n for n in names}, {"mu": "mu", "logvar": "logvar"})
        z = torch.zeros(2, cfg.latent_dim)
        dec_in = (z, y) if k.conditional else (z,)
        names = ["codes", "labels"][:len(dec_in)]
        _export(_Verb(model, "decode"), dec_in, tmp / "decoder.onnx", names, ["logits"])
        graphs["decoder"] = Graph("decoder.onnx", {n: n for n in names}, {"images": "logits"})
    if kind == "hybrid":  # the head on the code: the app encodes, then the head judges the mean
        _export(model.head, (torch.zeros(2, cfg.latent_dim),), tmp / "classifier.onnx", ["codes"], ["logits"])
        graphs["classifier"] = Graph("classifier.onnx", {"codes": "codes"}, {"logits": "logits"})
    elif kind == "classifier":
        _export(_Verb(model, "classify"), (x,), tmp / "classifier.onnx", ["images"], ["logits"])
        graphs["classifier"] = Graph("classifier.onnx", {"images": "images"}, {"logits": "logits"})
    return graphs


def export_onnx(checkpoint: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write the checkpoint at `checkpoint` as an ONNX model folder at `out` (replaced whole)."""
    from explorer.data import get_spec

    ckpt = load_checkpoint(checkpoint)
    if ckpt.origin:
        raise CheckpointError(f"{checkpoint} is already an external model ({ckpt.origin}); export-onnx writes "
                              "the app's own checkpoints")
    out = Path(out)
    if out.exists() and not (out / EXTERNAL_FILE).is_file():
        raise CheckpointError(f"--out {out} exists and is not an ONNX model folder; choose a new folder")
    model = ckpt.model.cpu().eval()
    with replacing_dir(out) as tmp:
        graphs = _graphs(model, ckpt.kind, tmp)
        spec = ExternalSpec(path=out, source="onnx", kind=ckpt.kind, dataset=ckpt.dataset,
                            class_names=tuple(get_spec(ckpt.dataset).class_names),
                            image_shape=tuple(model.cfg.image_shape), value_range=(0.0, 1.0),
                            latent_dim=model.cfg.latent_dim if KINDS[ckpt.kind].is_vae else 0,
                            decoder_output="logits", labels="index", graphs=graphs)
        write_json(tmp / EXTERNAL_FILE, spec_to_json(spec), fsync=False)  # replacing_dir fsyncs the folder
    from explorer.checkpoints.adapter import load_external
    write_text(out / CARD_FILE, external_card(load_external(out, with_model=False)))  # its origin: the folder in place
    return out
