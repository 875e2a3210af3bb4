"""A person's own folder of images as a dataset: tiny folders generated with Pillow, loaded for real.

Every test checks at the end (the `untouched` fixture) that nothing in the folder was written."""
from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explorer.data import DataError, SIDES, folder_dataset_id, folder_report, get_spec, load_dataset
from explorer.data import folder_decode, folders as folders_module, images
from explorer.data.folder_decode import decode_all, decode_file

pytestmark = pytest.mark.usefixtures("explorer_env")

COLOURS = {"cats": (220, 40, 40), "dogs": (40, 40, 220), "owls": (40, 200, 40)}


def png(path: Path, size=(20, 30), colour=(200, 0, 0), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fill = colour[0] if mode == "L" else colour
    Image.new(mode, size, fill).save(path)
    return path


def make_folder(root: Path, per_class: int = 5, classes=COLOURS, mode="RGB") -> Path:
    for name, colour in classes.items():
        for i in range(per_class):
            png(root / name / f"{i:02d}.png", (16 + i, 24), colour, mode)
    return root


def snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            data = p.read_bytes() if p.is_file() and not p.is_symlink() else b""
            out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns, data)
    return out


@pytest.fixture
def pets(tmp_path: Path):
    """Three colour classes of five images; asserts afterwards that the folder is as it was."""
    root = make_folder(tmp_path / "pets")
    before = snapshot(root)
    yield root
    assert snapshot(root) == before, "the folder was written to"


@pytest.fixture
def pets_to_change(tmp_path: Path) -> Path:
    """The same folder, for tests that change it themselves (and check what they load leaves it)."""
    return make_folder(tmp_path / "pets")


def problems_of(name: str) -> dict[str, str]:
    return {p.where: p.reason for p in folder_report(name)}


# ---------------------------------------------------------------- the dataset

def test_a_folder_loads_as_a_dataset_with_its_classes_sorted_and_a_stratified_split(pets):
    name = folder_dataset_id(pets, 32)
    assert name == f"folder:32:{pets.resolve()}"
    spec = get_spec(name)
    assert spec.name == name and spec.title == "pets"
    assert spec.class_names == ("cats", "dogs", "owls") and spec.image_shape == (3, 32, 32)
    train, test = load_dataset(name, "train"), load_dataset(name, "test")
    assert train.pixels.dtype == np.uint8 and train.pixels.shape == (12, 3, 32, 32)
    assert test.pixels.shape == (3, 3, 32, 32)
    assert sorted(test.labels.tolist()) == [0, 1, 2], "every class is in the test split"
    assert (spec.n_train, spec.n_test) == (12, 3)
    assert train.images.dtype == np.float32 and train.images.shape == train.pixels.shape
    np.testing.assert_array_equal(train.images, train.pixels / np.float32(255))
    red = train.pixels[train.labels == 0][0]
    assert tuple(red[:, 16, 16]) == COLOURS["cats"], "the centre holds the image's own colour"


def test_the_aspect_ratio_is_kept_and_the_rest_padded_black(tmp_path):
    png(tmp_path / "f" / "wide" / "a.png", (64, 16), (250, 250, 0))
    png(tmp_path / "f" / "tall" / "a.png", (16, 64), (0, 250, 250))
    png(tmp_path / "f" / "tall" / "b.png", (16, 64), (0, 250, 250))
    png(tmp_path / "f" / "wide" / "b.png", (64, 16), (250, 250, 0))
    data = load_dataset(folder_dataset_id(tmp_path / "f", 32), "train")
    wide = data.pixels[data.labels == data.spec.class_names.index("wide")][0]
    assert wide[:, :12].max() == 0 and wide[:, 20:].max() == 0, "black above and below"
    assert (wide[0, 12:20] == 250).all(), "the image fills the width, 8 rows high"
    tall = data.pixels[data.labels == data.spec.class_names.index("tall")][0]
    assert tall[:, :, :12].max() == 0 and (tall[1, :, 12:20] == 250).all()


def test_grey_folders_stay_one_channel(tmp_path):
    make_folder(tmp_path / "grey", 3, {"a": (30, 30, 30), "b": (200, 200, 200)}, mode="L")
    assert get_spec(folder_dataset_id(tmp_path / "grey", 28)).image_shape == (1, 28, 28)
    make_folder(tmp_path / "as-rgb", 3, {"a": (30, 30, 30), "b": (200, 200, 200)}, mode="RGB")
    assert get_spec(folder_dataset_id(tmp_path / "as-rgb", 64)).image_shape == (1, 64, 64)
    png(tmp_path / "grey" / "a" / "colour.png", colour=(255, 0, 0))
    assert get_spec(folder_dataset_id(tmp_path / "grey", 28)).image_shape == (3, 28, 28)


