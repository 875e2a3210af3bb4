"""Traverse: move one latent dimension at a time and watch the decoded image and its label.

Dimensions are ordered by how much information they carry (mean KL to the prior over the
test set); a collapsed dimension (KL near 0) changes nothing. The sliders and the image
they drive sit in a fragment, so a slider move reruns only that part.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.analysis import latent
from explorer.core import kinds
from explorer.figures import grids
from explorer.maps import projection
from explorer.ui import cache, exports, factors, help, urlstate, yours
from explorer.ui.state import Context, context, current_index
from explorer.ui.timing import timed
from explorer.ui.widgets import big, guarded, live_map, quick_map, scale_for, show_in, strip

TOP = 8           # sliders shown before the "more dimensions" expander
GRID_ROWS = 6     # rows of the traversal grid
ACTIVE_KL = 0.05  # nats: below this a dimension counts as collapsed
GRID_COLS = 7     # -3 .. +3 standard deviations
RESET = "trav_reset"  # set by reset_sliders(), taken by the next run of the sliders
BASES = {"selected": "Selected image", "class": "Class mean", "origin": "Origin", "yours": "Your image"}


def choose_base(ctx: Context) -> tuple[np.ndarray, int | None, tuple, str]:
    """The base code, the cvae condition (None for other kinds), an identity and a description."""
    left, right, _ = st.columns([4, 2, 2], vertical_alignment="bottom")  # room for all four choices
    base = left.segmented_control("Start from", list(BASES), format_func=BASES.get, default="selected",
                                  required=True, key="trav_base", persist_state="session",
                                  bind="query-params")
    urlstate.shown("trav_base", BASES.get(base, base))
    names = list(range(ctx.num_classes))
    k = None
    if base == "class" or (base == "origin" and ctx.conditional):
        label = "Class" if base == "class" else "Decode as class (cvae)"
        k = right.selectbox(label, names, format_func=lambda c: ctx.class_names[c], key="trav_class",
                            persist_state="session", bind="query-params")
        urlstate.shown("trav_class", ctx.class_names[k])
    if base == "yours":
        mine = yours.get(ctx)
        if mine is not None:
            return yours.code(ctx, mine), yours.condition(ctx, mine), ("yours", mine.digest), mine.source
    if base in ("selected", "yours"):
        i = current_index(ctx)
        note = ""
        if base == "yours":
            note = ": no image of yours yet, draw or upload one on the Your image page"
        if i is None:
            i, note = 0, note or ": nothing selected on the Map page yet"
        true = int(ctx.data.labels[i])
        return ctx.mu[i], kinds.condition(ctx.vae.kind, true), ("selected", i), \
            f"test image #{i} ({ctx.class_names[true]}){note}"
    if base == "class":
        means = cache.class_means(ctx)
        return means[k], k, ("class", k), f"the mean code of class {ctx.class_names[k]}"
    return np.zeros(ctx.latent_dim, np.float32), k, ("origin", k), "the origin (the prior's mean)"


def reset_sliders(ctx: Context, base_z: np.ndarray, ident: tuple) -> None:
    """Put the sliders on the base code when the base (or the checkpoint) changes."""
    sig = (ctx.vae_key, ident)
    keys = [f"trav_z{d}" for d in range(ctx.latent_dim)]
    if st.session_state.get("trav_sig") != sig or any(k not in st.session_state for k in keys):
        for d, k in enumerate(keys):
            st.session_state[k] = round(float(base_z[d]), 2)
        st.session_state["trav_sig"] = sig
        st.session_state[RESET] = True


def restore_sliders(ctx: Context, base_z: np.ndarray, dims: cache.Dims) -> None:
    """A link's slider positions (`z`), put on the sliders after reset_sliders() set the base."""
    keys = {d: f"trav_z{d}" for d in range(ctx.latent_dim)}
    ranges = {d: slider_range(dims.spans[d], float(base_z[d])) for d in keys}
    if urlstate.take_codes("z", keys, ranges):
        st.session_state[RESET] = True


def slider_range(span: np.ndarray, base: float) -> tuple[float, float]:
    """-3..+3 std of the dimension's test codes (`span`), widened to hold the base code."""
    return round(min(float(span[0]), base) - 0.05, 2), round(max(float(span[1]), base) + 0.05, 2)


