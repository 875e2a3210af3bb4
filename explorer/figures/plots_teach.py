"""Figures for the Learn, Anomalies and Model card pages (plotly, in the style of plots.py)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from explorer.figures.plots import FONT_SIZE, HIGHLIGHT_COLOR, class_color

MU_COLOR = "#0072B2"
PRIOR_COLOR = "rgba(120, 120, 120, 0.18)"


def _layout(fig: go.Figure, height: int, font_scale: float = 1.0, **kw) -> go.Figure:
    """`font_scale` grows every text of the figure (axes, legends, notes), e.g. 1.4 for a projector."""
    fig.update_layout(template="plotly_white", height=height, font=dict(size=round(FONT_SIZE * font_scale)),
                      margin=dict(l=50, r=20, t=30, b=40), **kw)
    return fig


def posterior_figure(mu: np.ndarray, sigma: np.ndarray, z: np.ndarray, dims: Sequence[int], height: int = 340, font_scale: float = 1.0):
    """q(z|x) per latent dimension: mean with a +-1 sigma bar, the sampled z, and the prior's
    +-1 band behind them."""
    names = [f"z{d}" for d in dims]
    dims = list(dims)
    fig = go.Figure()
    fig.add_hrect(y0=-1, y1=1, fillcolor=PRIOR_COLOR, line_width=0, layer="below")
    fig.add_trace(go.Scatter(x=names, y=mu[dims], mode="markers", name="mu (mean of q)",
                             marker=dict(color=MU_COLOR, size=11),
                             error_y=dict(type="data", array=sigma[dims], color=MU_COLOR, thickness=2, width=6)))
    fig.add_trace(go.Scatter(x=names, y=z[dims], mode="markers", name="z = mu + sigma * eps",
                             marker=dict(color=HIGHLIGHT_COLOR, size=12, symbol="diamond")))
    return _layout(fig, height, font_scale, yaxis=dict(title=dict(text="value"), zeroline=True),
                   legend=dict(orientation="h", y=1.12, x=0),
                   annotations=[dict(text="grey band: the prior N(0, 1), +-1", x=1, y=-1, xref="paper", yref="y",
                                     showarrow=False, xanchor="right", yanchor="top", font=dict(size=round(12 * font_scale)))])


def kl_bars(kl_image: np.ndarray, kl_data: np.ndarray, dims: Sequence[int], height: int = 300, font_scale: float = 1.0):
    """KL per dimension: this image's, and the test set's mean (collapsed dimensions sit at 0)."""
    names = [f"z{d}" for d in dims]
    dims = list(dims)
    fig = go.Figure([go.Bar(x=names, y=kl_image[dims], name="this image", marker_color=HIGHLIGHT_COLOR),
                     go.Bar(x=names, y=kl_data[dims], name="test-set mean", marker_color=MU_COLOR)])
    return _layout(fig, height, font_scale, barmode="group", yaxis=dict(title=dict(text="KL (nats)")),
                   legend=dict(orientation="h", y=1.12, x=0))


def probability_bars(proba: np.ndarray, class_names: Sequence[str], height: int = 280, font_scale: float = 1.0):
    """A classifier's probabilities for one image, the chosen class highlighted."""
    k = int(np.argmax(proba))
    colors = [HIGHLIGHT_COLOR if i == k else MU_COLOR for i in range(len(proba))]
    fig = go.Figure(go.Bar(x=list(class_names), y=proba, marker_color=colors))
    return _layout(fig, height, font_scale, yaxis=dict(title=dict(text="probability"), range=[0, 1]))


def confusion_figure(confusion, class_names: Sequence[str], height: int = 460, font_scale: float = 1.0):
    """Rows: true class; columns: predicted; counts written in the cells."""
    cm = np.asarray(confusion)
    fig = go.Figure(go.Heatmap(z=cm, x=list(class_names), y=list(class_names), colorscale="Blues",
                               text=cm, texttemplate="%{text}", showscale=False,
                               hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>"))
    return _layout(fig, height, font_scale, xaxis=dict(title=dict(text="predicted"), side="bottom"),
                   yaxis=dict(title=dict(text="true"), autorange="reversed"))


def per_class_bars(values: Sequence[float], class_names: Sequence[str], title: str, height: int = 300, font_scale: float = 1.0):
    fig = go.Figure(go.Bar(x=list(class_names), y=list(values),
                           marker_color=[class_color(i) for i in range(len(values))]))
    return _layout(fig, height, font_scale, yaxis=dict(title=dict(text=title), range=[0, 1]))


def scores_by_class(scores: np.ndarray, labels: np.ndarray, class_names: Sequence[str], title: str,
                    height: int = 320, font_scale: float = 1.0):
    """A box per class of the per-image scores: which classes the model finds hard."""
    fig = go.Figure()
    for k, name in enumerate(class_names):
        fig.add_trace(go.Box(y=scores[labels == k], name=name, marker_color=class_color(k), boxpoints=False))
    return _layout(fig, height, font_scale, showlegend=False, yaxis=dict(title=dict(text=title)))


__all__ = ["posterior_figure", "kl_bars", "probability_bars", "confusion_figure", "per_class_bars",
           "scores_by_class"]
