"""Property-based fuzzing of the CLI's argument values, in-process (`explorer.cli.main([...])`):
sample, predict, project and evaluate with fuzzed numbers, strings, paths and input files (issue 17).

The property (tests/fuzzing.py): exit status 0, or a nonzero status with an `error:` line
(argparse's usage errors included); never a traceback; within the time bound and the memory
budget; and no file written but the output asked for (--out; evaluate's metrics.json and model
card; project's projections/ folder; the dataset cache). Left out: `train` (a whole training
run per example) and `evaluate --reference` (trains the reference MLP). Run longer with `make fuzz`.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from explorer.checkpoints import save_checkpoint
from explorer.cli import main
from explorer.core.state import TrainState
from fuzzing import assert_wrote_only, files_under, npy_bytes, outcome, sandbox
from helpers import tiny_model, tiny_model_cfg, tiny_train_cfg

LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
CHECKPOINTS = ["digits/hybrid-3d", "digits/cvae-3d", "checkpoints/digits/hybrid-3d", "digits/nothing", "digits"]


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint root with a tiny hybrid (samples and predicts) and a tiny cvae (needs --label)."""
    root = tmp_path_factory.mktemp("fuzz-cli")
    for kind in ("hybrid", "cvae"):
        save_checkpoint(root / "digits" / f"{kind}-3d", tiny_model(kind, latent_dim=3, num_classes=10),
                        tiny_model_cfg(kind, latent_dim=3, num_classes=10), tiny_train_cfg(), "digits", TrainState())
    return root


def run_cli(tiny_root: Path, argv: list[str], inputs: dict[str, bytes] | None = None, allowed=lambda p: False):
    """`main(argv)` in a sandbox holding a copy of the tiny checkpoints: (status, stderr)."""
    with sandbox() as root:
        shutil.copytree(tiny_root, root / "checkpoints")
        for name, data in (inputs or {}).items():
            (root / name).write_bytes(data)
        before = files_under(root)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            status = outcome(_status, argv)
        assert not isinstance(status, Exception), f"{type(status).__name__} escaped main(): {status}"
        if status != 0:
            assert "error:" in err.getvalue(), f"exit {status} without an error: line: {err.getvalue()!r}"
        assert_wrote_only(root, before, allowed=lambda p: p.startswith("cache/") or (status == 0 and allowed(p)))
        return status, err.getvalue()