@st.fragment
@timed("traverse.live")
@guarded
def live(ctx: Context, base_z: np.ndarray, label: int | None, dims: cache.Dims, proj: projection.Projection,
         tracks: dict[int, str]) -> None:
    """Sliders, the decoded image with the CNN's verdict, and the code's place on the map.

    What a slider move costs: the sliders, one decode, one judgement and the star's new place;
    everything else was worked out by the page's full run and comes in as arguments."""
    sliders, image, where = st.columns([5, 4, 4], gap="medium")
    z = base_z.astype(np.float32).copy()
    order, kl = dims.order, dims.kl
    fresh = st.session_state.pop(RESET, False)
    with sliders:
        for n, d in enumerate(order):
            if n == TOP:
                more = st.expander(f"{len(order) - TOP} more dimensions (less active)", key="trav_more")
            box = more if n >= TOP else st.container()
            lo, hi = slider_range(dims.spans[d], float(base_z[d]))
            key = f"trav_z{d}"
            # value=lo is what Streamlit takes for a single slider without one (the stored value wins
            # anyway); left out, it copies the whole session state for every slider to tell a range
            # slider from a single one. Right after reset_sliders() wrote the values it is left out,
            # as Streamlit warns about a default given beside a value set through the session state.
            value = None if fresh else lo
            z[d] = box.slider(f"z{d} · KL {kl[d]:.2f}" + (f" · {tracks[d]}" if d in tracks else ""), lo, hi, value=value, step=0.05, key=key, format="%.2f")
    # the link keeps the sliders moved off the base (the base itself is in trav_base / trav_class)
    urlstate.put_codes("z", {d: z[d] for d in range(len(z)) if abs(z[d] - round(float(base_z[d]), 2)) > 1e-6})
    decoded = ctx.decode(z[None], label)
    pred, proba = ctx.classify(decoded)
    with image:
        show_in(st, big(ctx, decoded[0], 260), caption=f"CNN: {ctx.verdict(pred, proba, 0)}")
        if label is not None:
            st.caption(f"Decoded as class {ctx.class_names[label]} (cvae condition).")
    with where:
        xy = projection.place(proj, cache.codes64(ctx), z[None])[0]
        live_map(ctx, proj, (float(xy[0]), float(xy[1])), height=300)


def _collapse_note(active: list[int], collapsed: list[int]) -> str:
    if not active:
        return " No dimension carries information here (posterior collapse): every image is about the same."
    if collapsed and len(active) < GRID_ROWS:
        return " The last row is a collapsed dimension, for contrast: moving it changes nothing."
    return ""


def grid(ctx: Context, base_z: np.ndarray, label: int | None, stats: cache.Dims, tracks: dict[int, str]) -> None:
    """Rows: the most active dimensions; columns: -3..+3 std; each cell with the CNN's label."""
    order, kl = stats.order, stats.kl
    active = [int(d) for d in order if kl[d] > ACTIVE_KL][:GRID_ROWS]
    collapsed = [int(d) for d in order if kl[d] <= ACTIVE_KL]
    dims = np.array(active + collapsed[:1] if len(active) < GRID_ROWS else active, dtype=np.int64)
    values = np.stack([latent.span_values(stats.spans[d], GRID_COLS) for d in dims])
    codes = latent.traversal_codes(base_z, dims, values)                      # (R, V, D)
    out = cache.decoded(ctx, codes.reshape(-1, ctx.latent_dim), label)      # one pass for the whole grid
    images = out.images.reshape(*codes.shape[:2], *out.images.shape[1:])  # (R, V, C, H, W)
    st.subheader("Traversal grid")
    st.caption("Each row sweeps one dimension from -3 to +3 standard deviations of the test codes, "
               "the others held at the base code. Captions: the CNN's label. Outlined: where the label changes."
               + _collapse_note(active, collapsed))
    for r, d in enumerate(dims):
        pred = out.pred[r * GRID_COLS:(r + 1) * GRID_COLS] if out.pred is not None else None
        changes = latent.label_changes(pred) if pred is not None else []
        name, row = st.columns([3, 20], vertical_alignment="center")
        name.markdown(f"**z{d}**  \nKL {kl[d]:.2f}" + ("  \n(collapsed)" if kl[d] <= ACTIVE_KL else "")
                      + (f"  \n{tracks[d]}" if d in tracks else ""))
        captions = [ctx.class_names[int(p)] for p in pred] if pred is not None else None
        show_in(row, strip(ctx, images[r], captions, px=84, highlight=changes))
    png = gif = st.container(horizontal=True)
    exports.png_button(png, lambda: grids.image_grid(out.images, GRID_COLS, scale=scale_for(ctx, 84)),
                       f"{ctx.vae.name}_traversal", key="trav_grid_png", label="Grid PNG")
    exports.gif_button(gif, images[0], [f"z{dims[0]} = {v:+.2f}" for v in values[0]], f"{ctx.vae.name}_z{dims[0]}",
                       key="trav_gif", label=f"z{dims[0]} GIF")


@guarded
def render() -> None:
    ctx = context()
    help.explain("traverse")
    base_z, label, ident, described = choose_base(ctx)
    reset_sliders(ctx, base_z, ident)
    dims = cache.dims(ctx)
    restore_sliders(ctx, base_z, dims)
    active = int((dims.kl > ACTIVE_KL).sum())
    st.caption(f"Base: {described}. Sliders ordered by KL (nats); {active} of {ctx.latent_dim} dimensions "
               f"are active (KL > {ACTIVE_KL}), the rest have collapsed to the prior.")
    tracks = factors.tracked(ctx)  # the true factor each dimension follows, when known (shapes)
    live(ctx, base_z, label, dims, quick_map(ctx), tracks)
    if cache.factor_scores(ctx) is not None:
        with st.expander("Which true factor each dimension tracks", expanded=True, key="trav_factors"):
            factors.panel(ctx, key="trav_factors")
    grid(ctx, base_z, label, dims, tracks)


render()
