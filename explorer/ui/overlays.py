"""Layers on the Map page: the CNN's decision regions shaded behind the points, and marks on
the test images it gets wrong or relabels once reconstructed (explorer.maps.regions does the work),
and a star where the person's own image (the Your image page) lands.
"""
from __future__ import annotations

from dataclasses import dataclass

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


def controls(ctx: Context) -> Layers:
    """Two toggles; without a classifier there is nothing to show, and they are off."""
    left, right, _ = st.columns([2, 2, 3], vertical_alignment="center")
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


def any_on(ctx: Context, layers: Layers) -> bool:
    """Whether apply() will add anything to the figure (it leaves it alone otherwise)."""
    return layers.regions or layers.marks or yours.get(ctx) is not None


def apply(ctx: Context, proj: projection.Projection, fig: go.Figure, layers: Layers) -> list[str]:
    """Add the chosen layers to the map figure; returns sentences for the caption."""
    notes: list[str] = []
    if layers.regions:
        if ctx.conditional:
            notes.append("A conditional VAE decodes every spot differently for each class, so it has no single "
                         "decision map; pick a vae or hybrid checkpoint to see the regions.")
        else:
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
            plots.add_regions(fig, reg.xs, reg.ys, reg.classes, list(ctx.class_names))
            notes.append(f"Background: the class {ctx.classifier_name} gives the image decoded at each spot "
                         f"({GRID} x {GRID} grid; {reg.how})."
                         + ("" if reg.exact else " The regions are an approximation."))
    if layers.marks:
        recon_pred = cache.recon_predictions(ctx, (ctx.vae_key, ctx.classifier_key))
        dis = regions.disagreements(ctx.data.labels, ctx.pred, recon_pred)
        plots.add_disagreements(fig, proj.coords, dis.wrong, dis.relabelled)
        n = len(dis.wrong)
        notes.append(f"Crosses: {int(dis.wrong.sum()):,} of {n:,} test images the classifier gets wrong. "
                     f"Rings: {int(dis.relabelled.sum()):,} whose reconstruction it labels differently.")
    mine = yours.get(ctx)
    if mine is not None:
        xy = projection.place(proj, ctx.mu, yours.code(ctx, mine)[None])[0]
        plots.add_star(fig, xy[0], xy[1], "your image")
        how = "" if proj.method in (projection.PLANE, "pca") else ", placed by its nearest test codes"
        notes.append(f"Star: {mine.source}{how}.")
    return notes
