"""A person's own image, made to look like the dataset's: safe decoding and preprocessing.

    prepare_upload(data, dataset) -> Prepared     PNG / JPEG (GIF, WebP, BMP) bytes
    prepare_canvas(rgba, dataset) -> Prepared     (H, W, 4) uint8 from a drawing canvas

Decoding is defensive: the file's size and its pixel count are checked before a single
pixel is decoded (a 20000 x 20000 "decompression bomb" is refused from its header), only a
few raster formats are tried, and every failure is an `ImageError` whose message says what
was wrong and what to do. 16-bit, palette, CMYK and transparent images are converted, and
an animated image gives its first frame; each conversion is named in `Prepared.notes`.

Preprocessing follows how each dataset's own images were made (measured on the test sets):

- mnist: the digit's longest side scaled to 20 px, placed in 28 x 28 by its centre of mass
  (LeCun et al.'s description of MNIST);
- fashion-mnist: the item's longest side scaled to 28 px, centred by its bounding box
  (Zalando's pipeline: trim, resize the longest edge to 28, extend, negate); on the test
  set the median longest side is 28 and the bounding box centre 13.5;
- digits: the digit scaled to fill a 32 x 32 bitmap, thresholded, and each 4 x 4 block's
  count of set pixels (0..16) divided by 16 (how UCI made the 8 x 8 images that
  scikit-learn ships, which explorer.data divides by 16).

For those grey datasets: grey, inverted when the background is light (the datasets are bright
ink on black), background level subtracted, brightest ink scaled to 1.

A colour model (3 channels: a folder of photos, CIFAR-10, shapes) gets the picture in colour,
as its dataset's images were made: the whole picture, its longest side scaled to the side,
centred and padded with black (`fit_colour`); nothing inverted or stretched.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from explorer.core.errors import ExplorerError

MAX_BYTES = 5 * 1024 * 1024      # as server.maxUploadSize in .streamlit/config.toml
MAX_PIXELS = 24_000_000          # 6000 x 4000; an RGBA copy of it is 96 MB
MIN_SIDE = 8
WORK_SIDE = 1024                 # larger images are shrunk to this before any other step
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
DEEP_GREY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")  # grey deeper than 8 bits
INK_THRESHOLD = 0.2              # after scaling, pixels above this count as ink (for the crop)


class ImageError(ExplorerError, ValueError):
    """An image that cannot be used; the message says why and what to do instead."""


class BlankImage(ImageError):
    """An image with nothing on it (one flat colour), e.g. an empty canvas."""


@dataclass(frozen=True)
class Layout:
    """How a dataset's images are framed."""

    canvas: int              # side of the square the item is placed in (before any reduction)
    box: int                 # the item's longest side is scaled to this
    centre: str              # "mass" (centre of mass) or "box" (bounding box)
    reduce: int = 1          # then sum reduce x reduce blocks of a thresholded bitmap (digits)


LAYOUTS: dict[str, Layout] = {
    "mnist": Layout(canvas=28, box=20, centre="mass"),
    "fashion-mnist": Layout(canvas=28, box=28, centre="box"),
    "digits": Layout(canvas=32, box=32, centre="box", reduce=4),
}


@dataclass(frozen=True)
class Prepared:
    image: np.ndarray            # float32 (C, S, S) in [0, 1], framed like the dataset's images
    original: np.ndarray         # float32 (H, W) grey or (H, W, 3) colour in [0, 1] as given (at most WORK_SIDE a side)
    notes: tuple[str, ...] = ()  # what was converted on the way, in plain words


# ---------------------------------------------------------------- decoding

