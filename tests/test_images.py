"""A person's own image: every kind of bad file is refused or converted with a clear message,
and a good drawing comes out framed the way the dataset's images are.

Every file here is made for real with Pillow (or, for the decompression bomb, a real PNG
written chunk by chunk), then fed to explorer.data.images as the bytes an upload would give.
"""
from __future__ import annotations

import io
import resource
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from explorer.data import images
from explorer.data.images import BlankImage, ImageError


# ---------------------------------------------------------------- making files

def stroke(size=(300, 200), ink="black", paper="white", mode="RGB") -> Image.Image:
    """A thick diagonal stroke: what a person draws or photographs."""
    im = Image.new(mode, size, paper)
    ImageDraw.Draw(im).line([(100, 30), (150, 170)], fill=ink, width=15)
    return im


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def bomb_png(side: int = 20000) -> bytes:
    """A valid 1-bit greyscale PNG of side x side pixels: ~50 KB on disk, 400 megapixels decoded."""
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + (side + 7) // 8)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """The plain RGB PNG of the stroke, prepared for MNIST: what every conversion should match."""
    return images.prepare_upload(encode(stroke()), "mnist").image


def close(a: np.ndarray, b: np.ndarray, tol: float = 0.08) -> bool:
    return a.shape == b.shape and float(np.abs(a - b).mean()) < tol


# ---------------------------------------------------------------- a good image

@pytest.mark.parametrize("dataset, side, box", [("mnist", 28, 20), ("fashion-mnist", 28, 28), ("digits", 8, 8)])
def test_a_drawing_is_framed_like_the_dataset(dataset, side, box):
    p = images.prepare_upload(encode(stroke()), dataset)
    x = p.image[0]
    assert p.image.shape == (1, side, side) and p.image.dtype == np.float32
    assert x.min() >= 0 and x.max() == pytest.approx(1.0, abs=0.15)
    ink = x > 0.2
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    longest = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    assert abs(longest - box) <= 1                       # the longest side fills the dataset's box
    assert x[0].max() == 0 or box == side                # a margin is left where the dataset has one
    assert any("inverted" in n for n in p.notes)         # black on white became bright on black


def test_mnist_is_centred_by_mass_and_fashion_by_box():
    im = Image.new("L", (200, 200), 255)
    d = ImageDraw.Draw(im)
    d.rectangle([20, 80, 40, 120], fill=0)                # a small blob on the left
    d.line([(40, 100), (180, 100)], fill=0, width=10)     # a long arm to the right: the mass is off the box centre
    data = encode(im)
    m = images.prepare_upload(data, "mnist").image[0]
    ys, xs = np.mgrid[:28, :28]
    assert abs((m * xs).sum() / m.sum() - 13.5) <= 0.75   # centre of mass in the middle
    cols = np.flatnonzero((m > 0.2).any(0))
    assert abs((cols[0] + cols[-1]) / 2 - 13.5) >= 1       # so the box is off the middle
    f = images.prepare_upload(data, "fashion-mnist").image[0]
    cols = np.flatnonzero((f > 0.2).any(0))
    assert abs((cols[0] + cols[-1]) / 2 - 13.5) <= 0.5     # bounding box in the middle


def test_digits_come_out_in_sixteenths_like_sklearn():
    x = images.prepare_upload(encode(stroke()), "digits").image
    assert np.allclose(x * 16, np.round(x * 16))


def test_light_ink_on_dark_is_not_inverted_and_matches(reference):
    p = images.prepare_upload(encode(stroke(ink="white", paper="black")), "mnist")
    assert not any("inverted" in n for n in p.notes)
    assert close(p.image, reference)


# ---------------------------------------------------------------- files that are not usable images

