"""Map: the test set's latent means in 2-D, coloured by what the CNN thinks each image is.

Click a point, or drag a box or lasso, to see those images beside the map with their
reconstructions and the CNN's verdicts. The picked images are shared with the other pages.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.data.loader import to_float
from explorer.maps import projection
from explorer.figures.plots import TRAIN_GROUP
from explorer.ui import cache, exports, factors, help, mapchart, overlays, present, urlstate, wholemap
from explorer.ui.sidebar import banner
from explorer.ui.state import Context, context, select, selection
from explorer.ui.timing import timed
from explorer.ui.widgets import (MAP_CHOICE, METHOD_TITLES, PLANE_CHOICE, get_map, guarded, map_figure, map_methods,
                                 pair, show_in)

CHART = "map_chart"  # the chart's key; its value is its last event (explorer/ui/mapchart)
CLEARED = "map_cleared"  # how often "Clear" was pressed: the chart drops its marks when this changes
SEEN = "map_event_seen"  # the token of the chart's last event acted on
COLORINGS = {
    "predicted": "CNN prediction",
    "label": "True label",
    "correct": "Correct / misclassified",
    "confidence": "CNN confidence",
    "recon_error": "Reconstruction error",
}
MAX_SHOWN = 5


def controls(ctx: Context) -> tuple[str, str, dict]:
    """Method, colouring and projection parameters."""
    methods = map_methods(ctx)
    if st.session_state.get("map_for") != ctx.vae_key:  # another checkpoint: a 2-D one opens as its plane
        st.session_state["map_for"] = ctx.vae_key
        if methods[0] == PLANE_CHOICE:
            st.session_state["map_method"] = PLANE_CHOICE
    # labels collapsed: the options name themselves, and the map gets the height
    left, mid, right = st.columns([3, 3, 2], vertical_alignment="bottom")
    method = left.segmented_control("Map", methods, default=methods[0], required=True, key="map_method",
                                    format_func=METHOD_TITLES.get, persist_state="session", bind="query-params",
                                    label_visibility="collapsed")
    urlstate.shown("map_method", METHOD_TITLES.get(method, method))
    titles = {**COLORINGS, **factors.colorings(ctx)}  # a dataset's true factors too (shapes)
    colorings = [c for c in titles if ctx.pred is not None or c not in ("predicted", "correct", "confidence")]
    color_by = mid.selectbox("Colour by", colorings, format_func=titles.get,
                             key="map_color", persist_state="session", bind="query-params",
                             label_visibility="collapsed")
    urlstate.shown("map_color", titles.get(color_by, color_by))
    if method not in TUNABLE:
        right.popover("Map settings", width="stretch", key="map_settings", disabled=True,
                      help=f"{METHOD_TITLES[method]} has no settings.")
        return method, color_by, {}
    with right.popover("Map settings", width="stretch", key="map_settings"):
        params = _params_form(method)
    return method, color_by, params


TUNABLE = ("umap", "tsne")  # PCA and the plane have no settings


def _params_form(method: str) -> dict:
    """The chosen method's parameters, applied together (a new UMAP or t-SNE map takes a while)."""
    defaults = projection.DEFAULT_PARAMS
    with st.form("map_params_form", border=False):
        if method == "umap":
            nn = st.slider("UMAP neighbours", 2, 200, int(defaults["umap"]["n_neighbors"]), key="map_umap_nn",
                           persist_state="session", bind="query-params",
                           help="More neighbours: more global structure, fewer small islands.")
            md = st.slider("UMAP min-dist", 0.0, 0.99, float(defaults["umap"]["min_dist"]), step=0.01,
                           key="map_umap_md", persist_state="session", bind="query-params",
                           help="Smaller: tighter clusters.")
            params = {"n_neighbors": nn, "min_dist": md}
        else:
            perp = st.slider("t-SNE perplexity", 2.0, 200.0, float(defaults["tsne"]["perplexity"]), step=1.0,
                             key="map_tsne_perp", persist_state="session", bind="query-params",
                             help="About how many neighbours each point cares about (less than a third of the points).")
            params = {"perplexity": perp}
        st.form_submit_button("Apply", type="primary", key="map_apply")
    return params