def _status(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse's usage errors: status 2 and a "...: error: ..." line
        return e.code if isinstance(e.code, int) else 1


def _relative(path: str) -> bool:
    """A path the sandbox can hold: relative and never climbing out of it."""
    return bool(path) and not path.startswith(("/", "~")) and ".." not in path.split("/") and "\x00" not in path


NUMBERS = st.integers(-3, 70) | st.integers() | st.sampled_from(["", "x", "1e3", "nan", "inf", "-0", " 7", "0x10"])
OUT = st.sampled_from(["out.npy", "sub/out.npy", "out.txt", "out", ".npy", "checkpoints", "out.npy/"]) \
    | st.text(min_size=1, max_size=20).filter(_relative)


def _flag(name: str, value) -> list[str]:
    return [] if value is None else [name, str(value)]


# ---------------------------------------------------------------- sample

@given(ckpt=st.sampled_from(CHECKPOINTS) | st.text(max_size=20).filter(_relative), n=NUMBERS,
       label=st.none() | NUMBERS, seed=st.none() | NUMBERS, out=OUT)
@example(ckpt="digits/hybrid-3d", n=3, label=None, seed=2**64, out="out.npy")     # RuntimeError (fixed)
@example(ckpt="digits/hybrid-3d", n=3, label=None, seed=0, out="out.npy/")        # IsADirectory... (fixed)
@example(ckpt="digits/hybrid-3d", n=3, label=None, seed=0, out="checkpoints.npy/x.npy")
def test_fuzz_cli_sample(tiny_root: Path, ckpt: str, n, label, seed, out: str) -> None:
    argv = ["sample", "--checkpoint", ckpt, "--n", str(n), "--out", out, *_flag("--label", label), *_flag("--seed", seed)]
    status, _ = run_cli(tiny_root, argv, allowed=lambda p: p == Path(out).as_posix())
    assert status in (0, 2)


# ---------------------------------------------------------------- predict

SHAPES = st.sampled_from([(3, 1, 8, 8), (0, 1, 8, 8), (2, 8, 8), (1, 1, 8, 9), (2, 3, 8, 8), ()])
IMAGES = (hnp.arrays(st.sampled_from([np.float32, np.float64, np.float16]), SHAPES,
                     elements=st.floats(0, 1, width=16) | st.sampled_from([-1.0, 2.0, np.nan, np.inf]))
          | hnp.arrays(st.sampled_from([np.uint8, np.int64, np.bool_]), SHAPES)).map(lambda a: _npy(a))


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@given(images=IMAGES | npy_bytes() | st.binary(max_size=100), ckpt=st.sampled_from(CHECKPOINTS[:3]),
       out=OUT)
@example(images=b"", ckpt="digits/hybrid-3d", out="p.npy")                   # EOFError (fixed)
@example(images=b"PK\x03\x04", ckpt="digits/hybrid-3d", out="p.npy")         # BadZipFile (fixed)
@example(images=_npy(np.full((2, 1, 8, 8), np.nan, np.float32)), ckpt="digits/hybrid-3d", out="p.npy")
@example(images=_npy(np.zeros((2, 1, 8, 8), np.float32)), ckpt="digits/hybrid-3d", out="images.npy/p.npy")
@example(images=_npy(np.zeros((2, 1, 8, 8), np.float32)), ckpt="digits/hybrid-3d", out="checkpoints/digits.npy")
def test_fuzz_cli_predict(tiny_root: Path, images: bytes, ckpt: str, out: str) -> None:
    argv = ["predict", "--checkpoint", ckpt, "--images", "images.npy", "--out", out]
    status, _ = run_cli(tiny_root, argv, {"images.npy": images}, allowed=lambda p: p == Path(out).as_posix())
    assert status in (0, 2)


# ---------------------------------------------------------------- project

FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.floats(0, 1) | st.integers(-2, 200)


@given(method=st.sampled_from(["pca", "umap", "tsne", "PCA", ""]), n_neighbors=st.none() | NUMBERS,
       min_dist=st.none() | FLOATS, perplexity=st.none() | FLOATS, seed=st.none() | NUMBERS,
       ckpt=st.sampled_from(CHECKPOINTS))
def test_fuzz_cli_project(tiny_root: Path, method, n_neighbors, min_dist, perplexity, seed, ckpt) -> None:
    if not LONG:  # a real UMAP or t-SNE map costs seconds (numba's first compile, tens): only in `make fuzz`
        assume(method == "pca" or n_neighbors is not None or min_dist is not None or perplexity is not None)
    argv = ["project", "--checkpoint", ckpt, "--method", method, *_flag("--n-neighbors", n_neighbors),
            *_flag("--min-dist", min_dist), *_flag("--perplexity", perplexity), *_flag("--seed", seed)]
    allowed = lambda p: p.startswith(f"checkpoints/{ckpt.removeprefix('checkpoints/')}/projections/")  # noqa: E731
    status, _ = run_cli(tiny_root, argv, allowed=allowed)
    assert status in (0, 2)


# ---------------------------------------------------------------- evaluate

@given(ckpt=st.sampled_from(CHECKPOINTS), classifier=st.none() | st.sampled_from(CHECKPOINTS),
       iwae_k=st.none() | st.integers(-3, 150) | st.integers(), data_dir=st.none() | st.text(max_size=10).filter(_relative))
@example(ckpt="digits/hybrid-3d", classifier=None, iwae_k=10**9, data_dir=None)   # RuntimeError: 1 TB (fixed)
def test_fuzz_cli_evaluate(tiny_root: Path, ckpt, classifier, iwae_k, data_dir) -> None:
    argv = ["evaluate", "--checkpoint", ckpt, *_flag("--classifier", classifier), *_flag("--iwae-k", iwae_k),
            *_flag("--data-dir", data_dir)]
    name = ckpt.removeprefix("checkpoints/")
    status, _ = run_cli(tiny_root, argv, allowed=lambda p: p in (f"checkpoints/{name}/metrics.json",
                                                                  f"checkpoints/{name}/README.md"))
    assert status in (0, 2)
