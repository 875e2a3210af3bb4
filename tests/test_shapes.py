"""The generated `shapes` dataset: deterministic, cached, and its factors match its pictures."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.data import get_spec, load_dataset
from explorer.data import shapes

COLOUR, SCALE, X, Y = 1, 2, 4, 5


def _one(shape: str = "square", colour: int = 0, scale: int = 3, rotation: int = 0, x: int = 4, y: int = 4) -> np.ndarray:
    """The picture (3, 32, 32) float of one combination of factor indices."""
    index = shapes.SHAPE_NAMES.index(shape)
    return shapes.render(np.array([[index, colour, scale, rotation, x, y]]))[0].astype(float)


def _centroid(picture: np.ndarray) -> tuple[float, float]:
    mass = picture.sum(axis=0)
    rows, cols = np.indices(mass.shape)
    return float((rows * mass).sum() / mass.sum()), float((cols * mass).sum() / mass.sum())


def test_the_spec_declares_its_factors() -> None:
    spec = get_spec("shapes")
    assert spec.image_shape == (3, 32, 32)
    assert spec.class_names[:3] == ("square", "circle", "triangle") and spec.num_classes == 4
    assert spec.factor_names == ("shape", "colour", "scale", "rotation", "x", "y")
    assert [len(v) for v in spec.factor_values] == list(shapes.GRID)


def test_x_and_y_move_the_mass_and_scale_grows_it() -> None:
    xs = [_centroid(_one(x=x))[1] for x in range(len(shapes.SHIFTS))]
    ys = [_centroid(_one(y=y))[0] for y in range(len(shapes.SHIFTS))]
    assert np.allclose(np.diff(xs), 2.0, atol=0.05) and np.allclose(np.diff(ys), 2.0, atol=0.05)
    areas = [_one(scale=s).sum() for s in range(len(shapes.SCALES))]
    assert all(a < b for a, b in zip(areas, areas[1:]))


def test_colour_picks_the_channels_and_rotation_turns_a_square() -> None:
    red, blue = _one(colour=0), _one(colour=4)  # COLOURS: red first, blue fifth
    assert red[0].sum() > 0 and red[1:].sum() == 0
    assert blue[2].sum() > 0 and blue[:2].sum() == 0
    upright, turned = _one(rotation=0), _one(rotation=3)  # 0 and 45 degrees
    assert not np.array_equal(upright, turned)
    assert abs(upright.sum() - turned.sum()) / upright.sum() < 0.03  # the same square, turned
    assert 0 < ((turned > 0) & (turned < 255)).sum()  # antialiased edges


def test_splits_are_deterministic_disjoint_and_match_their_factors(explorer_env) -> None:
    test = load_dataset("shapes", "test")
    assert test.images.shape == (shapes.N_TEST, 3, 32, 32) and test.images.dtype == np.float32
    assert test.factors.shape == (shapes.N_TEST, 6) and test.factors.dtype == np.int64
    assert np.array_equal(test.labels, test.factors[:, 0])
    assert np.array_equal(test.factors.max(axis=0) + 1, shapes.GRID)
    again = load_dataset("shapes", "test")  # from the disk cache this time
    assert np.array_equal(again.images, test.images) and np.array_equal(again.factors, test.factors)
    assert list((explorer_env["cache"] / "shapes").glob("shapes-test-*.npy"))
    assert np.array_equal(test.images[:5] * 255, shapes.render(test.factors[:5]).astype(np.float32))
    train = shapes.split_factors("train")
    assert len(train) == shapes.N_TRAIN
    codes = lambda f: set(np.ravel_multi_index(f.T, shapes.GRID).tolist())  # noqa: E731
    assert not codes(train) & codes(test.factors)


def test_a_corrupt_cache_file_is_made_again(explorer_env) -> None:
    first = shapes.split_pixels("test")
    (path,) = (explorer_env["cache"] / "shapes").glob("shapes-test-*.npy")
    path.write_bytes(b"not an array")
    assert np.array_equal(shapes.split_pixels("test"), first)


def test_other_datasets_have_no_factors() -> None:
    digits = load_dataset("digits", "test")
    assert digits.factors is None and get_spec("digits").factor_names == ()


@pytest.mark.parametrize("shape", shapes.SHAPE_NAMES)
def test_every_shape_is_visible_and_inside_the_frame_at_every_corner(shape: str) -> None:
    for x in (0, len(shapes.SHIFTS) - 1):
        for y in (0, len(shapes.SHIFTS) - 1):
            picture = _one(shape, x=x, y=y)
            assert picture.sum() > 0
            assert picture[:, [0, -1], :].sum() + picture[:, :, [0, -1]].sum() < 0.02 * picture.sum()
