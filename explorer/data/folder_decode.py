"""Decoding a folder's image files to uint8 squares of one side, in parallel.

Each file is checked the way an upload is (explorer.data.images: its size in bytes, then its
pixel count and smallest side from the header, before any pixel is decoded), then decoded,
shrunk (or grown) so its longer side is the working side with the aspect ratio kept, and
centred on a black square. A file that cannot be used gives a reason instead of an image.

A large folder is decoded in worker processes: the Python around each file holds the GIL, so
threads only contend (on two cores a pool of two threads was slower than one thread). The file
list is cut into a few contiguous parts; each worker returns one flat uint8 array per part with
every file's channel count and reason, so little is pickled and the order is kept. The workers
come from a "forkserver" (never a plain fork: the app's server has threads), which imports this
module once and forks each worker from it. Small folders, or a machine where processes cannot
start, are decoded in this process (measured: `python -m explorer bench --only folder`).
"""
from __future__ import annotations

import multiprocessing
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np
from PIL import Image

from explorer.data.images import DEEP_GREY_MODES, FORMATS, MAX_BYTES, MAX_PIXELS, MIN_SIDE, deep_grey

GREY_MODES = ("1", "L", "LA") + DEEP_GREY_MODES
CHUNK = 64               # files decoded between two progress calls in this process
PARTS_PER_WORKER = 4     # a few parts each: progress moves, and a slow part does not hold up the rest
SERIAL_BELOW = 4_000     # fewer files are decoded in this process: starting the workers costs more


@dataclass
class Decoded:
    """One file's outcome: a square image or the reason it was skipped."""

    image: np.ndarray | None  # uint8 (S, S) grey or (S, S, 3) colour
    reason: str = ""


def decode_file(path: str, side: int, size: int | None = None) -> Decoded:
    """The image in ``path`` (``size`` bytes, when the caller knows) as a uint8 square of
    ``side``, or the reason it cannot be used."""
    try:
        size = os.stat(path).st_size if size is None else size
    except OSError as error:
        return Decoded(None, f"cannot be read ({error.strerror or error})")
    if size == 0:
        return Decoded(None, "is empty (0 bytes)")
    if size > MAX_BYTES:
        return Decoded(None, f"is {size / 2**20:.1f} MB; images up to {MAX_BYTES // 2**20} MB are used")
    try:
        # No warnings.catch_warnings here: it is not thread-safe. Pillow only warns between its
        # own limit and twice it (89 and 179 megapixels), far above MAX_PIXELS, which _square
        # checks from the header; above twice its limit Pillow raises, caught below.
        with Image.open(path, formats=FORMATS) as img:
            return _square(img, side)
    except Image.DecompressionBombError:
        return Decoded(None, f"says it is more than {MAX_PIXELS / 1e6:.0f} megapixels; not opened")
    except Image.UnidentifiedImageError:
        return Decoded(None, f"is not an image ({', '.join(FORMATS)} are read)")
    except MemoryError:
        return Decoded(None, "is too large to decode here")
    except Exception as error:  # truncated data, corrupt chunks, bad compression streams
        return Decoded(None, f"is damaged or cut off ({type(error).__name__}: {str(error)[:100]})")


def _square(img: Image.Image, side: int) -> Decoded:
    """An opened image, checked by its header, then decoded and framed in a ``side`` square."""
    w, h = img.size
    if w * h > MAX_PIXELS:
        return Decoded(None, f"is {w} x {h} pixels; at most {MAX_PIXELS / 1e6:.0f} megapixels are used")
    if min(w, h) < MIN_SIDE:
        return Decoded(None, f"is only {w} x {h} pixels; at least {MIN_SIDE} x {MIN_SIDE} are needed")
    scale = side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    grey = img.mode in GREY_MODES or (img.mode == "P" and _grey_palette(img))
    if img.format == "JPEG":
        img.draft("L" if grey else "RGB", size)  # decode at a reduced scale where JPEG allows
    img.load()
    img = _flat(img, grey)
    if img.size != size:
        img = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0 if scale < 1 else None)
    pixels = np.frombuffer(img.tobytes(), np.uint8).reshape(size[1], size[0], -1)
    if pixels.shape[2] == 3 and _all_grey(pixels):
        pixels = pixels[..., :1]  # grey saved as RGB counts as grey
    square = np.zeros((side, side, pixels.shape[2]), dtype=np.uint8)
    left, top = (side - size[0]) // 2, (side - size[1]) // 2
    square[top:top + size[1], left:left + size[0]] = pixels
    return Decoded(square[..., 0] if pixels.shape[2] == 1 else square)