def the_map(ctx: Context, method: str, color_by: str, params: dict,
            layers: overlays.Layers = overlays.Layers(), whole: bool = False, rings: Rings = ((), ())) -> None:
    """The map (of the test set, or of both sets when `whole`), the `rings` picks ringed."""
    title = METHOD_TITLES[method]
    w = wholemap.whole(ctx, method, params, color_by) if whole else None
    if w is not None:
        st.session_state[MAP_CHOICE] = (ctx.vae_key, method, params)
        return whole_map(ctx, w, title, layers, rings)
    cached = get_map(ctx, method, params, compute=False)
    if cached is None:
        with st.spinner(f"Computing the {title} map of {len(ctx.mu):,} codes (once per checkpoint and settings)...",
                        show_time=True):
            try:
                proj = get_map(ctx, method, params, compute=True)
            except Exception as e:  # a failed projection leaves the rest of the page working
                st.error(f"The {title} map could not be computed: {e}. Try another method or other settings.")
                return
    else:
        proj = cached
    st.session_state[MAP_CHOICE] = (ctx.vae_key, method, params)

    backdrop = None
    # a cvae's plane decodes differently per class; shaded regions replace the decoded images
    if proj.method == projection.PLANE and not ctx.conditional and not layers.regions:
        lo, hi = proj.coords.min(0), proj.coords.max(0)
        pad = 0.05 * (hi - lo)
        extent = (float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1]))
        backdrop = cache.manifold(ctx.model, ctx.vae_key, extent, 15, None)
    key = (ctx.vae_key, ctx.classifier_key, ctx.dataset, proj.method, proj.key, backdrop is not None, color_by,
           present.font_scale(), tuple(rings[0]))
    drawn, notes = overlays.prepare(ctx, proj, layers)
    fig = cache.figure("map.main", (*key, drawn.key), lambda: overlays.draw(
        main_figure(ctx, proj, key, color_by, key[-1], backdrop, key[-2]), drawn, proj.coords, list(ctx.class_names)))
    _chart(fig)
    how = "from the cache" if proj.from_cache else f"computed in {proj.seconds:.1f} s"
    settings = ", ".join(f"{k} {v}" for k, v in (proj.params or {}).items())
    exports.map_buttons(fig, proj.coords, ctx.data.labels, ctx.pred, ctx.class_names,
                        f"{ctx.vae.name}_{proj.method}_{color_by}")
    st.caption(f"{title} of {len(proj.coords):,} test images" + (f" ({settings})" if settings else "")
               + f", {how}. Colour: {({**COLORINGS, **factors.colorings(ctx)})[color_by]}."
               + (" Backdrop: images decoded across the plane." if backdrop is not None else "")
               + "".join(f" {n}" for n in notes))


def whole_map(ctx: Context, w: wholemap.Whole, title: str, layers: overlays.Layers, rings: Rings = ((), ())) -> None:
    """The map of the test and training sets, the layers drawn over its test points."""
    n_test = int((w.rows.split == 0).sum())
    counts = w.rows.counts()
    rows = [i for i in rings[0] if i < n_test]
    rows += [n_test + j for j in rings[1] if j < counts.get("train", 0)]
    base = wholemap.figure(ctx, w, MAP_HEIGHT, rows, present.font_scale())
    view = wholemap.test_view(w)
    drawn, notes = overlays.prepare(ctx, view, layers)
    key = (ctx.vae_key, ctx.classifier_key, w.proj.method, w.proj.key, w.color_by, tuple(rows), present.font_scale())
    fig = cache.figure("map.whole.layers", (*key, drawn.key),
                       lambda: overlays.draw(base, drawn, view.coords, list(ctx.class_names)))
    _chart(fig)
    exports.map_buttons(fig, view.coords, ctx.data.labels, ctx.pred, ctx.class_names,
                        f"{ctx.vae.name}_{w.proj.method}_{w.color_by}_test+train")
    how = "from the cache" if w.proj.from_cache else f"computed in {w.proj.seconds:.1f} s"
    st.caption(f"{title} of {counts['test']:,} test images and {counts.get('train', 0):,} training images "
               f"(faint: click \"training set\" in the legend to hide them), {how}. "
               f"Colour: {({**COLORINGS, **factors.colorings(ctx)})[w.color_by]}." + "".join(f" {n}" for n in notes))