@pytest.mark.parametrize("data, says", [
    (b"", "empty"),
    (b"hello, this is a text file and not a picture\n" * 20, "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "not an image"),           # a PNG signature and nothing valid
])
def test_not_an_image_is_refused(data, says):
    with pytest.raises(ImageError, match=says):
        images.prepare_upload(data, "mnist")


def test_other_formats_are_not_even_tried():
    with pytest.raises(ImageError, match="not an image this app can read"):
        images.prepare_upload(encode(stroke(), "TIFF"), "mnist")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_truncated_file_is_refused(fmt):
    data = encode(stroke(size=(400, 400)), fmt)
    with pytest.raises(ImageError, match="damaged or cut off"):
        images.prepare_upload(data[: len(data) // 2], "mnist")


def test_a_file_over_the_upload_limit_is_refused():
    with pytest.raises(ImageError, match="MB"):
        images.prepare_upload(b"\x89PNG" + b"\x00" * (images.MAX_BYTES + 1), "mnist")


def test_a_one_pixel_image_is_refused():
    with pytest.raises(ImageError, match="only 1 x 1 pixels"):
        images.prepare_upload(encode(Image.new("L", (1, 1), 0)), "mnist")


def test_a_decompression_bomb_is_refused_unread():
    data = bomb_png(20000)
    assert len(data) < images.MAX_BYTES                 # small on disk: only the header tells
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ImageError, match="megapixels"):
        images.prepare_upload(data, "mnist")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100                                # decoding it would take 400 MB


def test_a_large_image_under_pillows_own_limit_is_refused_by_ours():
    data = bomb_png(6000)                                # 36 megapixels: Pillow alone would decode it
    with pytest.raises(ImageError, match="36 megapixels"):
        images.prepare_upload(data, "mnist")


def test_a_blank_image_says_there_is_nothing_to_see():
    with pytest.raises(BlankImage, match="flat colour"):
        images.prepare_upload(encode(Image.new("RGB", (64, 64), (200, 200, 200))), "mnist")


# ---------------------------------------------------------------- files that are converted

def test_sixteen_bit_is_scaled(reference):
    grey = np.asarray(stroke().convert("L"), dtype=np.uint16) * 257
    im = Image.fromarray(grey)
    assert im.mode.startswith("I;16")
    p = images.prepare_upload(encode(im), "mnist")
    assert any("16-bit" in n for n in p.notes)
    assert close(p.image, reference)


@pytest.mark.parametrize("ink, paper_fill", [((0, 0, 0, 255), "white"), ((255, 255, 255, 255), "black")])
def test_transparent_background_goes_on_the_contrasting_colour(reference, ink, paper_fill):
    p = images.prepare_upload(encode(stroke(ink=ink, paper=(0, 0, 0, 0), mode="RGBA")), "mnist")
    assert any(f"filled with {paper_fill}" in n for n in p.notes)
    assert close(p.image, reference)


def test_fully_transparent_is_blank():
    with pytest.raises(BlankImage, match="transparent"):
        images.prepare_upload(encode(Image.new("RGBA", (50, 50), (0, 0, 0, 0))), "mnist")


def test_palette_is_converted(reference):
    p = images.prepare_upload(encode(stroke().convert("P")), "mnist")
    assert any("palette" in n for n in p.notes)
    assert close(p.image, reference)


def test_cmyk_jpeg_is_converted(reference):
    im = stroke().convert("CMYK")
    p = images.prepare_upload(encode(im, "JPEG", quality=95), "mnist")
    assert any("CMYK" in n for n in p.notes)
    assert close(p.image, reference, tol=0.1)


@pytest.mark.parametrize("fmt", ["GIF", "PNG"])
def test_animated_gives_its_first_frame_and_says_so(reference, fmt):
    first = stroke().convert("P" if fmt == "GIF" else "RGB")
    other = Image.new(first.mode, first.size, 0 if fmt == "GIF" else "white")
    ImageDraw.Draw(other).ellipse([30, 30, 170, 170], outline=255 if fmt == "GIF" else "black", width=20)
    data = encode(first, fmt, save_all=True, append_images=[other, first], duration=100, loop=0)
    p = images.prepare_upload(data, "mnist")
    assert any("animated (3 frames)" in n for n in p.notes)
    assert close(p.image, reference)


def test_a_big_photo_is_shrunk_before_work(reference):
    big = stroke().resize((3000, 2000))
    p = images.prepare_upload(encode(big, "JPEG", quality=90), "mnist")
    assert max(p.original.shape) <= images.WORK_SIDE
    assert close(p.image, reference)


# ---------------------------------------------------------------- the drawing canvas

def test_a_canvas_drawing_matches_the_same_drawing_uploaded(reference):
    rgba = np.asarray(stroke(ink=(0, 0, 0, 255), paper=(0, 0, 0, 0), mode="RGBA"))
    assert close(images.prepare_canvas(rgba, "mnist").image, reference)
    opaque = np.asarray(stroke().convert("RGBA"))             # a canvas with a painted white background
    assert close(images.prepare_canvas(opaque, "mnist").image, reference)


def test_an_empty_canvas_is_blank_not_an_error_trace():
    with pytest.raises(BlankImage, match="empty"):
        images.prepare_canvas(np.zeros((280, 280, 4), np.uint8), "mnist")
    with pytest.raises(BlankImage):
        images.prepare_canvas(np.full((280, 280, 4), 255, np.uint8), "mnist")


def test_a_canvas_of_the_wrong_shape_is_refused():
    with pytest.raises(ImageError, match=r"\(H, W, 4\)"):
        images.prepare_canvas(np.zeros((280, 280), np.uint8), "mnist")


def test_a_decompression_bomb_is_refused_in_plain_words():
    with pytest.raises(ImageError) as refused:
        images.prepare_upload(bomb_png(20000), "mnist")
    assert "bomb" not in str(refused.value) and "DOS" not in str(refused.value)
    assert "6000 x 4000" in str(refused.value)
