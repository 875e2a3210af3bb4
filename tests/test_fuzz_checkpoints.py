"""Property-based fuzzing of a checkpoint as it arrives: config.json, metrics.json and the
safetensors header of model.safetensors (issue 17).

The property (tests/fuzzing.py): loading ends in a Checkpoint whose model card renders, or in
the project's own error with a message; within the time bound and the memory budget; and
loading writes no file. Run longer with `make fuzz`.
"""
from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from explorer.checkpoints import Checkpoint, load_checkpoint, read_config, save_checkpoint
from explorer.checkpoints.card import model_card
from explorer.checkpoints.catalog import describe
from explorer.core.state import TrainState
from fuzzing import JSON_VALUES, assert_wrote_only, files_under, mutated, outcome, sandbox
from helpers import tiny_model, tiny_model_cfg, tiny_train_cfg


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny hybrid checkpoint (it has every part: encoder, decoder, head) with figures."""
    path = tmp_path_factory.mktemp("fuzz-ckpt") / "digits" / "hybrid-3d"
    save_checkpoint(path, tiny_model("hybrid", latent_dim=3), tiny_model_cfg("hybrid", latent_dim=3, num_classes=3),
                    tiny_train_cfg(), "digits", TrainState(epoch=1, step=4, status="finished",
                                                           history=[{"epoch": 1, "seconds": 0.5}]),
                    metrics={"neg_elbo": 40.5, "accuracy": 0.9, "conditional_fidelity_per_class": [0.5, 0.6]},
                    extra={"command": "python -m explorer train", "notes": "tiny", "device": "cpu",
                           "reference": {"description": "ref", "neg_elbo": 41.0}})
    return path


def _load_everything(path: Path):
    """What the app and the CLI do with a checkpoint folder: list it, load it, render its card."""
    describe(path)
    ckpt = load_checkpoint(path)
    model_card(ckpt)
    return ckpt


def _check_load(ckpt_dir: Path, write_inputs) -> None:
    """Copy the tiny checkpoint into a sandbox, let `write_inputs(folder)` damage it, load it."""
    with sandbox() as root:
        folder = root / "checkpoints" / "digits" / "ckpt"
        shutil.copytree(ckpt_dir, folder)
        write_inputs(folder)
        before = files_under(root)
        result = outcome(_load_everything, folder)
        assert isinstance(result, (Checkpoint, Exception))
        assert_wrote_only(root, before, allowed=lambda p: False)  # loading writes nothing


def _config(ckpt_dir: Path) -> dict:
    return json.loads((ckpt_dir / "config.json").read_text())


# ---------------------------------------------------------------- config.json

def _config_text(**changes) -> str:
    """A config.json that fits tiny_ckpt's weights, with `changes` on top (for regression examples)."""
    cfg = {"format": "latent-explorer/1", "kind": "hybrid", "dataset": "digits",
           "model": tiny_model_cfg("hybrid", latent_dim=3, num_classes=3).to_dict(), "train": tiny_train_cfg().to_dict()}
    return json.dumps({**cfg, **changes})


CONFIG_KEYS = ("format", "kind", "dataset", "model", "train", "state", "history", "extra", "optimizer",
               "latent_dim", "image_shape", "channels", "epochs", "seconds", "reference", "notes", "command")


@given(data=st.data())
@example(data=None)  # the untouched checkpoint loads
def test_fuzz_config_json_near_valid(tiny_ckpt: Path, data) -> None:
    """A real config.json with values anywhere in it replaced, removed or added."""
    valid = _config(tiny_ckpt)
    cfg = valid if data is None else data.draw(mutated(valid, CONFIG_KEYS))
    _check_load(tiny_ckpt, lambda folder: (folder / "config.json").write_text(json.dumps(cfg)))


@given(text=st.one_of(st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                      JSON_VALUES.map(json.dumps),
                      st.dictionaries(st.sampled_from(CONFIG_KEYS), JSON_VALUES, max_size=6)
                      .map(lambda d: json.dumps({"format": "latent-explorer/1", **d}))))
@example(text=_config_text(extra=True))                        # AttributeError in the card (fixed)
@example(text=_config_text(history=["epoch 1"]))               # AttributeError in the card (fixed)
@example(text=_config_text(history=[{"seconds": "12 s"}]))     # ValueError in the card (fixed)
@example(text=_config_text(history=[{"seconds": 10**400}]))    # OverflowError in the card (fixed)
@example(text=_config_text(extra={"reference": [1], "notes": 7, "command": 3}))  # card: TypeError (fixed)
@example(text=_config_text(state={"epoch": 1}).replace('"epoch": 1', '"epoch": 1' + "0" * 5000))  # int digits limit
def test_fuzz_config_json_anything(tiny_ckpt: Path, text: str) -> None:
    """Any text at all as config.json: bytes, any JSON, an object of our keys with any values."""
    _check_load(tiny_ckpt, lambda folder: (folder / "config.json").write_bytes(text.encode("utf-8", "surrogatepass")))