def _chart(fig) -> None:
    """The map's chart; its events are read by absorb_selection on the next run."""
    mapchart.show(fig, CHART, MAP_HEIGHT, clear=st.session_state.get(CLEARED, 0), config={"displaylogo": False})


def clear_selection(ctx: Context) -> None:
    """Forget the picked images; the chart is told to drop its own marks and selection."""
    select(ctx.dataset, [])
    wholemap.pick_train(ctx.dataset, [])
    st.session_state[CLEARED] = st.session_state.get(CLEARED, 0) + 1  # the chart drops its own marks
    st.session_state.pop("map_last_event", None)


MAP_HEIGHT = 410  # px: with the controls above and the buttons and caption below, fits 1280x720


def main_figure(ctx: Context, proj, key: tuple, color_by: str, selected: tuple[int, ...], backdrop,
                font_scale: float):
    """The big map's figure without layers, built once per checkpoint, map, colouring and
    selection at a font scale (`key` holds them all); shared, so never changed."""
    return cache.figure("map.base", key, lambda: map_figure(
        ctx, proj, color_by, height=MAP_HEIGHT, selected=list(selected) or None, backdrop=backdrop,
        font_scale=font_scale))


def absorb_selection(ctx: Context) -> bool:
    """Copy the chart's latest event into the state, once: test picks (customdata: the test
    index) are shared with every page, training picks (the training index, in a trace of the
    training legend group) stay with the Map page. True when it brought a new pick (not a clearing)."""
    event = st.session_state.get(CHART)
    if not isinstance(event, dict):
        # no event: a first run, or the page was away for a run (Streamlit then drops the
        # chart's value); that is no clearing
        st.session_state.pop("map_last_event", None)
        return False
    if event.get("event") is None or event.get("event") == st.session_state.get(SEEN):
        return False  # acted on already: this is another run of the same page
    st.session_state[SEEN] = event["event"]
    picked = _picked(event)
    last = st.session_state.get("map_last_event")
    # a pick replaces the selection; an empty one (a double-click, or a lasso around nothing)
    # clears it, but only when the chart itself had picked something (not a pick from another page)
    if not picked and not last:
        return False
    st.session_state["map_last_event"] = picked
    select(ctx.dataset, [i for s, i in picked if s == "test"])
    wholemap.pick_train(ctx.dataset, [i for s, i in picked if s == "train"])
    return bool(picked)


def _picked(event: dict) -> list[tuple[str, int]]:
    """("test" | "train", index) of each point of a chart event, once each, in order."""
    try:
        points = list(event.get("selection", {}).get("points", []))
    except (AttributeError, TypeError):
        return []
    picked: list[tuple[str, int]] = []
    for p in points:
        cd = p.get("customdata") if isinstance(p, dict) else None
        if isinstance(cd, (list, tuple)):
            cd = cd[0] if cd else None
        if not isinstance(cd, (int, float)) or isinstance(cd, bool) or cd != cd:
            continue  # a point of an overlay (a path, a region), not an image
        point = ("train" if p.get("legendgroup") == TRAIN_GROUP else "test", int(cd))
        if point[1] >= 0 and point not in picked:
            picked.append(point)
    return picked


Rings = tuple[tuple[int, ...], tuple[int, ...]]  # (test indices, training indices) ringed on the map
RINGED = "map_ringed"  # (dataset, settings, Rings): the picks the map's figure was last made with


def ringed(ctx: Context, chart_picked: bool, settings: str) -> Rings:
    """The picks the map's figure rings. A pick made on the chart itself is marked there by the
    chart (explorer/ui/mapchart: a ring drawn as a shape, the old rings gone), so the figure
    stays as it was: the chart then keeps the map drawn instead of drawing all its points again.
    Every other run rings the picks as they are, and so does a run whose figure changes anyway
    (`settings`: what else the figure is made from, e.g. a colouring changed in the same run as
    the pick)."""
    kept = st.session_state.get(RINGED)
    if not chart_picked or kept is None or kept[:2] != (ctx.dataset, settings):
        kept = st.session_state[RINGED] = (ctx.dataset, settings, (tuple(selection(ctx.dataset)),
                                                                   tuple(wholemap.train_picks(ctx.dataset))))
    return kept[2]