def _all_grey(pixels: np.ndarray) -> bool:
    """Whether every pixel of an (H, W, 3) image has equal channels; the centre one is looked at
    first, which settles it for most colour images without a pass over them all."""
    centre = pixels[pixels.shape[0] // 2, pixels.shape[1] // 2]
    if centre[0] != centre[1] or centre[1] != centre[2]:
        return False
    flat = pixels.reshape(-1, 3)
    return bool((flat == flat[:, :1]).all())


def _grey_palette(img: Image.Image) -> bool:
    palette = img.getpalette() or []
    return all(palette[i] == palette[i + 1] == palette[i + 2] for i in range(0, len(palette) - 2, 3))


def _flat(img: Image.Image, grey: bool) -> Image.Image:
    """"L" or "RGB"; transparency is laid over black, as the padding is."""
    if img.mode in DEEP_GREY_MODES:  # scaled as an upload is, then rounded to the nearest level
        return Image.fromarray(np.rint(deep_grey(img)[0] * 255).astype(np.uint8), "L")
    if img.mode not in ("LA", "RGBA", "PA") and "transparency" not in img.info:
        mode = "L" if grey else "RGB"
        return img if img.mode == mode else img.convert(mode)
    if grey:
        la = np.asarray(img.convert("LA"), dtype=np.uint16)
        return Image.fromarray((la[..., 0] * la[..., 1] // 255).astype(np.uint8), "L")
    return Image.alpha_composite(Image.new("RGBA", img.size), img.convert("RGBA")).convert("RGB")


def decode_all(paths: Sequence[str], side: int, progress: Callable[[int, int], None] | None = None,
               workers: int | None = None, sizes: Sequence[int] | None = None) -> list[Decoded]:
    """Every file in ``paths`` (of ``sizes`` bytes, when known) decoded, in order;
    ``progress(done, total)`` as parts are done. ``workers`` processes (default: one per core,
    at most 8) for SERIAL_BELOW files or more; one means this process only."""
    total = len(paths)
    if progress is not None:
        progress(0, total)
    known = list(sizes) if sizes is not None else [None] * total
    workers = workers or _cores()
    if workers > 1 and total >= SERIAL_BELOW:
        try:
            return _in_processes(list(paths), known, side, workers, progress)
        except (OSError, ValueError, BrokenProcessPool, RuntimeError) as error:  # ValueError: no forkserver here
            warnings.warn(f"decoding the folder in one process: worker processes could not start or "
                          f"died ({type(error).__name__}: {error})", stacklevel=2)
            if progress is not None:
                progress(0, total)
    out: list[Decoded] = []
    for start in range(0, total, CHUNK):
        out.extend(decode_file(p, side, n) for p, n in zip(paths[start:start + CHUNK], known[start:start + CHUNK]))
        if progress is not None:
            progress(len(out), total)
    return out


def _in_processes(paths: list[str], sizes: list, side: int, workers: int, progress) -> list[Decoded]:
    """``paths`` decoded by ``workers`` processes, in contiguous parts, kept in order."""
    total = len(paths)
    parts = min(total, workers * PARTS_PER_WORKER)
    bounds = [total * k // parts for k in range(parts + 1)]
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])  # workers fork from a server that has imported this
    done, results = 0, [None] * parts
    with ProcessPoolExecutor(max_workers=min(workers, parts), mp_context=context) as pool:
        futures = {pool.submit(_decode_part, paths[a:b], sizes[a:b], side): k
                   for k, (a, b) in enumerate(zip(bounds, bounds[1:]))}
        for future in as_completed(futures):
            k = futures[future]
            results[k] = future.result()
            done += bounds[k + 1] - bounds[k]
            if progress is not None:
                progress(done, total)
    return [decoded for part in results for decoded in _unpack(*part, side)]


def _decode_part(paths: list[str], sizes: list, side: int) -> tuple[np.ndarray, list[int], list[str]]:
    """In a worker: one flat uint8 array of the part's images, each file's channels (0: skipped)
    and reason; one array pickles far faster than thousands of small ones."""
    decoded = [decode_file(p, side, n) for p, n in zip(paths, sizes)]
    channels = [0 if d.image is None else (1 if d.image.ndim == 2 else 3) for d in decoded]
    images = [d.image.reshape(-1) for d in decoded if d.image is not None]
    flat = np.concatenate(images) if images else np.zeros(0, np.uint8)
    return flat, channels, [d.reason for d in decoded]


def _unpack(flat: np.ndarray, channels: list[int], reasons: list[str], side: int) -> list[Decoded]:
    """The Decoded of each file of a part, its image a view into ``flat``."""
    out, at = [], 0
    for c, reason in zip(channels, reasons):
        if c == 0:
            out.append(Decoded(None, reason))
            continue
        image = flat[at:at + side * side * c].reshape((side, side) if c == 1 else (side, side, c))
        out.append(Decoded(image, reason))
        at += side * side * c
    return out


def _cores() -> int:
    """The cores this process may run on (at most 8: beyond that, reading the files dominates)."""
    try:
        return min(8, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return min(8, os.cpu_count() or 1)
