"""Property-based fuzzing of an ONNX model folder's model.json (issue 15).

The property (tests/fuzzing.py): listing and loading the folder ends in a Checkpoint whose model
card renders and whose model decodes, or in the project's own error with a message; within the
time bound and the memory budget; and loading writes no file.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from explorer.checkpoints import Checkpoint, load_checkpoint
from explorer.checkpoints.card import model_card
from explorer.checkpoints.catalog import describe
from explorer.checkpoints.onnx_export import export_onnx
from explorer.checkpoints import save_checkpoint
from explorer.core.state import TrainState
from fuzzing import assert_wrote_only, files_under, mutated, outcome, sandbox
from helpers import tiny_model, tiny_model_cfg, tiny_train_cfg

KEYS = ("format", "source", "kind", "dataset", "class_names", "image_shape", "value_range", "latent_dim",
        "decoder_output", "labels", "encoder", "decoder", "classifier", "file", "inputs", "outputs", "factory")


@pytest.fixture(scope="module")
def onnx_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny cvae (it has labels in both graphs) exported as an ONNX folder."""
    root = tmp_path_factory.mktemp("fuzz-onnx")
    cfg = tiny_model_cfg("cvae", latent_dim=3, num_classes=10)
    save_checkpoint(root / "ours", tiny_model("cvae", latent_dim=3, num_classes=10), cfg, tiny_train_cfg(), "digits",
                    TrainState())
    return export_onnx(root / "ours", root / "theirs")


def _load_everything(path: Path):
    describe(path)
    ckpt = load_checkpoint(path)
    model_card(ckpt)
    from explorer.analysis import latent
    latent.decode(ckpt.model, np.zeros((2, ckpt.model_cfg.latent_dim), np.float32), 1)
    return ckpt


@given(data=st.data())
@example(data=None)  # the untouched folder loads
def test_fuzz_model_json_near_valid(onnx_folder: Path, data) -> None:
    valid = json.loads((onnx_folder / "model.json").read_text())
    spec = valid if data is None else data.draw(mutated(valid, KEYS))
    with sandbox() as root:
        folder = root / "digits" / "theirs"
        shutil.copytree(onnx_folder, folder)
        (folder / "model.json").write_text(json.dumps(spec))
        before = files_under(root)
        result = outcome(_load_everything, folder)
        assert isinstance(result, (Checkpoint, Exception))
        assert_wrote_only(root, before, allowed=lambda p: False)


@given(data=st.data())
@example(data=None)
def test_fuzz_graph_bytes(onnx_folder: Path, data) -> None:
    """decoder.onnx cut short, or with bytes changed anywhere, or any bytes at all."""
    valid = (onnx_folder / "decoder.onnx").read_bytes()
    if data is None:
        damaged = valid
    else:
        how = data.draw(st.sampled_from(["cut", "flip", "any"]))
        if how == "cut":
            damaged = valid[:data.draw(st.integers(0, len(valid)))]
        elif how == "flip":
            at = data.draw(st.lists(st.integers(0, len(valid) - 1), min_size=1, max_size=8))
            buf = bytearray(valid)
            for i in at:
                buf[i] = data.draw(st.integers(0, 255))
            damaged = bytes(buf)
        else:
            damaged = data.draw(st.binary(max_size=2000))
    with sandbox() as root:
        folder = root / "digits" / "theirs"
        shutil.copytree(onnx_folder, folder)
        (folder / "decoder.onnx").write_bytes(damaged)
        before = files_under(root)
        result = outcome(_load_everything, folder)
        assert isinstance(result, (Checkpoint, Exception))
        assert_wrote_only(root, before, allowed=lambda p: False)
