"""Pictures of images for the app, exports and notebooks: one image scaled up, or a grid with
captions drawn large enough to read on a projector. PIL images built from numpy arrays."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

HIGHLIGHT_COLOR = "#D55E00"  # vermillion: the picked image's frame, and the picked point on a map


def to_uint8(a: np.ndarray) -> np.ndarray:
    return (np.clip(np.nan_to_num(np.asarray(a, dtype=np.float32)), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def _hwc(image: np.ndarray) -> np.ndarray:
    """(C, H, W) or (H, W) in [0, 1] -> uint8 (H, W) for grey, (H, W, 3) for colour."""
    a = np.asarray(image)
    if a.ndim == 3:
        a = a[0] if a.shape[0] == 1 else np.moveaxis(a[:3], 0, -1)
    return to_uint8(a)


def to_pil(image: np.ndarray, scale: int = 4) -> Image.Image:
    """One (C, H, W) image in [0, 1] as a PIL image, upscaled `scale` times (nearest neighbour)."""
    a = _hwc(image)
    img = Image.fromarray(a)  # (H, W) uint8 is "L", (H, W, 3) is "RGB"
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale != 1 else img


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size only
        return ImageFont.load_default()


def image_grid(images: np.ndarray, ncols: int, captions: Sequence[str] | None = None, scale: int = 3,
               pad: int = 2, highlight: Sequence[int] | None = None, font_size: int = 14,
               cell_width: int = 0) -> Image.Image:
    """Tile (N, C, H, W) images in [0, 1] into one RGB image on white, `ncols` per row.

    Each image is upscaled `scale` times (nearest neighbour); cells are `pad` pixels apart
    and from the edge. Without captions the size is exactly
    (ncols * W * scale + (ncols + 1) * pad) x (rows * H * scale + (rows + 1) * pad).
    `captions` (one per image; "\\n" starts a second line) are drawn under each cell, and
    cells are widened to fit them (and to `cell_width`, so that grids drawn apart line up). `highlight` cells get a coloured border in the padding
    (the padding grows to at least 3 px for it), e.g. where the CNN's label changes."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[:, None]
    n = len(images)
    ncols = max(1, min(int(ncols), max(n, 1)))
    rows = max(1, -(-n // ncols))
    h, w = images.shape[2] * scale, images.shape[3] * scale
    highlight = set(int(i) for i in (highlight or ()))
    border = 3 if highlight else 0
    pad = max(int(pad), border)
    font = _font(font_size)
    cap_lines = [str(c).split("\n") for c in captions] if captions is not None else None
    if cap_lines is not None and len(cap_lines) != n:
        raise ValueError(f"{len(cap_lines)} captions for {n} images")
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = 0
    cell_w = w
    if cap_lines:
        line_h = font_size + 4
        widths = [measure.textlength(line, font=font) for lines in cap_lines for line in lines]
        cell_w = max(w, int(np.ceil(max(widths, default=0))) + 4)
    cell_w = max(cell_w, int(cell_width))
    cap_h = line_h * max(len(lines) for lines in cap_lines) + 2 if cap_lines else 0
    cell_h = h + cap_h
    canvas = Image.new("RGB", (ncols * cell_w + (ncols + 1) * pad, rows * cell_h + (rows + 1) * pad), "white")
    draw = ImageDraw.Draw(canvas)
    for i in range(n):
        r, c = divmod(i, ncols)
        cx = pad + c * (cell_w + pad)
        cy = pad + r * (cell_h + pad)
        ix = cx + (cell_w - w) // 2
        tile = to_pil(images[i], scale=scale).convert("RGB")
        canvas.paste(tile, (ix, cy))
        if i in highlight:
            draw.rectangle([ix - border, cy - border, ix + w + border - 1, cy + h + border - 1],
                           outline=HIGHLIGHT_COLOR, width=border)
        if cap_lines:
            for j, line in enumerate(cap_lines[i]):
                tw = draw.textlength(line, font=font)
                draw.text((cx + (cell_w - tw) / 2, cy + h + 2 + j * line_h), line, fill="#111111", font=font)
    return canvas


