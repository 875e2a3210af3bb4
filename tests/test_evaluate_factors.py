"""`evaluate` on a dataset with known factors (shapes) reports the MIG and the per-dimension table,
in its JSON and in metrics.json; on a dataset without them it reports neither."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from explorer.checkpoints import CARD_FILE, METRICS_FILE, save_checkpoint
from explorer.cli import main
from explorer.analysis.factors import factor_figures
from explorer.data import ImageDataset, get_spec, load_dataset
from helpers import checkpoint_train_cfg, tiny_model_cfg


def _some_shapes(n: int = 256) -> ImageDataset:
    test = load_dataset("shapes", "test")
    return ImageDataset(pixels=test.pixels[:n], labels=test.labels[:n], spec=test.spec, split="test",
                        factors=test.factors[:n])


def _tiny_vae(kind: str = "vae"):
    from explorer.models import build_model
    torch.manual_seed(0)
    return build_model(tiny_model_cfg(kind, image_shape=(3, 32, 32), latent_dim=3, num_classes=4)).eval()


@pytest.mark.parametrize("kind", ["vae", "cvae", "hybrid"])
def test_every_vae_kind_gets_a_table_row_per_dim_and_factor(kind: str, explorer_env) -> None:
    figures = factor_figures(_tiny_vae(kind), _some_shapes())
    names = list(get_spec("shapes").factor_names)
    assert 0.0 <= figures["mig"] <= 1.0 and list(figures["mig_per_factor"]) == names
    assert len(figures["factor_mi"]) == 3 and all(list(row) == names for row in figures["factor_mi"])


def test_a_classifier_or_a_dataset_without_factors_gets_nothing(explorer_env) -> None:
    shapes = _some_shapes()
    assert factor_figures(_tiny_vae("classifier"), shapes) == {}
    no_factors = ImageDataset(pixels=shapes.pixels, labels=shapes.labels, spec=shapes.spec, split="test")
    assert factor_figures(_tiny_vae(), no_factors) == {}


@pytest.fixture
def shapes_vae(explorer_env: dict[str, Path]) -> Path:
    """A tiny 3-D VAE on shapes, trained three steps on part of the test split (the fast way)."""
    from explorer.training import train

    model_cfg = tiny_model_cfg("vae", image_shape=(3, 32, 32), latent_dim=3, num_classes=4)
    train_cfg = checkpoint_train_cfg("shapes")
    result = train(model_cfg, train_cfg, _some_shapes())
    path = explorer_env["checkpoints"] / "shapes" / "vae-3d"
    save_checkpoint(path, result.model, model_cfg, train_cfg, "shapes", result.state)
    return path


@pytest.mark.slow  # no process, but it scores the 4,000 test images of shapes: a minute on 2 busy cores
def test_evaluate_reports_the_mig_and_which_dim_knows_which_factor(shapes_vae: Path, capsys) -> None:
    assert main(["evaluate", "--checkpoint", "shapes/vae-3d", "--iwae-k", "0"]) == 0
    figures = json.loads(capsys.readouterr().out)
    names = list(get_spec("shapes").factor_names)
    assert 0.0 <= figures["mig"] <= 1.0
    assert list(figures["mig_per_factor"]) == names
    assert len(figures["factor_mi"]) == 3 and all(list(row) == names for row in figures["factor_mi"])
    assert all(0.0 <= v <= 1.0 for row in figures["factor_mi"] for v in row.values())
    written = json.loads((shapes_vae / METRICS_FILE).read_text())
    assert written["mig"] == pytest.approx(figures["mig"]) and written["factor_mi"] == figures["factor_mi"]
    card = (shapes_vae / CARD_FILE).read_text()  # the model card has the table, a row per dimension
    assert "| mig |" in card and "| dimension | shape | colour | scale | rotation | x | y |" in card and "| z2 |" in card


def test_a_dataset_without_factors_gets_no_mig(tiny_checkpoints: Path, explorer_env, capsys) -> None:
    shutil.copytree(tiny_checkpoints, explorer_env["checkpoints"], dirs_exist_ok=True)
    assert main(["evaluate", "--checkpoint", "digits/vae-2d", "--iwae-k", "0"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert "neg_elbo" in figures and "mig" not in figures and "factor_mi" not in figures


SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints" / "shapes"


def test_the_shipped_shapes_pair_shows_the_beta_vae_more_disentangled() -> None:
    """The teaching example ships (scripts/train_shipped.sh): the same 10-D shapes vae at beta 1 and
    beta 4; its MIG, written by evaluate, is clearly higher at beta 4."""
    from explorer.checkpoints import load_checkpoint

    plain, beta = (load_checkpoint(SHIPPED / name, with_model=False) for name in ("vae-10d", "vae-10d-beta4"))
    assert (plain.model_cfg.beta, beta.model_cfg.beta) == (1.0, 4.0)
    assert plain.train_cfg.to_dict() == beta.train_cfg.to_dict()  # beta is the only difference
    assert beta.metrics["mig"] > 2 * plain.metrics["mig"]
    assert len(beta.metrics["factor_mi"]) == 10


def test_the_shipped_mig_is_what_the_weights_give(explorer_env) -> None:
    from explorer.checkpoints import load_checkpoint

    ckpt = load_checkpoint(SHIPPED / "vae-10d-beta4")
    assert factor_figures(ckpt.model, load_dataset("shapes", "test"))["mig"] == pytest.approx(ckpt.metrics["mig"], abs=0.01)  # another CPU's rounding may move a code to the next bin