def decode(data: bytes, name: str = "the file", colour: bool = False) -> tuple[np.ndarray, list[str]]:
    """Bytes of an image file -> float32 in [0, 1], grey (H, W) or with `colour` RGB (H, W, 3),
    and notes on what was converted.

    Raises ImageError for anything that is not a usable image."""
    if not data:
        raise ImageError(f"{name} is empty (0 bytes). Choose a PNG or JPEG image.")
    if len(data) > MAX_BYTES:
        raise ImageError(f"{name} is {len(data) / 2**20:.1f} MB; images up to {MAX_BYTES // 2**20} MB are "
                         "accepted. Save a smaller copy.")
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{name} says it is more than {MAX_PIXELS / 1e6:.0f} megapixels, far larger than a "
                         "photo needs, so it was not opened. Use an image of at most 6000 x 4000 pixels.") from e
    except Exception as e:  # UnidentifiedImageError, or a header the plugin cannot parse
        raise ImageError(f"{name} is not an image this app can read. Choose a PNG or JPEG "
                         f"({', '.join(FORMATS)} are accepted).") from e
    with img:
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise ImageError(f"{name} is {w} x {h} pixels ({w * h / 1e6:.0f} megapixels); at most "
                             f"{MAX_PIXELS / 1e6:.0f} megapixels are accepted. Scale it down first.")
        if min(w, h) < MIN_SIDE:
            raise ImageError(f"{name} is only {w} x {h} pixels; it needs at least {MIN_SIDE} x {MIN_SIDE} "
                             "to show anything.")
        frames = int(getattr(img, "n_frames", 1) or 1)
        if frames > 1:
            notes.append(f"animated ({frames} frames): the first frame is used")
        try:
            img.seek(0)
            if img.format == "JPEG":
                img.draft("RGB", (WORK_SIDE, WORK_SIDE))  # decode at a reduced scale when it is large
            img.load()
            img = ImageOps.exif_transpose(img) or img    # phone photos: the right way up
            grey = _to_rgb(img, notes) if colour else _to_grey(img, notes)
        except ImageError:
            raise
        except MemoryError as e:
            raise ImageError(f"{name} is too large to decode here. Use a smaller image.") from e
        except Exception as e:  # truncated data, corrupt chunks, bad compression streams
            raise ImageError(f"{name} is damaged or cut off ({type(e).__name__}: {str(e)[:120]}). "
                             "Save it again and upload the new file.") from e
    return grey, notes


def deep_grey(img: Image.Image) -> tuple[np.ndarray, str]:
    """A grey image deeper than 8 bits (DEEP_GREY_MODES) as float32 (H, W) in [0, 1], and what
    was done, in words. The one scaling rule, for an upload and a folder alike: 16-bit is white at
    65535; a 32-bit "I" image is read as 16-bit when its values fit, else scaled by its maximum;
    a float image is stretched from its minimum to its maximum."""
    a = np.asarray(img, dtype=np.float64)
    top = 65535.0 if img.mode.startswith("I;16") or (img.mode == "I" and a.max(initial=0) <= 65535) \
        else a.max(initial=1)
    if img.mode == "F":
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        a, top = a - lo, max(hi - lo, 1e-12)
    unit = np.clip(np.nan_to_num(a / top), 0, 1).astype(np.float32)
    return unit, f"{'16-bit' if top == 65535.0 else 'high bit-depth'} grey: scaled to 0..1"


def _to_grey(img: Image.Image, notes: list[str]) -> np.ndarray:
    """Any Pillow mode -> grey float32 (H, W) in [0, 1], shrunk to at most WORK_SIDE a side."""
    mode = img.mode
    if mode in DEEP_GREY_MODES:
        unit, note = deep_grey(img)
        notes.append(note)
        return _shrink(Image.fromarray(unit, mode="F"))
    if mode == "P" or mode == "PA":
        notes.append("palette colours converted to grey")
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode == "CMYK":
        notes.append("CMYK converted to RGB, then grey")
        img = img.convert("RGB")
    elif mode not in ("1", "L", "LA", "RGB", "RGBA", "La", "RGBa"):
        notes.append(f"{mode} colours converted to grey")
        img = img.convert("RGBA" if "A" in mode else "RGB")
    if img.mode in ("LA", "RGBA", "La", "RGBa"):
        rgba = np.asarray(img.convert("RGBA"))
        alpha = rgba[..., 3].astype(np.float32) / 255
        if alpha.min() < 1:
            return _shrink(Image.fromarray(_composite(rgba, notes), mode="F"))
    return _shrink(img.convert("L"))


