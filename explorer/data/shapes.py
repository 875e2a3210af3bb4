"""`shapes`: generated 32x32 colour images whose true factors are known.

In the spirit of dSprites (Matthey et al., 2017) and 3D Shapes (Burgess & Kim, 2018): every
combination of six factors, each on a small grid, is one image. The class is the shape. A seeded
permutation of the full grid gives the test split (its first N_TEST combinations) and the train
split (the next N_TRAIN), so the two never share an image and every run draws the same ones.

Each (shape, scale, rotation) is rasterised once, antialiased by supersampling (the fraction of
SUPERSAMPLE x SUPERSAMPLE sub-pixel points inside the shape), on a padded canvas; x and y are
whole-pixel shifts of that picture, and the colour multiplies it. The uint8 pixels of a split are
cached on disk (explorer/core/diskcache), keyed by the generator's version and seed; the factors
and labels come from the permutation alone, so they need no cache.
"""
from __future__ import annotations

import warnings

import numpy as np

from explorer.core import diskcache
from explorer.core.paths import cache_dir

SHAPES_FORMAT = 1  # bump when a picture changes: invalidates every cached split
SHAPES_SEED = 0
SIDE = 32
SUPERSAMPLE = 4
PAD = 8  # canvas margin, so a shifted picture is a plain crop
RADIUS = 7.5  # pixels, at scale 1.0

SHAPE_NAMES = ("square", "circle", "triangle", "heart")
COLOURS = {  # fully saturated hues, 60 degrees apart
    "red": (1.0, 0.0, 0.0), "yellow": (1.0, 1.0, 0.0), "green": (0.0, 1.0, 0.0),
    "cyan": (0.0, 1.0, 1.0), "blue": (0.0, 0.0, 1.0), "magenta": (1.0, 0.0, 1.0),
}
SCALES = (0.5, 0.67, 0.83, 1.0)
ROTATIONS = (0, 15, 30, 45, 60, 75)  # degrees; less than a square's 90-degree symmetry
SHIFTS = (-7, -5, -3, -1, 1, 3, 5, 7)  # pixels from the centre, for x (right) and y (down)

FACTOR_NAMES = ("shape", "colour", "scale", "rotation", "x", "y")
FACTOR_VALUES = (SHAPE_NAMES, tuple(COLOURS), SCALES, ROTATIONS, SHIFTS, SHIFTS)
GRID = tuple(len(values) for values in FACTOR_VALUES)  # (4, 6, 4, 6, 8, 8): 36,864 images
N_TRAIN = 20_000
N_TEST = 4_000


def split_factors(split: str, seed: int = SHAPES_SEED) -> np.ndarray:
    """The factor indices of every image of `split`, int64 (N, 6), in FACTOR_NAMES order."""
    order = np.random.default_rng(seed).permutation(int(np.prod(GRID)))
    chosen = order[:N_TEST] if split == "test" else order[N_TEST:N_TEST + N_TRAIN]
    return np.stack(np.unravel_index(chosen, GRID), axis=1).astype(np.int64)


def load_split(split: str, seed: int = SHAPES_SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 pixels (N, 3, 32, 32), int64 labels (the shape) and factors (N, 6) of `split`,
    from one factor table."""
    factors = split_factors(split, seed)
    return split_pixels(split, seed, factors), factors[:, 0].copy(), factors


def split_pixels(split: str, seed: int = SHAPES_SEED, factors: np.ndarray | None = None) -> np.ndarray:
    """The uint8 (N, 3, 32, 32) images of `split`, from the disk cache when it has them; else
    drawn from `factors` (split_factors(split, seed) when not given) once, whichever process asks."""
    path = cache_dir() / "shapes" / f"shapes-{split}-{diskcache.key(SHAPES_FORMAT, seed, GRID, N_TRAIN, N_TEST)}.npy"
    expected = (N_TEST if split == "test" else N_TRAIN, 3, SIDE, SIDE)

    def read() -> np.ndarray | None:
        cached = diskcache.read_npy(path)
        return cached if cached is not None and cached.shape == expected and cached.dtype == np.uint8 else None

    def make() -> np.ndarray:
        pixels = render(factors if factors is not None else split_factors(split, seed))
        try:
            diskcache.write_npy(path, pixels)
        except OSError as error:  # a cache that cannot be written only costs time
            warnings.warn(f"could not cache the shapes images in {path.parent}: {error}", stacklevel=4)
        return pixels

    return diskcache.once(path, read, make)


def render(factors: np.ndarray) -> np.ndarray:
    """uint8 (N, 3, 32, 32) images for factor indices (N, 6)."""
    coverage = _coverages()  # (shapes, scales, rotations, SIDE + 2 PAD, SIDE + 2 PAD)
    colours = np.array(list(COLOURS.values()), dtype=np.float32)
    out = np.empty((len(factors), 3, SIDE, SIDE), dtype=np.uint8)
    for i, (shape, colour, scale, rotation, x, y) in enumerate(factors):
        top, left = PAD - SHIFTS[y], PAD - SHIFTS[x]
        picture = coverage[shape, scale, rotation, top:top + SIDE, left:left + SIDE]
        out[i] = np.rint(picture[None] * colours[colour][:, None, None] * 255)
    return out


def _coverages() -> np.ndarray:
    """Each shape's antialiased coverage in [0, 1], centred on the padded canvas."""
    n = (SIDE + 2 * PAD) * SUPERSAMPLE
    centre = (SIDE + 2 * PAD) / 2
    pos = (np.arange(n) + 0.5) / SUPERSAMPLE - centre  # sub-pixel centres, pixels from the middle
    dx, dy = np.meshgrid(pos, pos)  # (n, n); dy grows downwards
    out = np.empty((len(SHAPE_NAMES), len(SCALES), len(ROTATIONS), n // SUPERSAMPLE, n // SUPERSAMPLE),
                   dtype=np.float32)
    for r, degrees in enumerate(ROTATIONS):
        t = np.deg2rad(degrees)
        u = np.cos(t) * dx + np.sin(t) * dy  # the point in the shape's own frame (rotated back)
        v = -np.sin(t) * dx + np.cos(t) * dy
        for s, scale in enumerate(SCALES):
            for k, name in enumerate(SHAPE_NAMES):
                inside = _inside(name, u / (RADIUS * scale), -v / (RADIUS * scale))  # y up
                out[k, s, r] = inside.reshape(n // SUPERSAMPLE, SUPERSAMPLE, -1, SUPERSAMPLE).mean(axis=(1, 3))
    return out


def _inside(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether each point (u right, v up; 1 is the shape's radius) lies inside the shape."""
    if name == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if name == "circle":
        return u * u + v * v <= 1.0
    if name == "triangle":  # equilateral, pointing up, circumradius 1.15: three half-planes
        inradius = 0.575
        return (v >= -inradius) & (0.866 * u + 0.5 * v <= inradius) & (-0.866 * u + 0.5 * v <= inradius)
    # heart: the curve (x^2 + y^2 - 1)^3 = x^2 y^3, about 2.3 wide and 2.2 tall, centred
    x, y = u * 1.1, v * 1.1 + 0.1
    return (x * x + y * y - 1) ** 3 - x * x * y ** 3 <= 0
