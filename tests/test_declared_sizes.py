"""Fault class 3, declared sizes beyond the bytes there: every format that declares its own sizes
(.npy and .npz headers, IDX dimensions) is checked against the bytes the file holds and against
the memory budget (explorer/core/limits.py) before anything is allocated.

The case of the issue: an .npy given to `predict` whose header declares a billion images and
holds none; numpy alone tries to allocate 2.85 TiB. Here it is one line and exit status 2.
"""
from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from explorer.checkpoints import save_checkpoint
from explorer.cli import main
from explorer.core import diskcache
from explorer.core.errors import ExplorerError
from explorer.core.limits import MEMORY_BUDGET_BYTES, check_declared
from explorer.core.npyfile import check_npz, load_npy
from explorer.core.state import TrainState
from explorer.data import DataError
from explorer.data.idx import read_idx
from helpers import tiny_model, tiny_model_cfg, tiny_train_cfg

pytestmark = pytest.mark.usefixtures("explorer_env")


def npy_header_only(path: Path, shape: tuple, descr: str = "<f4") -> Path:
    """An .npy file whose header declares `shape` and which holds no data at all."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
    return path


def test_predict_refuses_a_billion_declared_images_without_allocating(tmp_path, capsys):
    ckpt = save_checkpoint(tmp_path / "classifier", tiny_model("classifier", num_classes=10),
                           tiny_model_cfg("classifier"), tiny_train_cfg(), "digits", TrainState(epoch=1))
    images = npy_header_only(tmp_path / "x.npy", (10**9, 1, 8, 8))
    out = tmp_path / "pred.npy"
    code = main(["predict", "--checkpoint", str(ckpt), "--images", str(images), "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    assert str(images) in err and f"declares {10**9 * 64 * 4:,} bytes" in err and "holds only 0" in err
    assert not out.exists()


def test_an_npy_over_the_budget_is_refused_even_when_its_bytes_are_there(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((1000, 8), np.float32))
    assert load_npy(path, "x").shape == (1000, 8)
    with pytest.raises(ExplorerError, match="more than the 1,000 bytes"):
        load_npy(path, "x", budget=1000)


def test_a_truncated_npy_is_refused_before_numpy_reads_it(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((100, 8), np.float32))
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(ExplorerError, match="declares 3,200 bytes of data but holds only 3,196"):
        load_npy(path, "x")


def test_a_cached_npz_whose_member_declares_more_than_it_holds_is_a_miss(tmp_path):
    path = tmp_path / "cache.npz"
    with zipfile.ZipFile(path, "w") as z:
        with z.open("coords.npy", "w") as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False,
                                                          "shape": (10**12, 2)})
    with pytest.raises(ExplorerError, match="coords.npy declares"):
        check_npz(path)
    assert diskcache.read_npz(path) is None


def test_a_cached_npy_declaring_more_than_it_holds_is_a_miss(tmp_path):
    path = npy_header_only(tmp_path / "decoded.npy", (10**9, 784), descr="|u1")
    assert diskcache.read_npy(path) is None
    diskcache.write_npy(path, np.arange(6, dtype=np.uint8))
    assert np.array_equal(diskcache.read_npy(path), np.arange(6))


def test_idx_dimensions_whose_product_wraps_in_int64_are_refused(tmp_path):
    # 2**31 x 2**31 x 4 = 2**64, which np.prod in int64 wraps to 0: the 16-byte header looked complete
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(struct.pack(">HBB3I", 0, 8, 3, 2**31, 2**31, 4))
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)


@pytest.mark.parametrize("nbytes, available, words", [
    (-1, None, "negative"),
    (10, 9, "declares 10 bytes of data but holds only 9"),
    (MEMORY_BUDGET_BYTES + 1, None, "more than the"),
    (2**200, 2**201, "more than the"),
])
def test_check_declared(nbytes, available, words):
    with pytest.raises(ExplorerError, match=words):
        check_declared(nbytes, available, "the file")
    check_declared(min(max(nbytes, 0), 9), available, "the file")  # what is there and fits passes