def _to_rgb(img: Image.Image, notes: list[str]) -> np.ndarray:
    """Any Pillow mode -> RGB float32 (H, W, 3) in [0, 1], shrunk to at most WORK_SIDE a side;
    transparent parts black, like the padding around a colour dataset's images."""
    if img.mode in DEEP_GREY_MODES:
        return np.repeat(_to_grey(img, notes)[..., None], 3, axis=2)
    if img.mode not in ("RGB", "RGBA", "L", "LA", "1", "P", "PA"):
        notes.append(f"{img.mode} colours converted to RGB")
    rgba = img.convert("RGBA")
    if max(rgba.size) > WORK_SIDE:
        s = WORK_SIDE / max(rgba.size)
        rgba = rgba.resize((max(1, round(rgba.width * s)), max(1, round(rgba.height * s))), Image.BOX)
    a = np.asarray(rgba, dtype=np.float32) / 255
    alpha = a[..., 3:]
    if (alpha < 1).any():
        notes.append("transparent parts made black")
    return np.clip(a[..., :3] * alpha, 0.0, 1.0).astype(np.float32)


def _composite(rgba: np.ndarray, notes: list[str]) -> np.ndarray:
    """Transparent pixels filled with the colour that contrasts with what is drawn: a dark drawing on
    a transparent background goes on white, a light one on black. (H, W) float32 in [0, 1]."""
    alpha = rgba[..., 3].astype(np.float32) / 255
    grey = (rgba[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)) / 255
    solid = alpha > 0.5
    if not solid.any():
        raise BlankImage("The image is fully transparent: there is nothing on it to recognise.")
    bg = 1.0 if float(np.median(grey[solid])) < 0.5 else 0.0
    if (alpha < 0.01).any():
        notes.append(f"transparent background filled with {'white' if bg else 'black'}")
    else:
        notes.append("transparency flattened")
    return (alpha * grey + (1 - alpha) * bg).astype(np.float32)


def _shrink(img: Image.Image) -> np.ndarray:
    """A grey PIL image ("L" or "F") as float32 (H, W) in [0, 1], at most WORK_SIDE a side."""
    if img.mode != "F":
        img = img.convert("F").point(lambda v: v / 255)
    if max(img.size) > WORK_SIDE:
        s = WORK_SIDE / max(img.size)
        img = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.BOX)
    return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)


def canvas_to_grey(rgba) -> np.ndarray:
    """A drawing canvas's (H, W, 4) uint8 RGBA pixels -> grey float32 (H, W) in [0, 1]."""
    a = np.asarray(rgba)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or min(a.shape[:2]) < MIN_SIDE:
        raise ImageError(f"a canvas drawing must be (H, W, 4) pixels, at least {MIN_SIDE} a side; got {a.shape}")
    if a.dtype != np.uint8:
        a = np.clip(np.nan_to_num(a.astype(np.float64)), 0, 255).astype(np.uint8)
    if a.shape[2] == 3:
        a = np.concatenate([a, np.full((*a.shape[:2], 1), 255, np.uint8)], axis=2)
    if (a[..., 3] == 0).all():
        raise BlankImage("The canvas is empty: draw something first.")
    return _shrink(Image.fromarray(_composite(a, []), mode="F"))


# ---------------------------------------------------------------- looking like the dataset

def normalise(grey: np.ndarray) -> tuple[np.ndarray, bool]:
    """Bright ink on black, background 0, brightest ink 1: (image, inverted).

    The background is the median of the outermost pixels; when it is light the image is
    inverted. Raises BlankImage when nothing stands out from the background."""
    x = np.asarray(grey, dtype=np.float32)
    border = np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]])
    bg = float(np.median(border))
    inverted = bg > 0.5
    if inverted:
        x, bg = 1.0 - x, 1.0 - bg
    x = np.clip(x - bg, 0.0, None)
    peak = float(np.percentile(x, 99.9)) if x.size >= 1000 else float(x.max())
    peak = max(peak, float(x.max()) * 0.5)
    if peak < 0.08:
        raise BlankImage("The image is one flat colour: there is nothing on it to recognise. "
                         "Draw or photograph something dark on light (or light on dark).")
    return np.clip(x / peak, 0.0, 1.0), inverted