def selected_panel(ctx: Context) -> None:
    picked = [("test", i) for i in selection(ctx.dataset)] + [("train", j) for j in wholemap.train_picks(ctx.dataset)]
    # the heading, the button and a picture are there before the first pick too: the panel does
    # not jump when it comes, and the browser has the code for buttons and pictures loaded
    # (Streamlit fetches an element's code the first time the page shows one: 50-80 ms of a click)
    head, clear = st.columns([3, 1], vertical_alignment="center")
    clear.button("Clear", key="map_clear", on_click=clear_selection, args=(ctx,), disabled=not picked)
    if not picked:
        head.markdown("**Nothing selected**")
        st.info("Click a point, or drag a box or lasso, to see those images here "
                "with their reconstructions and the CNN's verdicts.")
        blank = np.full_like(to_float(ctx.data.pixels[0]), 0.92)
        pic, text = st.columns([1, 1], vertical_alignment="center")  # laid out as a pick is
        show_in(pic, pair(ctx, blank, blank, px=84), caption="image | reconstruction")
        text.caption("Its true label, and what the CNN says about the image and about its reconstruction.")
        return
    head.markdown(f"**{len(picked)} selected**" + (f" (first {MAX_SHOWN})" if len(picked) > MAX_SHOWN else ""))
    shown = picked[:MAX_SHOWN]
    for split in ("test", "train"):
        indices = [i for s, i in shown if s == split]
        if indices:
            _thumbnails(ctx, split, indices)
    st.caption("Left: the image and its true label; right: the VAE's reconstruction. "
               "CNN: what the classifier says about each.")


def _thumbnails(ctx: Context, split: str, shown: list[int]) -> None:
    """Each picked image of `split` beside its reconstruction, with the true label and the CNN's verdicts."""
    recons = cache.reconstructions(ctx.model, ctx.vae_key, ctx.dataset, tuple(shown), split)
    if split == "test":
        data, pred, proba, idx = ctx.data, ctx.pred, ctx.proba, shown
    else:
        data = cache.train_set(ctx.dataset)
        pred, proba = cache.predictions(ctx, to_float(data.pixels[shown]))
        idx = list(range(len(shown)))
    r_pred, r_proba = cache.predictions(ctx, recons)
    for n, i in enumerate(shown):
        pic, text = st.columns([1, 1], vertical_alignment="center")
        show_in(pic, pair(ctx, to_float(data.pixels[i]), recons[n], px=84), caption=f"#{i}" if split == "test" else f"train #{i}")
        text.markdown(f"True: **{ctx.class_names[int(data.labels[i])]}**  \n"
                      f"CNN: {ctx.verdict(pred, proba, idx[n])}  \n"
                      f"recon: {ctx.verdict(r_pred, r_proba, n)}")


@st.fragment
@timed("map.picks")
@guarded
def map_and_picks(ctx: Context, method: str, color_by: str, params: dict, layers: overlays.Layers,
                  whole: bool) -> None:
    """The map and the picked images beside it. A pick on the map (a click, box or lasso) runs
    only this part of the page, with the figure unchanged (ringed()), so what changes is the
    panel beside the map; the link keeps the picks (urlstate.sync, here too)."""
    settings = repr((ctx.vae_key, ctx.classifier_key, method, color_by, sorted(params.items()), layers, whole,
                     present.font_scale()))
    rings = ringed(ctx, absorb_selection(ctx), settings)
    left, right = st.columns([2, 1], gap="small")
    with left:
        the_map(ctx, method, color_by, params, layers, whole, rings)
    with right:
        selected_panel(ctx)
    urlstate.sync("map")  # a run of this fragment alone: app.py's sync after a full run does not run


@guarded
def render() -> None:
    banner()
    # shown at once: on a fresh machine the first context() reads the test set and its codes
    with st.spinner("Opening the map: reading the test set, its codes and the classifier's labels...",
                    show_time=True):
        ctx = context()
    method, color_by, params = controls(ctx)
    shade, marks, whole, explain = st.columns([2, 2, 2, 2], vertical_alignment="center")
    layers = overlays.controls(ctx, shade, marks)
    whole = wholemap.toggle(whole, ctx)
    with explain:
        help.explain("map")
    map_and_picks(ctx, method, color_by, params, layers, whole)
    cache.prefetch_models()  # the map is drawn: now get torch ready for the other pages


render()
