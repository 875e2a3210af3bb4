"""Known factors, shown: which true factor each latent dimension tracks (a heat map and the MIG),
the factor beside each Traverse slider, and the Map's colourings by a true factor.

Only for a dataset whose factors are known (shapes); every function here gives nothing otherwise.
The figures come from the test codes (ui/cache.factor_scores over analysis/factors.py), so a
checkpoint evaluated or not shows the same numbers `python -m explorer evaluate` writes.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.analysis.factors import MIG_EXPLAINED
from explorer.figures.factors import factor_heatmap
from explorer.ui import cache
from explorer.ui.present import font_scale
from explorer.ui.state import Context

PREFIX = "factor_"  # a Map colouring by a true factor: "factor_<name>" (safe in a file name and a link)


def tracked(ctx: Context) -> dict[int, str]:
    """Latent dimension -> the true factor it tracks (only dimensions that track one)."""
    scores = cache.factor_scores(ctx)
    if scores is None:
        return {}
    return {d: name for d, name in enumerate(scores.tracked()) if name is not None}


def panel(ctx: Context, key: str) -> None:
    """The heat map of dimensions against factors, the MIG and what it means; nothing without factors."""
    scores = cache.factor_scores(ctx)
    if scores is None:
        return
    scale = font_scale()
    fig = cache.figure("factors.heatmap", (ctx.vae_key, ctx.dataset, scale),
                       lambda: factor_heatmap(scores.mi, scores.factor_names, font_scale=scale))
    left, right = st.columns([3, 2], gap="large")
    left.plotly_chart(fig, key=f"{key}_heatmap", config={"displayModeBar": False})
    right.metric("Disentanglement (MIG)", f"{scores.mig:.2f}", help=MIG_EXPLAINED)
    right.markdown(MIG_EXPLAINED)
    lines = [f"- **z{d}** tracks **{name}**" for d, name in enumerate(scores.tracked()) if name is not None]
    right.markdown("\n".join(lines) if lines else "No dimension tracks any one factor on its own.")
    left.caption("Each cell: the share of a true factor's information (its entropy) that a latent dimension "
                 "carries, from the test set's codes. One dark cell per column, each in its own row, is a "
                 "disentangled model.")


def colorings(ctx: Context) -> dict[str, str]:
    """The Map's extra colourings: one per true factor, {"factor_<name>": "True <name>"}."""
    if ctx.data.factors is None:
        return {}
    return {PREFIX + name: f"True {name}" for name in ctx.data.spec.factor_names}


def map_colouring(ctx: Context, color_by: str, data=None) -> tuple[str, np.ndarray, list[str], str]:
    """For latent_map: the kind of colouring ("category" for named values, "number" for a grid of
    numbers), each point's value (of `data`, by default the test set), the category names and the
    legend's title."""
    data = ctx.data if data is None else data
    spec, name = data.spec, color_by.removeprefix(PREFIX)
    if data.factors is None or name not in spec.factor_names:
        raise ValueError(f"{ctx.dataset} has no true factor {name!r}")
    f = spec.factor_names.index(name)
    grid, index = spec.factor_values[f], data.factors[:, f]
    if all(isinstance(v, (int, float)) for v in grid):
        return "number", np.asarray(grid, dtype=np.float64)[index], [], name
    return "category", index, [str(v) for v in grid], name


# The CSS colours a colour factor's values may name; yellow and cyan darkened to show on white.
OWN_COLOURS = {"red": "#e00000", "yellow": "#c8b400", "green": "#00a000", "cyan": "#00b4c8",
               "blue": "#0000e0", "magenta": "#d000d0"}


def own_colours(names: list[str]) -> list[str] | None:
    """Each category in its own colour when every one is a colour's name (shapes' colour factor)."""
    return [OWN_COLOURS[n] for n in names] if names and all(n in OWN_COLOURS for n in names) else None