def frame(x: np.ndarray, layout: Layout) -> np.ndarray:
    """Crop to the ink, scale its longest side to `layout.box`, place it in the canvas, float32 (S, S)."""
    ink = x > INK_THRESHOLD
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    if not len(rows):
        raise BlankImage("Nothing on the image is dark or bright enough to count as drawn.")
    crop = x[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    s = layout.box / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    # LANCZOS on a float image: antialiased when shrinking, smooth when growing a small crop
    patch = np.asarray(Image.fromarray(crop.astype(np.float32), mode="F").resize((nw, nh), Image.LANCZOS))
    patch = np.clip(patch, 0.0, 1.0)
    out = np.zeros((layout.canvas, layout.canvas), np.float32)
    c = (layout.canvas - 1) / 2
    if layout.centre == "mass" and patch.sum() > 0:
        ys, xs = np.mgrid[:nh, :nw]
        cy, cx = (patch * ys).sum() / patch.sum(), (patch * xs).sum() / patch.sum()
    else:
        cy, cx = (nh - 1) / 2, (nw - 1) / 2
    top = int(np.clip(round(c - cy), 0, layout.canvas - nh))
    left = int(np.clip(round(c - cx), 0, layout.canvas - nw))
    out[top:top + nh, left:left + nw] = patch
    if layout.reduce > 1:  # digits: a bitmap, then counts of set pixels per block, 0..r*r, / r*r
        r = layout.reduce
        bits = (out > 0.5).astype(np.float32)
        out = bits.reshape(layout.canvas // r, r, layout.canvas // r, r).sum((1, 3)) / (r * r)
    return out.astype(np.float32)


def layout_for(dataset: str, side: int | None = None) -> Layout:
    """The dataset's layout; an unknown dataset of side S gets MNIST's proportions."""
    if dataset in LAYOUTS:
        return LAYOUTS[dataset]
    side = side or 28
    return Layout(canvas=side, box=max(1, round(side * 20 / 28)), centre="mass")


def prepare(grey: np.ndarray, dataset: str, notes=(), side: int | None = None) -> Prepared:
    """A grey image (H, W) in [0, 1] framed as `dataset`'s images are: (1, S, S) float32."""
    x, inverted = normalise(grey)
    notes = list(notes)
    if inverted:
        notes.append("light background: inverted to bright ink on black, as in the dataset")
    image = frame(x, layout_for(dataset, side))
    return Prepared(image=image[None], original=np.asarray(grey, dtype=np.float32), notes=tuple(notes))


def fit_colour(rgb: np.ndarray, side: int) -> np.ndarray:
    """An RGB image (H, W, 3) in [0, 1], its longest side scaled to `side` (aspect kept), centred
    on black: float32 (3, side, side)."""
    img = Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), mode="RGB")
    s = side / max(img.size)
    w, h = max(1, round(img.width * s)), max(1, round(img.height * s))
    out = Image.new("RGB", (side, side), "black")
    out.paste(img.resize((w, h), Image.LANCZOS), ((side - w) // 2, (side - h) // 2))
    return np.moveaxis(np.asarray(out, dtype=np.float32) / 255, -1, 0).copy()


def _prepare_colour(rgb: np.ndarray, notes, side: int | None) -> Prepared:
    return Prepared(image=fit_colour(rgb, side or 32), original=np.asarray(rgb, dtype=np.float32), notes=tuple(notes))


def prepare_upload(data: bytes, dataset: str, name: str = "the file", side: int | None = None,
                   channels: int = 1) -> Prepared:
    """Uploaded file bytes -> the image the model sees, grey (1, S, S) or, for a colour model
    (`channels` 3), RGB (3, S, S). Raises ImageError with a clear message."""
    if channels == 3:
        rgb, notes = decode(data, name, colour=True)
        return _prepare_colour(rgb, notes, side)
    grey, notes = decode(data, name)
    return prepare(grey, dataset, notes, side)


def prepare_canvas(rgba, dataset: str, side: int | None = None, channels: int = 1) -> Prepared:
    """A canvas drawing (H, W, 4) uint8 -> the image the model sees, as prepare_upload's.
    Raises BlankImage when empty."""
    grey = canvas_to_grey(rgba)
    if channels == 3:  # the drawing, dark on white as drawn, in the model's three channels
        return _prepare_colour(np.repeat(grey[..., None], 3, axis=2), (), side)
    return prepare(grey, dataset, (), side)


__all__ = ["ImageError", "BlankImage", "Prepared", "Layout", "LAYOUTS", "decode", "canvas_to_grey", "normalise",
           "frame", "prepare", "prepare_upload", "prepare_canvas", "fit_colour", "MAX_BYTES", "MAX_PIXELS"]
