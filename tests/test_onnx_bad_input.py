"""Bad ONNX model folders, each built with onnx.helper: every one ends in an ExternalModelError
that names the file and says what was wrong, before or while it runs; never a crash."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from explorer.analysis import latent
from explorer.checkpoints import ExternalModelError, load_checkpoint
from explorer.checkpoints.catalog import scan

D = 2  # latent size of the hand-built model
SHAPE = (1, 8, 8)


def _io(name: str, dims, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, dims)


def _save(nodes, inputs, outputs, inits, file: Path, opset: int = 17) -> None:
    graph = helper.make_graph(nodes, file.stem, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(file))


def encoder(file: Path, **kw) -> None:
    """images (N, 1, 8, 8) -> mu = flatten(images) @ W, logvar = 0 * mu."""
    w = numpy_helper.from_array(np.random.default_rng(0).normal(0, 0.1, (64, D)).astype(np.float32), "W")
    zero = numpy_helper.from_array(np.zeros((1,), np.float32), "zero")
    nodes = [helper.make_node("Flatten", ["images"], ["flat"]), helper.make_node("MatMul", ["flat", "W"], ["mu"]),
             helper.make_node("Mul", ["mu", "zero"], ["logvar"])]
    _save(nodes, [_io("images", ["N", *SHAPE])], [_io("mu", ["N", D]), _io("logvar", ["N", D])], [w, zero], file, **kw)


def decoder(file: Path, out_shape=(-1, *SHAPE), declared=("N", *SHAPE), scale: float = 1.0, post: str = "",
            **kw) -> None:
    """codes (N, 2) -> reshape(scale * codes @ V); `post` an extra op on the result (Sigmoid, Log)."""
    v = numpy_helper.from_array(np.random.default_rng(1).normal(0, 1, (D, 64)).astype(np.float32), "V")
    s = numpy_helper.from_array(np.array([scale], np.float32), "S")
    shape = numpy_helper.from_array(np.array(out_shape, np.int64), "shape")
    last = "logits" if not post else "raw"
    nodes = [helper.make_node("MatMul", ["codes", "V"], ["h"]), helper.make_node("Mul", ["h", "S"], ["hs"]),
             helper.make_node("Reshape", ["hs", "shape"], [last])]
    if post:
        nodes.append(helper.make_node(post, ["raw"], ["logits"]))
    _save(nodes, [_io("codes", ["N", D])], [_io("logits", list(declared))], [v, s, shape], file, **kw)


def describe(folder: Path, **changes) -> None:
    spec = {"format": "latent-explorer/external-1", "source": "onnx", "kind": "vae", "dataset": "digits",
            "class_names": [str(i) for i in range(10)], "image_shape": list(SHAPE), "value_range": [0, 1],
            "latent_dim": D, "decoder_output": "logits",
            "encoder": {"file": "encoder.onnx", "inputs": {"images": "images"},
                        "outputs": {"mu": "mu", "logvar": "logvar"}},
            "decoder": {"file": "decoder.onnx", "inputs": {"codes": "codes"}, "outputs": {"images": "logits"}}}
    spec.update(changes)
    (folder / "model.json").write_text(json.dumps(spec))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A good hand-built model folder; each test breaks one thing."""
    encoder(tmp_path / "encoder.onnx")
    decoder(tmp_path / "decoder.onnx")
    describe(tmp_path)
    return tmp_path


def _decode(folder: Path) -> np.ndarray:
    return latent.decode(load_checkpoint(folder).model, np.zeros((3, D), np.float32))


def test_the_hand_built_folder_works(folder):
    images = _decode(folder)
    assert images.shape == (3, *SHAPE) and 0 <= images.min() and images.max() <= 1


def test_a_graph_whose_inputs_do_not_match_the_json(folder):
    describe(folder, encoder={"file": "encoder.onnx", "inputs": {"images": "x"},
                              "outputs": {"mu": "mu", "logvar": "logvar"}})
    with pytest.raises(ExternalModelError, match=r"encoder.onnx has no tensor 'x'.*its inputs are \['images'\]"):
        load_checkpoint(folder)


def test_an_encoder_without_a_log_variance_says_what_it_cannot_show(folder):
    describe(folder, encoder={"file": "encoder.onnx", "inputs": {"images": "images"}, "outputs": {"mu": "mu"}})
    with pytest.raises(ExternalModelError, match=r"names no 'logvar' output: .*Learn's KL per dimension"):
        load_checkpoint(folder)


def test_a_graph_whose_declared_output_shape_does_not_match_the_json(folder):
    decoder(folder / "decoder.onnx", out_shape=(-1, 64), declared=("N", 64))
    with pytest.raises(ExternalModelError, match=r"decoder.onnx: tensor 'logits' \(images\) is declared"):
        load_checkpoint(folder)


def test_a_decoder_whose_output_has_the_wrong_shape_when_run(folder):
    decoder(folder / "decoder.onnx", out_shape=(-1, 1, 4, 16), declared=("N", "c", "h", "w"))
    with pytest.raises(ExternalModelError, match=r"gave images of shape \(3, 1, 4, 16\); model.json declares"):
        _decode(folder)


def test_decoder_values_outside_the_declared_range(folder):
    describe(folder, decoder_output="probabilities")  # but the graph gives logits, far outside [0, 1]
    decoder(folder / "decoder.onnx", scale=50.0)
    with pytest.raises(ExternalModelError, match=r"outside the declared value_range \[0, 1\]"):
        latent.decode(load_checkpoint(folder).model, np.ones((3, D), np.float32))


