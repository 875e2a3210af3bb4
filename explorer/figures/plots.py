"""Figures for the app and notebooks: plotly figures built from numpy arrays (pictures of
images are in grids.py).

Sized for a projector: base font 16 px, legends with class names, captions under images.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from explorer.figures.grids import HIGHLIGHT_COLOR, to_uint8

if TYPE_CHECKING:
    from torch import nn

# Okabe & Ito (2008), the colour-blind-safe set, with its yellow darkened to show on white,
# plus grey and brown for classes 9 and 10.
CLASS_COLORS: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#56B4E9",  # sky blue
    "#CC79A7",  # reddish purple
    "#C9B400",  # dark yellow
    "#000000",  # black
    "#999999",  # grey
    "#8C564B",  # brown
)
FONT_SIZE = 16
# "category" and "number": any other per-point values (a true factor's), titled by `values_title`
COLOR_BY = ("predicted", "label", "correct", "confidence", "recon_error", "category", "number")
_COLORBAR_TITLES = {"confidence": "CNN confidence", "recon_error": "recon. error (nats)"}
_COLORSCALES = {"confidence": "Viridis", "recon_error": "Plasma", "number": "Viridis"}
NOT_A_TEST_POINT = -1  # customdata of the path and marker traces: no test image behind them


def class_color(k: int) -> str:
    return CLASS_COLORS[k % len(CLASS_COLORS)]


def _marker_size(n: int) -> float:
    """Points shrink as the map fills: 9 px for a few hundred, 4 px for 10,000."""
    return float(np.clip(13 - 2.2 * np.log10(max(n, 1)), 3.5, 9))


# ---------------------------------------------------------------- the latent map

def latent_map(coords: np.ndarray, color_by: str, values: np.ndarray, class_names: Sequence[str], *,
               selected: Sequence[int] | None = None, path: np.ndarray | None = None,
               marker: tuple[float, float] | None = None, title: str = "",
               backdrop: tuple[Image.Image, float, float, float, float] | None = None,
               height: int = 600, axis_titles: tuple[str, str] | None = None,
               font_scale: float = 1.0, values_title: str = "",
               category_colors: Sequence[str] | None = None, split: np.ndarray | None = None) -> go.Figure:
    """WebGL scatter of the map, coloured by `color_by`:

    - "predicted" / "label": `values` are class indices; one trace per class, named by class.
    - "correct": `values` are booleans; two traces, correct and misclassified.
    - "confidence" / "recon_error": `values` are numbers; one trace with a colour bar.
    - "category" / "number": as "label" (`class_names` naming the categories) and as "confidence",
      titled `values_title`: a true factor's values; `category_colors`, when given, colour the
      categories (a colour factor in its own colours).

    Every point's `customdata` is its index into the test set (-1 on the path and marker
    traces, which are not test images). With `split` (N,) (0 test, 1 train: a map of the
    test rows, then the training rows, maps/splits.py) training points are drawn faint under
    the test points, in traces of legend group TRAIN_GROUP, their `customdata` the index into
    the training set. `selected` map rows get a ring, `path` (M, 2) is
    drawn as a line with markers, `marker` (x, y) as a star, and `backdrop` (image, x0, x1,
    y0, y1) as an image behind the points (a 2-D latent's decoded manifold). `font_scale`
    grows every text (1.4 for a projector)."""
    coords = np.asarray(coords, dtype=np.float64)
    values = np.asarray(values)
    n = len(coords)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must be (N, 2), got {coords.shape}")
    if len(values) != n:
        raise ValueError(f"values must have one entry per point ({n}), got {len(values)}")
    size = _marker_size(n)
    fig = go.Figure()
    legend_title, rows_per_trace = _add_points(fig, coords, color_by, values, class_names, size, split,
                                               values_title, category_colors)
    if split is not None and (np.asarray(split) == 1).any():
        legend_title = legend_title or "images"
    if selected is not None and len(selected):
        _add_selection(fig, coords, selected, size, rows_per_trace, split)
    if path is not None and len(path):
        _add_path(fig, path)
    if marker is not None:
        _add_marker(fig, marker)
    _lay_out_map(fig, height, title, legend_title, axis_titles)
    if font_scale != 1.0:  # e.g. Large type: axes, legend and title grow together
        fig.update_layout(font_size=round(FONT_SIZE * font_scale), legend_font_size=round(FONT_SIZE * font_scale))
    if backdrop is not None:
        _add_backdrop(fig, backdrop)
    return fig


TRAIN_GROUP = "train"  # the legend group of every training-set trace: one legend entry shows or hides them all
TRAIN_OPACITY = 0.25   # training points are faint and under the test points


def _add_points(fig: go.Figure, coords: np.ndarray, color_by: str, values: np.ndarray,
                class_names: Sequence[str], size: float, split: np.ndarray | None = None, values_title: str = "",
                category_colors: Sequence[str] | None = None) -> tuple[str, list]:
    """The points, coloured by `color_by`, training points (split 1) first, faint and smaller;
    returns the legend's title and each point trace's map rows (customdata is the index in its split)."""
    split = np.zeros(len(coords), np.int8) if split is None else np.asarray(split)
    rows_per_trace: list[np.ndarray] = []
    for code in (1, 0) if (split == 1).any() else (0,):
        in_split = np.flatnonzero(split == code)
        first = len(in_split) and in_split[0]
        train = code == 1
        style = dict(opacity=TRAIN_OPACITY, size=size * 0.8) if train else {}
        groups = _point_groups(color_by, values[in_split], class_names, size, values, values_title, category_colors)
        for name, m, marker, hover, legend in groups:
            rows = in_split[m]
            marker = {**marker, **style}
            if train:
                marker.pop("colorbar", None)
                marker["showscale"] = False
            fig.add_trace(go.Scattergl(
                # float32 positions and int32 indices: the figure's JSON for 70,000 points stays small
                x=coords[rows, 0].astype(np.float32), y=coords[rows, 1].astype(np.float32), mode="markers", name=f"{name} (train)" if train else name,
                customdata=(rows - first).astype(np.int32), marker=marker, showlegend=legend and not train,
                # how plotly.js itself shows a pick made on the chart (a click, box or lasso),
                # without a new figure: the picked points larger, the others faded
                selected=dict(marker=dict(size=max(6.0, 1.6 * size), opacity=1.0)), unselected=dict(marker=dict(opacity=UNSELECTED_OPACITY)),
                legendgroup=TRAIN_GROUP if train else None,
                hovertemplate=("training " if train else "") + hover + "<extra></extra>"))
            rows_per_trace.append((len(fig.data) - 1, rows))
    if (split == 1).any():  # one legend entry for the whole training set: a click hides or shows it
        fig.add_trace(go.Scattergl(x=[None], y=[None], mode="markers", name="training set (faint)",
                                   legendgroup=TRAIN_GROUP, marker=dict(size=size, color="#777777", opacity=0.5)))
    return _LEGEND_TITLES.get(color_by, values_title), rows_per_trace


_LEGEND_TITLES = {"predicted": "CNN prediction", "label": "true label", "correct": "CNN vs true label",
                  "confidence": "", "recon_error": ""}


def _point_groups(color_by: str, values: np.ndarray, class_names: Sequence[str], size: float, every: np.ndarray,
                  values_title: str = "", category_colors: Sequence[str] | None = None):
    """(name, mask, marker, hover, in legend) for each trace of a colouring; a colour scale
    spans `every` value (both splits')."""
    if color_by in ("predicted", "label", "category"):
        values = values.astype(np.int64)
        colour = (lambda k: category_colors[k]) if category_colors else class_color
        return [(str(name), values == k, dict(size=size, color=colour(k), opacity=0.8),
                 f"{name}<br>image %{{customdata}}", True) for k, name in enumerate(class_names)]
    if color_by == "correct":
        values = values.astype(bool)
        return [(label, m, dict(size=size if label == "correct" else size * 1.3, color=color, opacity=opacity),
                 f"{label}<br>image %{{customdata}}", True)
                for label, m, color, opacity in (("correct", values, "#9DB4C8", 0.55),
                                                 ("misclassified", ~values, HIGHLIGHT_COLOR, 0.95))]
    if color_by in ("confidence", "recon_error", "number"):
        values = values.astype(np.float32)
        title = _COLORBAR_TITLES.get(color_by, values_title)
        marker = dict(size=size, color=values, colorscale=_COLORSCALES[color_by], opacity=0.85, showscale=True,
                      cmin=float(np.min(every)), cmax=float(np.max(every)),
                      colorbar=dict(title=dict(text=title), thickness=16))
        return [(title, np.ones(len(values), bool), marker, "image %{customdata}<br>" + title + " %{marker.color:.3g}",
                 False)]
    raise ValueError(f"color_by must be one of {', '.join(COLOR_BY)}, got {color_by!r}")


RING_MAX = 20  # up to this many selected points get a ring; more dim the rest of the map instead
UNSELECTED_OPACITY = 0.12


def _add_selection(fig: go.Figure, coords: np.ndarray, selected: Sequence[int], size: float,
                   rows_per_trace: list, split: np.ndarray | None) -> None:
    """Show the selected map rows (rows outside the map are left out): a few get a ring each;
    many (a box or lasso) keep their colours while every other point fades, since
    a thousand rings would hide the colours under one black blob."""
    sel = np.asarray(selected, dtype=np.int64)
    sel = sel[(sel >= 0) & (sel < len(coords))]
    if len(sel) > RING_MAX:
        chosen = np.zeros(len(coords), dtype=bool)
        chosen[sel] = True
        for i, rows in rows_per_trace:
            fig.data[i].selectedpoints = np.flatnonzero(chosen[rows]).tolist()  # styled as _add_points says
        return
    split = np.zeros(len(coords), np.int8) if split is None else np.asarray(split)
    for code in (0, 1):
        rows = sel[split[sel] == code]
        if len(rows):  # a ring's customdata is its index in its split, like the point under it
            first = int(np.flatnonzero(split == code)[0])
            fig.add_trace(go.Scattergl(
                x=coords[rows, 0], y=coords[rows, 1], mode="markers", name="selected", customdata=rows - first,
                legendgroup=TRAIN_GROUP if code else None, showlegend=not code, meta="ring",
                marker=dict(symbol="circle-open", size=max(14, 3 * size), color="#000000", line=dict(width=2)),
                # a pick made on the chart since hides these rings (they mark the picks the figure was made with)
                unselected=dict(marker=dict(opacity=0)),
                hovertemplate="selected<br>" + ("training " if code else "") + "image %{customdata}<extra></extra>",
            ))


def _add_path(fig: go.Figure, path: np.ndarray) -> None:
    """A path (M, 2) as a line with markers, each hover saying its t in [0, 1]."""
    path = np.asarray(path, dtype=np.float64)
    t = np.linspace(0, 1, len(path))
    fig.add_trace(go.Scatter(
        x=path[:, 0], y=path[:, 1], mode="lines+markers", name="path",
        customdata=np.full(len(path), NOT_A_TEST_POINT), text=[f"t = {v:.2f}" for v in t],
        line=dict(color="#222222", width=3), marker=dict(size=8, color="#FFFFFF", line=dict(width=2, color="#222222")),
        hovertemplate="%{text}<extra>path</extra>",
    ))


def _add_marker(fig: go.Figure, marker: tuple[float, float]) -> None:
    """The current code as a star."""
    fig.add_trace(go.Scatter(
        x=[float(marker[0])], y=[float(marker[1])], mode="markers", name="current code",
        customdata=[NOT_A_TEST_POINT],
        marker=dict(symbol="star", size=26, color="#FFD700", line=dict(width=2, color="#000000")),
        hovertemplate="current code<extra></extra>",
    ))


def _lay_out_map(fig: go.Figure, height: int, title: str, legend_title: str,
                 axis_titles: tuple[str, str] | None) -> None:
    """Projector-sized fonts, square axes without grids, lasso selection."""
    axis = dict(showgrid=False, zeroline=False, showline=True, linecolor="#BBBBBB", mirror=True, ticks="")
    fig.update_layout(
        template="plotly_white", height=height, font=dict(size=FONT_SIZE),
        title=dict(text=title) if title else None, dragmode="lasso", hovermode="closest",
        showlegend=bool(legend_title),  # a map of one class still names it
        # outside the frame, on the right (the plot area shrinks to make room for it)
        legend=dict(title=dict(text=legend_title), itemsizing="constant", font=dict(size=FONT_SIZE),
                    x=1.02, xanchor="left", y=1, yanchor="top", bgcolor="rgba(0,0,0,0)"),
        margin=dict(l=40, r=10, t=60 if title else 10, b=30), plot_bgcolor="#FFFFFF",
        xaxis=dict(axis, title=dict(text=axis_titles[0]) if axis_titles else None),
        yaxis=dict(axis, title=dict(text=axis_titles[1]) if axis_titles else None, scaleanchor="x", scaleratio=1),
    )


def _add_backdrop(fig: go.Figure, backdrop: tuple[Image.Image, float, float, float, float]) -> None:
    """An image behind the points over (x0, x1, y0, y1), the axes fitted to it."""
    image, x0, x1, y0, y1 = backdrop
    fig.add_layout_image(dict(source=image, xref="x", yref="y", x=x0, y=y1, sizex=x1 - x0, sizey=y1 - y0,
                              sizing="stretch", layer="below", opacity=0.55))
    fig.update_xaxes(range=[x0, x1])
    fig.update_yaxes(range=[y0, y1])


def manifold_grid(model: "nn.Module", extent: tuple[float, float, float, float], n: int = 15,
                  label: int | None = None) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """A 2-D latent's decoded manifold: decode an n x n grid of codes spread over `extent`
    (x0, x1, y0, y1), tiled into one image (grey, or RGB for a colour model) with the top row at y1.

    Cell centres sit on the grid points, so the image covers half a cell more on every
    side; the returned extent is what the image covers (use it for the backdrop)."""
    from explorer.analysis.latent import decode

    if model.cfg.latent_dim != 2:
        raise ValueError(f"a manifold grid needs a 2-D latent; this model's is {model.cfg.latent_dim}-D")
    x0, x1, y0, y1 = (float(v) for v in extent)
    xs = np.linspace(x0, x1, n)
    ys = np.linspace(y1, y0, n)  # top row first
    gx, gy = np.meshgrid(xs, ys)  # (n, n), row r has y = ys[r]
    z = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)
    images = decode(model, z, label)  # (n*n, C, H, W)
    _, c, h, w = images.shape
    tiles = images.reshape(n, n, c, h, w).transpose(0, 3, 1, 4, 2).reshape(n * h, n * w, c)  # (nH, nW, C)
    img = Image.fromarray(to_uint8(tiles[..., 0] if c == 1 else tiles[..., :3]))
    dx = (x1 - x0) / (n - 1) if n > 1 else 1.0
    dy = (y1 - y0) / (n - 1) if n > 1 else 1.0
    return img, (x0 - dx / 2, x1 + dx / 2, y0 - dy / 2, y1 + dy / 2)


# ---------------------------------------------------------------- layers on the map

REGION_OPACITY = 0.3
WRONG_COLOR = "#000000"
RELABELLED_COLOR = "#555555"


def add_regions(fig: go.Figure, xs: np.ndarray, ys: np.ndarray, classes: np.ndarray, class_names: Sequence[str],
                opacity: float = REGION_OPACITY) -> go.Figure:
    """Shade the map's background by class: `classes` (len(ys), len(xs)) is the label at each
    grid point, drawn in that class's colour under the points (hover and clicks pass through)."""
    classes = np.asarray(classes, dtype=np.int64)
    if classes.shape != (len(ys), len(xs)):
        raise ValueError(f"classes must be (len(ys), len(xs)) = ({len(ys)}, {len(xs)}), got {classes.shape}")
    k = len(class_names)
    # a stepped colour scale: value i (of 0..k-1) gets class i's colour exactly
    scale = []
    for i in range(k):
        scale += [[i / k, class_color(i)], [(i + 1) / k, class_color(i)]]
    fig.add_trace(go.Heatmap(x=np.asarray(xs, np.float64), y=np.asarray(ys, np.float64), z=classes,
                             zmin=-0.5, zmax=k - 0.5, colorscale=scale, showscale=False, opacity=opacity,
                             hoverinfo="skip", name="CNN's regions", zsmooth=False))
    fig.data = (fig.data[-1], *fig.data[:-1])  # first trace: drawn under every point
    return fig


def add_disagreements(fig: go.Figure, coords: np.ndarray, wrong: np.ndarray | None = None,
                      relabelled: np.ndarray | None = None) -> go.Figure:
    """Mark test points (customdata = test index) where the CNN disagrees with the true label
    (a black cross, "CNN wrong") and where it labels the reconstruction differently from the
    original (a thin grey ring, "recon. differs": grey, so the class colours under it still read).
    Short legend names keep the map wide."""
    coords = np.asarray(coords, dtype=np.float64)
    idx = np.arange(len(coords))
    size = max(6.0, 1.25 * _marker_size(len(coords)))
    # rings first, crosses on top; thin, small and see-through, since thousands may be marked
    # and the colours under them must still show
    layers = (("recon. differs", relabelled, dict(symbol="circle-open", size=1.4 * size, color=RELABELLED_COLOR,
                                                  opacity=0.35, line=dict(width=0.6, color=RELABELLED_COLOR))),
              ("CNN wrong", wrong, dict(symbol="x-thin-open", size=0.8 * size, color=WRONG_COLOR, opacity=0.45,
                                        line=dict(width=1, color=WRONG_COLOR))))
    for name, mask, marker in layers:
        if mask is None:
            continue
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(coords),):
            raise ValueError(f"{name}: one flag per point ({len(coords)}) needed, got {mask.shape}")
        fig.add_trace(go.Scattergl(
            x=coords[mask, 0], y=coords[mask, 1], mode="markers", customdata=idx[mask], marker=marker, name=name,
            hovertemplate=f"{name}<br>image %{{customdata}}<extra></extra>"))
    return fig


