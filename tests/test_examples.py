"""The examples/ run as a user runs them: a fresh interpreter, from the repository root."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_torch_factory_example_explores_one_model_both_ways(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EXPLORER_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "examples/torch_factory/run_example.py", "--workdir", str(tmp_path),
                           "--steps", "50"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.count('"neg_elbo"') == 2  # evaluate ran through the factory and on the ONNX folder
    # the same model both ways: the same samples from the same seed
    factory, onnx = (np.load(tmp_path / f"samples-{tag}.npy") for tag in ("factory", "onnx"))
    assert factory.shape == (16, 1, 8, 8) and np.abs(factory - onnx).max() < 1e-4