@given(raw=st.binary(max_size=300))
def test_fuzz_read_config_bytes(tiny_ckpt: Path, raw: bytes) -> None:
    with sandbox() as root:
        (root / "c").mkdir()
        (root / "c" / "config.json").write_bytes(raw)
        result = outcome(read_config, root / "c")
        assert isinstance(result, (dict, Exception))


# ---------------------------------------------------------------- metrics.json

@given(text=st.one_of(JSON_VALUES, st.dictionaries(
    st.sampled_from(["neg_elbo", "accuracy", "iwae_nll", "conditional_fidelity_per_class", "judged_by"]),
    JSON_VALUES, max_size=5)).map(json.dumps))
@example(text='{"conditional_fidelity_per_class": "0.5"}')  # ValueError in the card (fixed)
@example(text='{"conditional_fidelity_per_class": 0.5}')    # TypeError in the card (fixed)
@example(text='{"neg_elbo": 1' + "0" * 5000 + "}")          # ValueError: past the 4300-digit limit (fixed)
@example(text='{"neg_elbo": 1' + "0" * 400 + "}")           # OverflowError in the card (fixed)
def test_fuzz_metrics_json(tiny_ckpt: Path, text: str) -> None:
    """Any metrics.json: the checkpoint still loads (the figures are optional) and its card renders."""
    _check_load(tiny_ckpt, lambda folder: (folder / "metrics.json").write_text(text))


# ---------------------------------------------------------------- model.safetensors

DTYPES = ["F32", "F16", "BF16", "F64", "I64", "I32", "U8", "BOOL", "F8_E4M3", "X9", ""]


@st.composite
def safetensors_file(draw, expected: dict[str, list[int]]) -> bytes:
    """8-byte little-endian header length + JSON header + data, each part fuzzed: names drawn
    from the model's own, dtypes, shapes and offsets near and far from the truth."""
    header: dict = {}
    offset = 0
    names = draw(st.lists(st.sampled_from(sorted(expected)) | st.text(max_size=8), max_size=len(expected) + 2,
                          unique=True)) if draw(st.booleans()) else sorted(expected)
    for name in names:
        shape = expected.get(name, [1])
        if draw(st.integers(0, 4)) == 0:
            shape = draw(st.lists(st.integers(-2, 2**40) | st.integers(0, 9), max_size=4))
        dtype = draw(st.sampled_from(DTYPES)) if draw(st.integers(0, 4)) == 0 else "F32"
        size = 4
        for d in shape:
            size *= max(int(d), 0)
        start, end = offset, offset + min(size, 2**20)
        if draw(st.integers(0, 4)) == 0:
            start, end = draw(st.integers(-1, 2**63)), draw(st.integers(-1, 2**63))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [start, end]}
        offset = max(offset, end if isinstance(end, int) and end < 2**20 else offset)
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.dictionaries(st.text(max_size=5), JSON_VALUES | st.text(), max_size=2))
    if draw(st.integers(0, 5)) == 0:
        header = draw(JSON_VALUES)
    text = json.dumps(header).encode()
    n = draw(st.sampled_from([len(text), len(text)]) | st.integers(0, 2**64 - 1))
    data = draw(st.binary(min_size=0, max_size=64)) if draw(st.booleans()) else bytes(offset)
    return struct.pack("<Q", n) + text + data[:draw(st.integers(0, len(data)))] if draw(st.booleans()) \
        else struct.pack("<Q", n) + text + data


def _expected_shapes(ckpt_dir: Path) -> dict[str, list[int]]:
    from safetensors import safe_open
    with safe_open(ckpt_dir / "model.safetensors", framework="np") as f:
        return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}


@given(data=st.data())
def test_fuzz_safetensors_header(tiny_ckpt: Path, data) -> None:
    """model.safetensors with a fuzzed header length, header and data, beside a valid config."""
    blob = data.draw(safetensors_file(_expected_shapes(tiny_ckpt)))
    _check_load(tiny_ckpt, lambda folder: (folder / "model.safetensors").write_bytes(blob))


@given(blob=st.binary(max_size=256))
def test_fuzz_safetensors_bytes(tiny_ckpt: Path, blob: bytes) -> None:
    """model.safetensors as arbitrary bytes (empty, a few bytes, a pickle's opening...)."""
    _check_load(tiny_ckpt, lambda folder: (folder / "model.safetensors").write_bytes(blob))
