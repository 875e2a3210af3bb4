"""The heat map of latent dimensions against true factors (plotly, in the style of plots.py)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from explorer.figures.plots import FONT_SIZE

ROW_PX = 34  # per latent dimension: the shares stay legible on a projector


def factor_heatmap(mi: np.ndarray, factor_names: Sequence[str], dim_names: Sequence[str] | None = None,
                   font_scale: float = 1.0) -> go.Figure:
    """Rows: latent dimensions; columns: true factors; each cell the share of the factor's entropy
    the dimension tells (0 to 1), written in the cell. A disentangled model has one dark cell per
    column, each in a row of its own."""
    mi = np.asarray(mi, dtype=np.float64)
    if mi.ndim != 2 or mi.shape[1] != len(factor_names):
        raise ValueError(f"mi must be (dims, {len(factor_names)} factors), got {mi.shape}")
    rows = list(dim_names) if dim_names is not None else [f"z{d}" for d in range(len(mi))]
    size = round(FONT_SIZE * font_scale)
    fig = go.Figure(go.Heatmap(
        z=mi, x=list(factor_names), y=rows, zmin=0.0, zmax=1.0, colorscale="Blues",
        text=np.round(mi, 2), texttemplate="%{text:.2f}", textfont=dict(size=size),
        colorbar=dict(title=dict(text="share of<br>the factor"), thickness=16),
        hovertemplate="%{y} knows %{z:.0%} of %{x}<extra></extra>", xgap=2, ygap=2,
    ))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(side="top", type="category")
    fig.update_layout(template="plotly_white", height=80 + ROW_PX * len(rows), font=dict(size=size),
                      margin=dict(l=60, r=20, t=50, b=10))
    return fig
