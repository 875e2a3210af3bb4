"""Layers on the Map page: the CNN's decision regions shaded behind the points, and marks on
the test images it gets wrong or relabels once reconstructed (explorer.maps.regions does the work),
and a star where the person's own image (the Your image page) lands.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import plotly.graph_objects as go
import streamlit as st

from explorer.figures import plots
from explorer.maps import projection, regions

from explorer.ui import cache, yours
from explorer.ui.state import Context

GRID = 50  # regions are computed on a GRID x GRID grid over the map


@dataclass(frozen=True)
class Layers:
    regions: bool = False
    marks: bool = False


@dataclass(frozen=True)
class Drawn:
    """What the layers add to the map, computed (and cached) before the figure is built; `key`
    names it all, so the figure with its layers is built once and shared."""
    key: tuple
    regions: regions.Regions | None = None
    marks: regions.Disagreements | None = None
    star: projection.Spot | None = None
    star_name: str = ""


def controls(ctx: Context, left, right) -> Layers:
    """Two toggles, in the `left` and `right` containers; without a classifier there is nothing
    to show, and they are off."""
    no_classifier = not ctx.has_classifier
    why = "Needs a classifier: pick one in the sidebar." if no_classifier else None
    shade = left.toggle("Decision regions", key="map_regions", disabled=no_classifier, persist_state="session",
                        help=why or "Shade the background by the class the classifier gives the image "
                                    "decoded at each spot of the map.")
    marks = right.toggle("Mark disagreements", key="map_marks", disabled=no_classifier, persist_state="session",
                         help=why or "Cross: the classifier disagrees with the true label. "
                                     "Ring: it labels the reconstruction differently from the original.")
    return Layers(regions=bool(shade) and not no_classifier, marks=bool(marks) and not no_classifier)


def _ask_refit(key: tuple) -> None:
    st.session_state["map_refit_for"] = key


def prepare(ctx: Context, proj: projection.Projection, layers: Layers) -> tuple[Drawn, list[str]]:
    """Compute the chosen layers (cached); returns them and sentences for the caption."""
    notes: list[str] = []
    reg = _regions(ctx, proj, notes) if layers.regions else None
    marks = None
    if layers.marks:
        recon_pred = cache.recon_predictions(ctx, (ctx.vae_key, ctx.classifier_key))
        marks = regions.disagreements(ctx.data.labels, ctx.pred, recon_pred)
        n = len(marks.wrong)
        notes.append(f"Crosses: {int(marks.wrong.sum()):,} of {n:,} test images the classifier gets wrong. "
                     f"Rings: {int(marks.relabelled.sum()):,} whose reconstruction it labels differently.")
    mine = yours.get(ctx)
    star = None
    if mine is not None:
        star = projection.spot(proj, ctx.mu, yours.code(ctx, mine))
        how = "" if star.exact else (f", shown on its nearest test image (this map has no transform for a new "
                                     f"point); lines go to its {len(star.neighbours)} nearest test images")
        notes.append(f"Star: {mine.source}{how}.")
    key = (None if reg is None else reg.how, layers.marks,
           None if mine is None else (mine.digest, tuple(float(v) for v in star.xy)))
    return Drawn(key, reg, marks, star, "" if mine is None else "your image"), notes


def _regions(ctx: Context, proj: projection.Projection, notes: list[str]) -> regions.Regions | None:
    if ctx.conditional:
        notes.append("A conditional VAE decodes every spot differently for each class, so it has no single "
                     "decision map; pick a vae or hybrid checkpoint to see the regions.")
        return None
    key = (ctx.vae_key, ctx.classifier_key, proj.method, proj.key)
    reg = None
    if proj.method == "umap" and st.session_state.get("map_refit_for") == key:
        with st.spinner(f"Refitting UMAP on {len(ctx.mu):,} codes, then inverting it at {GRID * GRID:,} "
                        "spots (several minutes)...", show_time=True):
            try:
                reg = cache.umap_regions(ctx, proj, key, GRID)
            except projection.ProjectionError as e:
                st.warning(f"UMAP's own inverse is not available: {e}. Showing the fast approximation.")
                st.session_state.pop("map_refit_for", None)
    elif proj.method == "umap":
        st.button("Use UMAP's own inverse (refits UMAP: minutes)", key="map_refit", on_click=_ask_refit,
                  args=(key,), help="The cached map keeps positions only. This fits UMAP again with the "
                                    "same settings and seed and uses umap-learn's inverse_transform.")
    reg = reg or cache.decision_regions(ctx, proj, key, GRID)
    notes.append(f"Background: the class {ctx.classifier_name} gives the image decoded at each spot "
                 f"({GRID} x {GRID} grid; {reg.how})." + ("" if reg.exact else " The regions are an approximation."))
    return reg


def draw(fig: go.Figure, drawn: Drawn, coords: np.ndarray, class_names: list[str]) -> go.Figure:
    """A copy of the map figure with the layers on it (the figure given is shared: left alone)."""
    fig = go.Figure(fig)
    if drawn.regions is not None:
        r = drawn.regions
        plots.add_regions(fig, r.xs, r.ys, r.classes, class_names)
    if drawn.marks is not None:
        plots.add_disagreements(fig, coords, drawn.marks.wrong, drawn.marks.relabelled)
    if drawn.star is not None:
        s = drawn.star
        plots.add_star(fig, s.xy[0], s.xy[1], drawn.star_name, None if s.exact else coords[s.neighbours])
    return fig