def add_star(fig: go.Figure, x: float, y: float, name: str, neighbours: np.ndarray | None = None) -> go.Figure:
    """A large gold star with a thick black edge at (x, y), named in the legend (e.g. a drawn
    image on the map); with `neighbours` (k, 2), thin lines and rings to those map positions
    (its nearest test images). SVG traces: drawn above the WebGL points."""
    if neighbours is not None and len(neighbours):
        nb = np.asarray(neighbours, dtype=np.float64)
        xs = [v for px in nb[:, 0] for v in (float(x), float(px), None)]
        ys = [v for py in nb[:, 1] for v in (float(y), float(py), None)]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="its nearest test images", hoverinfo="skip",
                                 line=dict(color="#222222", width=1.5), showlegend=False))
        fig.add_trace(go.Scatter(x=nb[:, 0], y=nb[:, 1], mode="markers", name="its nearest test images",
                                 customdata=[NOT_A_TEST_POINT] * len(nb), hoverinfo="skip",
                                 marker=dict(symbol="circle-open", size=14, color="#222222", line=dict(width=2))))
    fig.add_trace(go.Scatter(x=[float(x)], y=[float(y)], mode="markers", name=name, customdata=[NOT_A_TEST_POINT],
                             marker=dict(symbol="star", size=34, color="#FFD700", line=dict(width=3, color="#000000")),
                             hovertemplate=f"{name}<extra></extra>"))
    return fig


