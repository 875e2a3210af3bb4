"""Known factors, shown in the app (shapes): the Model card's and Traverse's heat map and MIG, the
factor beside each slider it tracks, and the Map coloured by a true factor."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from explorer.analysis.factors import factor_scores
from explorer.analysis.metrics import encode_means
from explorer.checkpoints import save_checkpoint
from explorer.data import ImageDataset, load_dataset
from explorer.core.config import TrainConfig
from helpers import chart_spec, open_app, texts, tiny_model_cfg

pytestmark = pytest.mark.slow  # no process, but it trains a model and encodes shapes' 4,000 test images


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint root with one tiny 4-D VAE on shapes, trained 40 steps on 1,024 test images: enough
    for some dimensions to follow x or y, so the sliders have factors to name."""
    from explorer.training import train

    test = load_dataset("shapes", "test")
    some = ImageDataset(pixels=test.pixels[:1024], labels=test.labels[:1024], spec=test.spec, split="train")
    model_cfg = tiny_model_cfg("vae", image_shape=(3, 32, 32), latent_dim=4, num_classes=4)
    train_cfg = TrainConfig(dataset="shapes", epochs=3, max_steps=40, batch_size=64, lr=1e-2, device="cpu", amp=False)
    torch.manual_seed(0)
    result = train(model_cfg, train_cfg, some)
    root = tmp_path_factory.mktemp("shapes-checkpoints")
    save_checkpoint(root / "shapes" / "vae-4d", result.model, model_cfg, train_cfg, "shapes", result.state)
    return root


@pytest.fixture
def shapes_app(shapes_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EXPLORER_CHECKPOINTS", str(shapes_root))
    monkeypatch.setenv("EXPLORER_CHECKPOINTS_ONLY", "1")
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path / "cache"))
    return shapes_root


def _open(page: str, shapes_app: Path):
    at = open_app(page)
    at.sidebar.selectbox(key="sb_dataset").set_value("shapes").run()
    assert not at.exception, at.exception
    return at


def test_card_and_traverse_say_which_factor_each_dimension_tracks(shapes_app: Path) -> None:
    from explorer.checkpoints import load_checkpoint
    test = load_dataset("shapes", "test")
    scores = factor_scores(encode_means(load_checkpoint(shapes_app / "shapes" / "vae-4d").model, test.images),
                           test.factors, test.spec.factor_names)
    at = _open("model_card", shapes_app)
    assert f"{scores.mig:.2f}" in texts(at) and "MIG" in texts(at)
    heatmap = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert heatmap["type"] == "heatmap" and heatmap["x"] == list(test.spec.factor_names)
    at.switch_page("ui/pages/traverse.py").run()
    assert not at.exception, at.exception
    labels = {s.key: s.label for s in at.slider}
    assert any(scores.tracked())  # the model has dimensions that follow a factor, named on their sliders
    for d, factor in enumerate(scores.tracked()):
        assert (f"· {factor}" in labels[f"trav_z{d}"]) == (factor is not None), labels
    assert "Disentanglement (MIG)" in texts(at)


def test_the_map_can_be_coloured_by_a_true_factor(shapes_app: Path) -> None:
    at = _open("map", shapes_app)
    colour = at.selectbox(key="map_color")
    assert {"True x", "True colour", "True shape"} <= set(colour.options)
    colour.set_value("factor_x").run()
    assert not at.exception, at.exception
    spec = json.loads(chart_spec(at))
    assert spec["data"][0]["marker"]["colorbar"]["title"]["text"] == "x"
    assert "Colour: True x." in texts(at)