def test_train_and_test_subfolders_are_the_split(tmp_path):
    make_folder(tmp_path / "f" / "train", 4)
    make_folder(tmp_path / "f" / "test", 2)
    name = folder_dataset_id(tmp_path / "f", 32)
    assert len(load_dataset(name, "train")) == 12 and len(load_dataset(name, "test")) == 6
    assert get_spec(name).class_names == ("cats", "dogs", "owls")


def test_the_split_is_stored_outside_the_folder_and_never_changes(pets_to_change, tmp_path, explorer_env):
    pets = pets_to_change
    name = folder_dataset_id(pets, 32)
    first = load_dataset(name, "test").pixels
    assert list((explorer_env["cache"] / "folders").glob("split-*.npz")), "kept in the cache dir"
    for i in range(5, 9):  # more cats: the folder changes, the old files keep their side
        png(pets / "cats" / f"{i:02d}.png", (30, 30), (255, 255, 255))
    again = load_dataset(name, "test").pixels
    assert all(any((old == new).all() for new in again) for old in first)


@pytest.mark.parametrize("side", SIDES)
def test_every_side_is_offered(pets, side):
    assert load_dataset(folder_dataset_id(pets, side), "train").pixels.shape[-2:] == (side, side)


def test_a_side_not_offered_is_refused(pets):
    with pytest.raises(DataError, match="28, 32, 64"):
        folder_dataset_id(pets, 48)


def test_a_path_that_is_not_a_folder_is_refused(tmp_path):
    with pytest.raises(DataError, match="not a folder"):
        folder_dataset_id(tmp_path / "nowhere", 32)


# ---------------------------------------------------------------- decoding once, then the cache

def test_progress_is_told_how_far_the_decoding_has_got(pets):
    calls = []
    load_dataset(folder_dataset_id(pets, 32), "train", progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 15) and calls[-1] == (15, 15)


def test_the_second_load_comes_from_the_disk_cache(pets, tmp_path, monkeypatch):
    name = folder_dataset_id(pets, 32)
    first = load_dataset(name, "train").pixels
    load_dataset(folder_dataset_id(make_folder(tmp_path / "other", 2), 32), "train")  # the memo moves on

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")
    monkeypatch.setattr(folders_module, "decode_all", no_decoding)
    np.testing.assert_array_equal(load_dataset(name, "train").pixels, first)


def test_a_changed_file_is_decoded_again(pets_to_change):
    pets = pets_to_change
    name = folder_dataset_id(pets, 32)
    load_dataset(name, "train")
    for i in range(5):
        png(pets / "cats" / f"{i:02d}.png", (20, 20), (255, 255, 255))
    both = np.concatenate([load_dataset(name, s).pixels[load_dataset(name, s).labels == 0] for s in ("train", "test")])
    assert (both[:, :, 16, 16] == 255).all()


@pytest.mark.slow  # starts worker processes
def test_worker_processes_decode_exactly_what_one_process_does(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_decode, "SERIAL_BELOW", 1)  # a small folder, decoded in processes all the same
    paths = [str(png(tmp_path / f"{i}.png", (10 + i % 7, 12 + i % 5), (i % 256, 3, 9), mode="RGB" if i % 3 else "L"))
             for i in range(90)]
    (tmp_path / "cut.png").write_bytes(Path(paths[0]).read_bytes()[:40])
    (tmp_path / "notes.txt").write_text("not an image")
    paths[17:17] = [str(tmp_path / "cut.png")]
    paths[60:60] = [str(tmp_path / "notes.txt"), str(tmp_path / "gone.png")]
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fall back to one process warns: here it must not
        together = decode_all(paths, 32, progress=lambda done, total: calls.append(done), workers=2)
    alone = decode_all(paths, 32, workers=1)
    assert [d.reason for d in together] == [d.reason for d in alone] and sum(d.image is None for d in alone) == 3
    for a, b in zip(together, alone):
        assert (a.image is None and b.image is None) or (a.image.shape == b.image.shape and (a.image == b.image).all())
    assert calls[0] == 0 and calls[-1] == len(paths) and calls == sorted(calls)


