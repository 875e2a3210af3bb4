"""CIFAR-10 from its binary archive: downloaded from a real HTTP server on 127.0.0.1 serving a tar
made here in the official layout, its MD5 checked, read without unpickling or extracting."""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import tarfile

import numpy as np
import pytest

from explorer.cli.fetch_data import fetch_data_command
from explorer.data import DataError, fetch, get_spec, load_dataset
from explorer.data.cifar import MEMBER_DIR, RECORD_BYTES, parse_records

from helpers import LocalServer

pytestmark = pytest.mark.usefixtures("explorer_env")

ARCHIVE = "cifar-10-binary.tar.gz"
N_PER_BATCH = 4  # records per batch file: 20 train, 4 test


def batches(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    return {name: (rng.integers(0, 256, (N_PER_BATCH, 3, 32, 32), dtype=np.uint8),
                   rng.integers(0, 10, N_PER_BATCH, dtype=np.uint8)) for name in names}


def record_bytes(pixels: np.ndarray, labels: np.ndarray) -> bytes:
    """The official layout: a label byte, then 1024 red, 1024 green and 1024 blue bytes."""
    return b"".join(bytes([int(y)]) + x.tobytes() for x, y in zip(pixels, labels))


def add(tar: tarfile.TarFile, name: str, data: bytes, kind: bytes = tarfile.REGTYPE, link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname = (len(data) if kind == tarfile.REGTYPE else 0), kind, link
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def archive(extra=()) -> bytes:
    """A cifar-10-binary.tar.gz in the official layout (with `extra` members added first)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for args in extra:
            add(tar, *args)
        add(tar, f"{MEMBER_DIR}/batches.meta.txt", b"airplane\nautomobile\n")
        for name, (pixels, labels) in batches().items():
            add(tar, f"{MEMBER_DIR}/{name}", record_bytes(pixels, labels))
    return buffer.getvalue()


def spec_for(data: bytes, url: str):
    """CIFAR-10's spec with the generated archive's MD5, its sizes and the local server."""
    official = get_spec("cifar-10")
    file = dataclasses.replace(official.files[0], md5=hashlib.md5(data).hexdigest())
    return dataclasses.replace(official, files=(file,), mirrors=(url,), n_train=5 * N_PER_BATCH, n_test=N_PER_BATCH)


def test_the_registry_describes_the_official_binary_version():
    spec = get_spec("cifar-10")
    assert spec.image_shape == (3, 32, 32) and spec.class_names[0] == "airplane" and spec.num_classes == 10
    assert (spec.n_train, spec.n_test) == (50_000, 10_000)
    [file] = spec.files
    assert file.filename == ARCHIVE and file.md5 == "c32a1d4ab5d03f1284b67883e8d87530"
    assert spec.mirrors == ("https://www.cs.toronto.edu/~kriz/",)


def test_a_download_is_verified_then_loaded_record_by_record(tmp_path):
    data = archive()
    with LocalServer() as server:
        server.files[ARCHIVE] = data
        spec = spec_for(data, server.url)
        target = fetch(spec, data_dir=tmp_path)
    assert sorted(p.name for p in target.iterdir()) == [ARCHIVE], "the archive only: nothing extracted"
    train, test = load_dataset(spec, "train", data_dir=tmp_path), load_dataset(spec, "test", data_dir=tmp_path)
    want = batches()
    assert train.pixels.shape == (20, 3, 32, 32) and train.pixels.dtype == np.uint8
    np.testing.assert_array_equal(train.pixels[:N_PER_BATCH], want["data_batch_1.bin"][0])
    np.testing.assert_array_equal(train.pixels[-N_PER_BATCH:], want["data_batch_5.bin"][0])
    np.testing.assert_array_equal(test.pixels, want["test_batch.bin"][0])
    np.testing.assert_array_equal(test.labels, want["test_batch.bin"][1])


def test_a_wrong_checksum_leaves_no_file(tmp_path):
    with LocalServer() as server:
        server.files[ARCHIVE] = archive()
        spec = dataclasses.replace(get_spec("cifar-10"), mirrors=(server.url,))
        with pytest.raises(DataError, match="checksum mismatch: expected MD5 c32a1d4ab5d03f1284b67883e8d87530"):
            fetch(spec, data_dir=tmp_path)
    assert list((tmp_path / "cifar-10").iterdir()) == []


def test_a_cut_off_download_leaves_no_file(tmp_path):
    data = archive()
    with LocalServer() as server:
        server.files[ARCHIVE] = data[: len(data) // 2]
        server.short[ARCHIVE] = len(data) - len(data) // 2
        with pytest.raises(DataError, match="truncated|closed early"):
            fetch(spec_for(data, server.url), data_dir=tmp_path)
    assert list((tmp_path / "cifar-10").iterdir()) == []


def test_fetch_data_cifar_10_reports_a_bad_checksum_and_leaves_nothing(tmp_path, capsys):
    with LocalServer() as server:
        server.files[ARCHIVE] = archive()
        args = argparse.Namespace(name="cifar-10", data_dir=str(tmp_path), mirror=[server.url], force=False)
        assert fetch_data_command(args) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert list((tmp_path / "cifar-10").iterdir()) == []


def test_members_outside_the_batch_folder_are_never_written_or_read(tmp_path):
    hostile = archive(extra=[
        ("../../escaped.bin", b"x" * RECORD_BYTES),
        (f"/{MEMBER_DIR}/data_batch_1.bin", b"\x09" * RECORD_BYTES),
        (f"{MEMBER_DIR}/../{MEMBER_DIR}/data_batch_2.bin", b"\x09" * RECORD_BYTES),
    ])
    (tmp_path / "cifar-10").mkdir()
    (tmp_path / "cifar-10" / ARCHIVE).write_bytes(hostile)
    spec = spec_for(hostile, "http://127.0.0.1:9/")
    train = load_dataset(spec, "train", data_dir=tmp_path)
    np.testing.assert_array_equal(train.pixels[:N_PER_BATCH], batches()["data_batch_1.bin"][0])
    assert not list(tmp_path.parent.rglob("escaped.bin"))


def test_a_batch_that_is_a_link_is_refused(tmp_path):
    linked = archive(extra=[(f"{MEMBER_DIR}/data_batch_1.bin", b"", tarfile.SYMTYPE, "/etc/passwd")])
    (tmp_path / "cifar-10").mkdir()
    (tmp_path / "cifar-10" / ARCHIVE).write_bytes(linked)
    with pytest.raises(DataError, match="not a regular file"):
        load_dataset(spec_for(linked, "http://127.0.0.1:9/"), "train", data_dir=tmp_path)


def test_a_damaged_archive_says_fetch_it_again(tmp_path):
    data = archive()
    (tmp_path / "cifar-10").mkdir()
    (tmp_path / "cifar-10" / ARCHIVE).write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match="damaged or cut off"):
        load_dataset(spec_for(data, "http://127.0.0.1:9/"), "test", data_dir=tmp_path)


def test_a_label_out_of_range_is_refused():
    with pytest.raises(DataError, match="label 10 is out of range"):
        parse_records(bytes([10]) + bytes(RECORD_BYTES - 1), get_spec("cifar-10"), "a batch")


def test_without_the_archive_the_message_says_how_to_fetch_it(tmp_path):
    with pytest.raises(DataError, match="fetch-data cifar-10"):
        load_dataset("cifar-10", "train", data_dir=tmp_path)
