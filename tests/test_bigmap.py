"""The whole dataset on the map: `project --split`, the Map page's training points, and which
image a point on such a map is."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from explorer.maps import splits


def _project(ckpt: Path, tmp_path: Path, split: str, capsys) -> tuple[dict, dict]:
    from explorer.cli import main

    out = tmp_path / f"{split}.npz"
    assert main(["project", "--checkpoint", str(ckpt), "--method", "pca", "--split", split, "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with np.load(out, allow_pickle=False) as z:
        return report, {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def vae(tiny_checkpoints: Path) -> Path:
    return tiny_checkpoints / "digits" / "cvae-4d"  # conditional: each split is encoded with its own labels


def test_split_train_and_all_map_every_image_once_test_rows_first(vae, tmp_path, capsys):
    from explorer.data import load_dataset

    n_test, n_train = len(load_dataset("digits", "test").labels), len(load_dataset("digits", "train").labels)
    report, train = _project(vae, tmp_path, "train", capsys)
    assert report["n"] == n_train and report["rows"] == {"train": n_train}
    assert train["coords"].shape == (n_train, 2) and (train["split"] == 1).all()
    assert (train["index"] == np.arange(n_train)).all()
    report, both = _project(vae, tmp_path, "all", capsys)
    assert report["rows"] == {"test": n_test, "train": n_train} and report["n"] == n_test + n_train
    assert both["coords"].shape == (n_test + n_train, 2)
    assert (both["split"][:n_test] == 0).all() and (both["split"][n_test:] == 1).all()
    assert (both["index"][:n_test] == np.arange(n_test)).all() and (both["index"][n_test:] == np.arange(n_train)).all()


def test_a_training_row_is_that_training_images_code(vae, tmp_path, capsys):
    """PCA is a linear map of the codes: the row that says (train, j) is where training image j's
    own code lands on the map's axes."""
    from explorer.analysis.latent import encode
    from explorer.checkpoints import load_checkpoint
    from explorer.data import load_dataset
    from explorer.maps.projection import load_cached

    _, both = _project(vae, tmp_path, "all", capsys)
    train = load_dataset("digits", "train")
    j = len(train.labels) - 7
    mu, _ = encode(load_checkpoint(vae).model, train.images[j:j + 1], train.labels[j:j + 1])
    pca = load_cached(vae / "projections", "pca", None)
    assert pca is not None and len(pca.coords) == len(both["coords"])
    expected = (mu[0] - pca.mean) @ pca.components.T
    r = splits.rows_of({"test": int((both["split"] == 0).sum()), "train": len(train.labels)}).row("train", j)
    assert both["split"][r] == 1 and both["index"][r] == j
    np.testing.assert_allclose(both["coords"][r], expected, atol=1e-4)


def test_split_errors_are_one_clear_line(vae, tmp_path, capsys):
    from explorer.cli import main

    assert main(["project", "--checkpoint", str(vae), "--method", "pca", "--split", "all",
                 "--out", str(tmp_path / "map.csv")]) == 2
    assert "--out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["project", "--checkpoint", str(vae), "--method", "pca", "--split", "validation"])
    assert "invalid choice: 'validation'" in capsys.readouterr().err


def test_rows_name_each_point_by_split_and_index():
    codes, rows = splits.stack({"train": np.ones((4, 3)), "test": np.zeros((2, 3))})
    assert (codes[:2] == 0).all() and (codes[2:] == 1).all()  # test first, whatever the order given
    assert rows.counts() == {"test": 2, "train": 4}
    assert rows.row("test", 1) == 1 and rows.row("train", 3) == 5
    with pytest.raises(ValueError, match="no train image 4"):
        rows.row("train", 4)
    with pytest.raises(ValueError, match="unknown split"):
        splits.rows_of({"validation": 3})


# ---------------------------------------------------------------- the optional GPU path (cuML)

def test_without_cuml_maps_are_made_on_the_cpu_with_the_cpu_keys(tmp_path):
    """No cuML here: "auto" is the CPU path, its map and its cache key the same as "cpu"'s; asking
    for cuML outright is a clear error, never a silent CPU map."""
    from explorer.maps import gpu
    from explorer.maps.projection import ProjectionError, cache_key, project

    assert not gpu.available()
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    auto = project(x, "umap", {"n_neighbors": 5}, cache_dir=tmp_path)
    cpu = project(x, "umap", {"n_neighbors": 5}, backend="cpu")
    np.testing.assert_array_equal(auto.coords, cpu.coords)
    assert auto.key == cpu.key == cache_key(x, "umap", auto.params, 0)
    assert cache_key(x, "umap", auto.params, 0, "cuml") != auto.key  # a GPU map is never served as the CPU's
    with pytest.raises(ProjectionError, match="needs RAPIDS cuML and a CUDA GPU"):
        project(x, "tsne", {"perplexity": 5}, backend="cuml")
    with pytest.raises(ProjectionError, match="backend must be one of"):
        project(x, "umap", None, backend="gpu")
    assert gpu.where("cuml", "pca") == "cpu"  # PCA needs no GPU


def test_nearest_neighbours_are_the_same_whatever_the_thread_count():
    from explorer.maps.umap_layout import knn

    x = np.random.default_rng(1).normal(size=(4000, 6))  # four blocks of rows
    one_idx, one_dist = knn(x, 9, threads=1)
    many_idx, many_dist = knn(x, 9, threads=3)
    np.testing.assert_array_equal(one_idx, many_idx)
    np.testing.assert_array_equal(one_dist, many_dist)
    assert (one_idx[:, 0] == np.arange(len(x))).all()
