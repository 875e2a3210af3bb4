"""Our checkpoints exported as ONNX model folders and loaded back: the same outputs, every kind,
through the same functions the pages and the CLI use."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explorer.analysis import latent
from explorer.checkpoints import load_checkpoint
from explorer.checkpoints.catalog import scan
from explorer.checkpoints.onnx_export import export_onnx
from explorer.cli import main
from explorer.core.kinds import condition
from explorer.data import load_dataset

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def exported(tiny_checkpoints: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """name -> (our checkpoint, its ONNX folder), for each kind."""
    out = tmp_path_factory.mktemp("onnx")
    return {name: (tiny_checkpoints / "digits" / name, export_onnx(tiny_checkpoints / "digits" / name, out / name))
            for name in ("vae-2d", "cvae-4d", "hybrid-10d", "classifier")}


@pytest.mark.parametrize("name", ["vae-2d", "cvae-4d", "hybrid-10d"])
def test_an_exported_vae_encodes_and_decodes_the_test_set_as_the_original(exported, name):
    ours, folder = (load_checkpoint(p) for p in exported[name])
    assert folder.origin == f"ONNX folder {exported[name][1]}" and folder.kind == ours.kind
    test = load_dataset("digits", "test")
    y = condition(ours, test.labels)
    mu, logvar = latent.encode(ours.model, test.images, y)
    mu2, logvar2 = latent.encode(folder.model, test.images, y)
    assert np.abs(mu - mu2).max() < TOLERANCE and np.abs(logvar - logvar2).max() < TOLERANCE
    assert np.abs(latent.decode(ours.model, mu, y) - latent.decode(folder.model, mu, y)).max() < TOLERANCE
    # the per-image likelihood behind the model card's reconstruction term and the anomaly scores
    assert np.abs(latent.recon_error(ours.model, test.images, y)
                  - latent.recon_error(folder.model, test.images, y)).max() < 1e-2


@pytest.mark.parametrize("name", ["hybrid-10d", "classifier"])
def test_an_exported_classifier_or_hybrid_head_judges_the_test_set_as_the_original(exported, name):
    ours, folder = (load_checkpoint(p) for p in exported[name])
    test = load_dataset("digits", "test")
    pred, proba = latent.classify(ours.model, test.images)
    pred2, proba2 = latent.classify(folder.model, test.images)
    assert np.abs(proba - proba2).max() < TOLERANCE
    assert (pred == pred2).mean() > 0.99  # a tie within the tolerance may break either way


def test_an_onnx_folder_is_listed_with_its_origin(exported, tmp_path):
    root = tmp_path / "root"
    (root / "digits").mkdir(parents=True)
    export_onnx(exported["vae-2d"][0], root / "digits" / "theirs")
    [entry] = scan([root], factories=())
    assert (entry.kind, entry.latent_dim, entry.dataset) == ("vae", 2, "digits")
    assert entry.origin.startswith("ONNX folder") and "ONNX" in entry.label


def test_the_cli_samples_and_predicts_with_an_onnx_folder(exported, tmp_path):
    folder = exported["cvae-4d"][1]
    assert main(["sample", "--checkpoint", str(folder), "--n", "5", "--label", "3",
                 "--out", str(tmp_path / "s.npy")]) == 0
    images = np.load(tmp_path / "s.npy")
    assert images.shape == (5, 1, 8, 8) and 0 <= images.min() and images.max() <= 1
    np.save(tmp_path / "x.npy", load_dataset("digits", "test").images[:7])
    assert main(["predict", "--checkpoint", str(exported["classifier"][1]), "--images", str(tmp_path / "x.npy"),
                 "--out", str(tmp_path / "p.npy")]) == 0
    assert np.load(tmp_path / "p.npy").shape == (7,)


def test_export_onnx_from_the_command_line_writes_a_folder_that_loads(exported, tmp_path, capsys):
    assert main(["export-onnx", "--checkpoint", str(exported["hybrid-10d"][0]), "--out", str(tmp_path / "h")]) == 0
    assert "classifier.onnx, decoder.onnx, encoder.onnx, model.json" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "h").origin == f"ONNX folder {tmp_path / 'h'}"


def test_export_refuses_to_overwrite_a_folder_that_is_not_an_onnx_model(exported, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["export-onnx", "--checkpoint", str(exported["vae-2d"][0]), "--out", str(tmp_path / "mine")]) == 2
    assert "not an ONNX model folder" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