def test_where_worker_processes_cannot_start_the_folder_is_decoded_here_with_a_warning(tmp_path, monkeypatch):
    paths = [str(png(tmp_path / f"{i}.png", (12, 14), (i, 50, 9))) for i in range(5)]
    monkeypatch.setattr(folder_decode, "SERIAL_BELOW", 1)

    def no_forkserver(method):
        raise ValueError(f"cannot find context for {method!r}")  # what Windows answers
    monkeypatch.setattr(folder_decode.multiprocessing, "get_context", no_forkserver)
    with pytest.warns(UserWarning, match="one process"):
        decoded = decode_all(paths, 32, workers=2)
    assert [d.image[16, 16].tolist() for d in decoded] == [[i, 50, 9] for i in range(5)]


# ---------------------------------------------------------------- a folder with problems

def huge_png_header(path: Path, side: int = 5_000) -> None:
    """A PNG whose header claims side x side pixels (no pixel data follows)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def test_bad_files_are_skipped_and_listed_with_the_reason(pets_to_change, tmp_path):
    bad = pets_to_change
    whole = (bad / "cats" / "00.png").read_bytes()
    (bad / "dogs" / "cut.png").write_bytes(whole[: len(whole) // 2])
    (bad / "dogs" / "notes.txt").write_text("not an image")
    (bad / "dogs" / "empty.png").write_bytes(b"")
    png(bad / "owls" / "tiny.png", (4, 4))
    huge_png_header(bad / "owls" / "huge.png")
    (bad / "owls" / "big.png").write_bytes(os.urandom(6 * 2**20))
    before = snapshot(bad)
    found = problems_of(folder_dataset_id(bad, 32))
    assert "cut off" in found["dogs/cut.png"] and "not an image" in found["dogs/notes.txt"]
    assert "empty" in found["dogs/empty.png"] and "4 x 4" in found["owls/tiny.png"]
    assert "megapixels" in found["owls/huge.png"] and "MB" in found["owls/big.png"]
    assert all(reason.endswith("skipped") for reason in found.values())
    assert len(load_dataset(folder_dataset_id(bad, 32), "train")) == 12, "the good images are all there"
    assert snapshot(bad) == before, "nothing in the folder was written"


def test_an_empty_class_folder_is_reported_and_left_out(pets_to_change):
    pets = pets_to_change
    (pets / "empty").mkdir()
    try:
        name = folder_dataset_id(pets, 32)
        assert "empty class folder" in problems_of(name)["empty/"]
        assert get_spec(name).class_names == ("cats", "dogs", "owls")
    finally:
        (pets / "empty").rmdir()


def test_a_class_with_no_usable_image_is_left_out(tmp_path):
    make_folder(tmp_path / "f", 3)
    (tmp_path / "f" / "junk").mkdir()
    (tmp_path / "f" / "junk" / "a.png").write_text("text")
    name = folder_dataset_id(tmp_path / "f", 32)
    assert "no usable image" in problems_of(name)["junk/"]
    assert "junk" not in get_spec(name).class_names


def test_a_single_class_is_refused(tmp_path):
    make_folder(tmp_path / "f", 4, {"cats": (1, 2, 3)})
    with pytest.raises(DataError, match="at least two classes.*only 'cats'"):
        load_dataset(folder_dataset_id(tmp_path / "f", 32), "train")


def test_a_folder_with_no_class_folders_is_refused(tmp_path):
    png(tmp_path / "f" / "loose.png")
    with pytest.raises(DataError, match="at least two classes"):
        get_spec(folder_dataset_id(tmp_path / "f", 32))


def test_links_that_leave_the_folder_are_refused(pets_to_change, tmp_path):
    pets = pets_to_change
    secret = png(tmp_path / "elsewhere" / "secret.png", colour=(1, 2, 3))
    (pets / "cats" / "link.png").symlink_to(secret)
    (pets / "stolen").symlink_to(secret.parent, target_is_directory=True)
    (pets / "dogs" / "inside.png").symlink_to(pets / "dogs" / "00.png")
    (pets / "owls" / "loop").symlink_to(pets / "owls", target_is_directory=True)
    try:
        name = folder_dataset_id(pets, 32)
        found = problems_of(name)
        assert "leads out of the folder" in found["cats/link.png"] and "refused" in found["cats/link.png"]
        assert "leads out of the folder" in found["stolen"]
        assert "not followed" in found["owls/loop"]
        assert "stolen" not in get_spec(name).class_names
        assert get_spec(name).n_train + get_spec(name).n_test == 16, "a link inside the folder is used"
    finally:
        for link in (pets / "cats" / "link.png", pets / "stolen", pets / "dogs" / "inside.png", pets / "owls" / "loop"):
            link.unlink()


def test_names_in_any_alphabet(tmp_path):
    classes = {"γάτες": (200, 0, 0), "狗": (0, 0, 200), "بوم": (0, 200, 0)}
    make_folder(tmp_path / "φάκελος", 3, classes)
    png(tmp_path / "φάκελος" / "狗" / "小狗 ü.png", colour=(0, 0, 200))
    name = folder_dataset_id(tmp_path / "φάκελος", 32)
    spec = get_spec(name)
    assert spec.class_names == tuple(sorted(classes)) and spec.title == "φάκελος"
    assert spec.n_train + spec.n_test == 10


def test_a_file_name_that_is_not_utf8_is_read_and_shown_printably(tmp_path):
    root = make_folder(tmp_path / "f", 3)
    os.rename(root / "cats" / "00.png", os.fsencode(root / "cats") + b"/\xff\xfe.png")
    (Path(os.fsdecode(os.fsencode(root / "dogs") + b"/\xff.txt"))).write_text("no")
    name = folder_dataset_id(root, 32)
    assert get_spec(name).n_train + get_spec(name).n_test == 9
    [(where, reason)] = problems_of(name).items()
    assert where == "dogs/\ufffd.txt" and "not an image" in reason
    str(where).encode("utf-8")  # printable anywhere


def test_folder_report_takes_a_path_or_an_id(pets_to_change):
    pets = pets_to_change
    (pets / "cats" / "x.txt").write_text("?")
    try:
        assert [str(p) for p in folder_report(pets, 28)] == [str(p) for p in folder_report(folder_dataset_id(pets, 28))]
        assert len(folder_report(pets)) == 1
    finally:
        (pets / "cats" / "x.txt").unlink()


def test_jpeg_palette_transparent_and_16_bit_images_are_read(tmp_path):
    root = tmp_path / "modes"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    Image.new("RGB", (40, 40), (250, 10, 10)).save(root / "a" / "photo.jpg", quality=95)
    Image.new("RGB", (40, 40), (10, 10, 250)).convert("P", palette=Image.Palette.ADAPTIVE).save(root / "a" / "pal.png")
    Image.new("RGBA", (40, 40), (10, 250, 10, 0)).save(root / "b" / "clear.png")  # fully transparent
    Image.fromarray(np.full((40, 40), 65535, np.uint16)).save(root / "b" / "deep.png")
    name = folder_dataset_id(root, 32)
    assert folder_report(name) == []
    both = [load_dataset(get_spec(name), split) for split in ("train", "test")]
    pixels = np.concatenate([d.pixels for d in both])
    centres = sorted(tuple(int(v) for v in p[:, 16, 16]) for p in pixels)
    assert centres[0] == (0, 0, 0), "transparency is laid over black"
    assert centres[-1] == (255, 255, 255), "16-bit white stays white"
    assert any(c[0] > 200 and c[2] < 50 for c in centres) and any(c[2] > 200 and c[0] < 50 for c in centres)


def test_a_16_bit_png_gives_a_folder_the_levels_an_upload_sees(tmp_path):
    """One scaling rule (images.deep_grey): a folder rounds to the nearest 8-bit level what an
    upload of the same file reads; just below 16-bit white stays white, a faint 16-bit grey shows."""
    deep = np.linspace(0, 65535, 32 * 32).round().astype(np.uint16).reshape(32, 32)
    deep[0, :3] = [65534, 250, 32896]  # 254.996, 0.97 and 128.0 of 255
    path = tmp_path / "deep.png"
    Image.fromarray(deep).save(path)
    with Image.open(path) as img:
        assert img.mode.startswith("I;16"), img.mode  # what Pillow reads a 16-bit grey PNG as
    upload, notes = images.decode(path.read_bytes())
    folder = decode_file(str(path), 32).image  # 32 x 32: framed as it is, no resizing
    assert "16-bit grey: scaled to 0..1" in notes
    assert folder.dtype == np.uint8 and np.array_equal(folder, np.rint(upload * 255).astype(np.uint8))
    assert folder[0, :3].tolist() == [255, 1, 128] and folder[-1, -1] == 255


def test_both_splits_and_the_report_come_from_one_call(pets_to_change):
    from explorer.data import folder_datasets

    (pets_to_change / "owls" / "note.txt").write_text("?")
    name = folder_dataset_id(pets_to_change, 32)
    train, test, problems = folder_datasets(name)
    for split, got in (("train", train), ("test", test)):
        want = load_dataset(name, split)
        np.testing.assert_array_equal(got.pixels, want.pixels)
        np.testing.assert_array_equal(got.labels, want.labels)
    assert [str(p) for p in problems] == ["owls/note.txt: is not an image (PNG, JPEG, GIF, WEBP, BMP are read); skipped"]