def test_nan_and_infinite_outputs(folder):
    decoder(folder / "decoder.onnx", post="Log")  # log of negative logits: NaN
    with pytest.raises(ExternalModelError, match=r"NaN or infinite values in its images"):
        latent.decode(load_checkpoint(folder).model, np.ones((3, D), np.float32))


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_file_that_is_not_onnx_or_is_truncated(folder, damage):
    file = folder / "decoder.onnx"
    data = file.read_bytes()
    file.write_bytes(b"\x00not an onnx model\xff" * 20 if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(ExternalModelError, match=r"decoder.onnx is not an ONNX model, or it is truncated"):
        load_checkpoint(folder)


def test_an_opset_onnx_runtime_cannot_run(folder):
    decoder(folder / "decoder.onnx", opset=99)
    with pytest.raises(ExternalModelError, match=r"decoder.onnx \(opset 99\) cannot be run by ONNX Runtime"):
        load_checkpoint(folder)


def test_custom_operators_are_refused_not_loaded(folder):
    nodes = [helper.make_node("Evil", ["codes"], ["logits"], domain="com.example.custom")]
    graph = helper.make_graph(nodes, "d", [_io("codes", ["N", D])], [_io("logits", ["N", *SHAPE])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                      helper.make_opsetid("com.example.custom", 1)]),
              str(folder / "decoder.onnx"))
    with pytest.raises(ExternalModelError, match=r"domain 'com.example.custom'.*custom operator library"):
        load_checkpoint(folder)


def _external_weight(folder: Path, location: str, dims=(D, 64)) -> None:
    """The decoder with its weight V stored as external data at `location` (not written here)."""
    decoder(folder / "decoder.onnx")
    model = onnx.load(str(folder / "decoder.onnx"))
    [v] = [t for t in model.graph.initializer if t.name == "V"]
    v.ClearField("raw_data")
    v.ClearField("float_data")
    del v.dims[:]
    v.dims.extend(dims)
    v.data_location = TensorProto.EXTERNAL
    v.external_data.add(key="location", value=location)
    onnx.save(model, str(folder / "decoder.onnx"))


def test_external_data_pointing_out_of_the_folder_is_refused(folder, tmp_path_factory):
    secret = tmp_path_factory.mktemp("elsewhere") / "secret.bin"
    secret.write_bytes(b"\x00" * 4 * D * 64)
    for location in (str(secret), f"../{secret.parent.name}/secret.bin"):
        _external_weight(folder, location)
        with pytest.raises(ExternalModelError, match=r"points to external data .* outside the model folder"):
            load_checkpoint(folder)


def test_missing_external_data(folder):
    _external_weight(folder, "weights.bin")
    with pytest.raises(ExternalModelError, match=r"needs the external data file .*weights.bin, which is missing"):
        load_checkpoint(folder)


def test_a_model_far_too_large_is_refused_from_its_declared_sizes(folder):
    (folder / "weights.bin").write_bytes(b"\x00" * 16)
    _external_weight(folder, "weights.bin", dims=(200_000, 200_000))  # 160 GB of float32, declared
    with pytest.raises(ExternalModelError, match=r"declares 160,000,000,000 bytes.*more than"):
        load_checkpoint(folder)


def test_a_broken_folder_is_listed_marked_and_the_others_still_load(folder, tmp_path_factory):
    root = tmp_path_factory.mktemp("root")
    (root / "digits").mkdir()
    folder.rename(root / "digits" / "broken")
    (root / "digits" / "broken" / "model.json").write_text("{ not json")
    [entry] = scan([root], factories=())
    assert entry.problem and "model.json" in entry.problem and "unreadable" in entry.label


def test_a_cvae_taking_one_hot_labels_gets_them(folder):
    """labels: "onehot": the app turns class indices into (N, K) float32 rows for the graph."""
    u = numpy_helper.from_array(np.arange(10 * 64, dtype=np.float32).reshape(10, 64) / 640, "U")
    shape = numpy_helper.from_array(np.array([-1, *SHAPE], np.int64), "shape")
    nodes = [helper.make_node("MatMul", ["labels", "U"], ["h"]), helper.make_node("Reshape", ["h", "shape"], ["logits"])]
    _save(nodes, [_io("codes", ["N", D]), _io("labels", ["N", 10])], [_io("logits", ["N", *SHAPE])], [u, shape],
          folder / "decoder.onnx")
    encoder(folder / "encoder.onnx")  # takes no labels: model.json must then not name any
    describe(folder, kind="cvae", labels="onehot",
             decoder={"file": "decoder.onnx", "inputs": {"codes": "codes", "labels": "labels"},
                      "outputs": {"images": "logits"}})
    with pytest.raises(ExternalModelError, match=r"'encoder' must name inputs \['images', 'labels'\]"):
        load_checkpoint(folder)
    graph = onnx.load(str(folder / "encoder.onnx"))
    graph.graph.input.append(_io("labels", ["N", 10]))
    onnx.save(graph, str(folder / "encoder.onnx"))
    describe(folder, kind="cvae", labels="onehot",
             encoder={"file": "encoder.onnx", "inputs": {"images": "images", "labels": "labels"},
                      "outputs": {"mu": "mu", "logvar": "logvar"}},
             decoder={"file": "decoder.onnx", "inputs": {"codes": "codes", "labels": "labels"},
                      "outputs": {"images": "logits"}})
    model = load_checkpoint(folder).model
    three, seven = (latent.decode(model, np.zeros((1, D), np.float32), k) for k in (3, 7))
    assert np.allclose(three.ravel(), 1 / (1 + np.exp(-np.arange(3 * 64, 4 * 64) / 640)), atol=1e-6)
    assert not np.allclose(three, seven)