# ---------------------------------------------------------------- training curves

def curves_figure(history: Sequence[dict], keys: Sequence[str], title: str = "", height: int = 400,
                  names: Sequence[str] | None = None, font_scale: float = 1.0, legend_below: bool = False) -> go.Figure:
    """Training curves: one line per key of the per-epoch `history` records, epoch on x
    (named by `names` when given, else by the keys). `font_scale` grows every text; `legend_below`
    puts the legend in one row under the plot, leaving a narrow chart's width to the curves."""
    fig = go.Figure()
    last_epoch = max((rec.get("epoch", j + 1) for j, rec in enumerate(history)), default=1)
    for i, key in enumerate(keys):
        pts = [(rec.get("epoch", j + 1), rec[key]) for j, rec in enumerate(history) if key in rec]
        if not pts:
            continue
        x, y = zip(*pts)
        fig.add_trace(go.Scatter(x=list(x), y=list(y), mode="lines+markers", name=names[i] if names else key,
                                 line=dict(color=class_color(i), width=3)))
    fig.update_layout(template="plotly_white", height=height, font=dict(size=round(FONT_SIZE * font_scale)),
                      title=dict(text=title) if title else None, hovermode="x unified",
                      xaxis=dict(title=dict(text="epoch"), showgrid=False, dtick=max(1, round(last_epoch / 8))),
                      yaxis=dict(showgrid=True, gridcolor="#EEEEEE"),
                      margin=dict(l=50, r=20, t=60 if title else 20, b=50))
    if legend_below:
        fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.25, xanchor="left", x=0),
                          margin=dict(b=90))
    return fig


__all__ = ["CLASS_COLORS", "latent_map", "manifold_grid", "add_regions", "add_disagreements", "add_star",
           "curves_figure", "class_color"]
