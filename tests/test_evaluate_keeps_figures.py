"""Nothing lost, figures included: `evaluate` with weaker settings (a smaller --iwae-k) or another
judge keeps the figures a checkpoint has, prints its own and says why nothing was written;
--overwrite replaces them; a run with at least the same effort writes.

Always on copies of the tiny checkpoints (never the shipped ones)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from explorer.checkpoints import CARD_FILE, METRICS_FILE
from explorer.cli import main


@pytest.fixture
def root(tiny_checkpoints: Path, explorer_env: dict[str, Path]) -> Path:
    """A copy of the tiny checkpoints, the CLI's default checkpoint root."""
    shutil.copytree(tiny_checkpoints, explorer_env["checkpoints"])
    return explorer_env["checkpoints"]


def evaluate(capsys, *args: str) -> tuple[dict, str]:
    """Run `python -m explorer evaluate ARGS` in this process: (the figures printed, stderr)."""
    assert main(["evaluate", *args]) == 0
    out, err = capsys.readouterr()
    return json.loads(out), err


def files(ckpt: Path) -> tuple[bytes, bytes]:
    return (ckpt / METRICS_FILE).read_bytes(), (ckpt / CARD_FILE).read_bytes()


def test_a_smaller_iwae_k_keeps_the_better_figures_unless_asked(root, capsys):
    ckpt = root / "digits" / "vae-2d"
    figures, err = evaluate(capsys, "--checkpoint", "digits/vae-2d", "--iwae-k", "5")
    assert figures["iwae_k"] == 5 and not err
    assert json.loads((ckpt / METRICS_FILE).read_text())["iwae_k"] == 5
    before = files(ckpt)

    figures, err = evaluate(capsys, "--checkpoint", "digits/vae-2d", "--iwae-k", "2")
    assert figures["iwae_k"] == 2 and "iwae_nll" in figures  # printed either way
    assert "not written" in err and "k=5" in err and "k=2" in err and "--overwrite" in err
    assert files(ckpt) == before  # metrics.json and the model card untouched

    figures, err = evaluate(capsys, "--checkpoint", "digits/vae-2d", "--iwae-k", "2", "--overwrite")
    assert not err and json.loads((ckpt / METRICS_FILE).read_text())["iwae_k"] == 2
    assert files(ckpt) != before

    evaluate(capsys, "--checkpoint", "digits/vae-2d", "--iwae-k", "3")  # more effort: written unasked
    assert json.loads((ckpt / METRICS_FILE).read_text())["iwae_k"] == 3


def test_skipping_the_iwae_bound_does_not_drop_it(root, capsys):
    evaluate(capsys, "--checkpoint", "digits/vae-2d", "--iwae-k", "4")
    figures, err = evaluate(capsys, "--checkpoint", "digits/vae-2d", "--iwae-k", "0")
    assert "iwae_nll" not in figures and "not written" in err and "none" in err
    assert json.loads((root / "digits" / "vae-2d" / METRICS_FILE).read_text())["iwae_k"] == 4


def test_another_judge_does_not_replace_conditional_fidelity(root, capsys):
    shutil.copytree(root / "digits" / "classifier", root / "digits" / "classifier-b")
    ckpt = root / "digits" / "cvae-4d"
    first, _ = evaluate(capsys, "--checkpoint", "digits/cvae-4d", "--iwae-k", "2", "--classifier", "digits/classifier")
    assert "conditional_fidelity" in first
    before = files(ckpt)
    _, err = evaluate(capsys, "--checkpoint", "digits/cvae-4d", "--iwae-k", "2", "--classifier", "digits/classifier-b")
    assert "not written" in err and "classifier-b" in err
    assert files(ckpt) == before
    # the same judge, given another way (a path, not an id), is no other judge
    _, err = evaluate(capsys, "--checkpoint", "digits/cvae-4d", "--iwae-k", "2",
                      "--classifier", str(root / "digits" / "classifier"))
    assert not err
    # without a classifier the fidelity measured before is kept
    evaluate(capsys, "--checkpoint", "digits/cvae-4d", "--iwae-k", "2")
    kept = json.loads((ckpt / METRICS_FILE).read_text())
    assert kept["conditional_fidelity"] == first["conditional_fidelity"]
    assert Path(kept["judged_by"]).name == "classifier"
