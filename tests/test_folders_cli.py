"""`python -m explorer train --dataset PATH --side N`, in process: a folder trains a colour model,
the skipped files are printed, and the checkpoint records the folder's id and its image shape."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.checkpoints import load_checkpoint
from explorer.cli import main

pytestmark = pytest.mark.usefixtures("explorer_env")

TINY = ["--kind", "vae", "--latent-dim", "2", "--channels", "4,8", "--hidden", "16", "--epochs", "1",
        "--max-steps", "2", "--batch-size", "4", "--device", "cpu", "--no-evaluate", "--no-amp"]


def folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for name in ("apples", "pears"):
        for i in range(6):
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
    (root / "pears" / "readme.txt").write_text("not an image")
    return root


def test_train_on_a_folder_path_with_a_side(tmp_path, capsys):
    fruit = folder(tmp_path / "fruit")
    code = main(["train", "--dataset", str(fruit), "--side", "28", "--out-dir", str(tmp_path / "ck"), *TINY])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "pears/readme.txt: is not an image" in err and "1 item(s) in the folder were left out" in err
    [ckpt] = (tmp_path / "ck").glob("fruit-28-*/vae-2d")  # the folder's name, side and a hash of its id
    config = json.loads((ckpt / "config.json").read_text())
    assert config["dataset"] == f"folder:28:{fruit.resolve()}"
    assert load_checkpoint(ckpt).model_cfg.image_shape == (3, 28, 28)


def test_a_path_that_is_no_folder_is_one_clear_error(tmp_path, capsys):
    code = main(["train", "--dataset", str(tmp_path / "nothing"), *TINY])
    assert code == 2
    assert "neither a dataset" in capsys.readouterr().err


def test_side_is_for_folders_only(capsys):
    assert main(["train", "--dataset", "digits", "--side", "32", *TINY]) == 2
    assert "--side applies to a folder" in capsys.readouterr().err
