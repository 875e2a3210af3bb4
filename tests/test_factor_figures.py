"""The heat map of dimensions against factors, and the latent map coloured by a factor's values."""
from __future__ import annotations

import numpy as np
import pytest

from explorer.figures.factors import factor_heatmap
from explorer.figures.plots import latent_map


def test_the_heatmap_writes_every_share_in_its_cell() -> None:
    mi = np.array([[0.91, 0.02], [0.05, 0.66], [0.0, 0.01]])
    fig = factor_heatmap(mi, ("x", "colour"), font_scale=1.4)
    trace = fig.data[0]
    assert list(trace.x) == ["x", "colour"] and list(trace.y) == ["z0", "z1", "z2"]
    assert trace.zmin == 0 and trace.zmax == 1 and trace.text[0][0] == pytest.approx(0.91)
    assert fig.layout.font.size > 14  # projector type
    with pytest.raises(ValueError, match="factors"):
        factor_heatmap(mi, ("x",))


def test_a_map_coloured_by_a_named_factor_has_one_legend_entry_per_value() -> None:
    coords = np.random.default_rng(0).standard_normal((30, 2))
    values = np.arange(30) % 3
    fig = latent_map(coords, "category", values, ["red", "green", "blue"], values_title="colour")
    assert [t.name for t in fig.data] == ["red", "green", "blue"]
    assert fig.layout.legend.title.text == "colour"


def test_a_map_coloured_by_a_numeric_factor_has_a_colour_bar_titled_by_it() -> None:
    coords = np.random.default_rng(0).standard_normal((30, 2))
    fig = latent_map(coords, "number", np.linspace(-7, 7, 30), [], values_title="x")
    assert fig.data[0].marker.colorbar.title.text == "x"
    assert fig.data[0].marker.color[0] == pytest.approx(-7)


def test_a_colour_factor_is_drawn_in_its_own_colours() -> None:
    from explorer.ui.factors import own_colours

    coords = np.random.default_rng(0).standard_normal((30, 2))
    colours = own_colours(["red", "blue"])
    fig = latent_map(coords, "category", np.arange(30) % 2, ["red", "blue"], values_title="colour",
                     category_colors=colours)
    assert [t.marker.color for t in fig.data] == colours
    assert colours[0].startswith("#e") and own_colours(["square", "circle"]) is None
