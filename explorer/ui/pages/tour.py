"""Tour: six steps through what a VAE has learnt, in large type, with Back and Next only.

Made for a room: one idea per step, one picture, a sentence or two. It runs on the loaded
checkpoint (the shipped Fashion-MNIST vae-16d is one click away when another is loaded);
step 5 uses the dataset's conditional VAE when there is one.
"""
from __future__ import annotations


import numpy as np
import streamlit as st

from explorer.analysis import latent, teach
from explorer.figures import plots_teach
from explorer.checkpoints import CheckpointError, catalog
from explorer.core import kinds
from explorer.ui import cache, present
from explorer.ui.state import Context, context
from explorer.ui.urlstate import TOUR_STEP
from explorer.ui.widgets import get_map, guarded, map_figure, quick_map, scale_for, show_in

STEPS = ("Every dot is an image", "From image to code and back", "Walk along one dimension",
         "Morph one thing into another", "Ask for a class", "What the model finds strange")
TOUR_DATASET, TOUR_VAE = "fashion-mnist", "vae-16d"


def _go(delta: int) -> None:
    st.session_state[TOUR_STEP] = int(np.clip(st.session_state.get(TOUR_STEP, 0) + delta, 0, len(STEPS) - 1))


def _use_shipped(entry: catalog.CheckpointEntry) -> None:
    st.session_state["sb_dataset"] = entry.dataset
    st.session_state["sb_vae"] = entry.path


def _entries() -> list[catalog.CheckpointEntry]:
    return cache.checkpoint_entries(tuple(str(r) for r in catalog.checkpoint_roots()))


def offer_shipped(ctx: Context) -> None:
    """A button to the shipped Fashion-MNIST model, when something else is loaded."""
    if ctx.dataset == TOUR_DATASET and ctx.vae.name == TOUR_VAE:
        return
    for e in _entries():
        if e.dataset == TOUR_DATASET and e.name == TOUR_VAE and not e.problem and TOUR_DATASET in cache.available():
            st.button(f"Tour the shipped Fashion-MNIST model ({TOUR_VAE})", key="tour_shipped", on_click=_use_shipped,
                      args=(e,), icon=":material/checkroom:")
            return


def nav(step: int, where: str) -> None:
    back, dots, nxt = st.columns([1, 4, 1], vertical_alignment="center")
    back.button("Back", key=f"tour_back_{where}", on_click=_go, args=(-1,), disabled=step == 0,
                icon=":material/arrow_back:", width="stretch")
    dots.markdown("<div style='text-align:center;font-size:1.6rem;letter-spacing:0.4rem'>"
                  + "".join("●" if i == step else "○" for i in range(len(STEPS)))
                  + f"</div><div style='text-align:center'>step {step + 1} of {len(STEPS)}</div>",
                  unsafe_allow_html=True)
    nxt.button("Next", key=f"tour_next_{where}", on_click=_go, args=(1,), disabled=step == len(STEPS) - 1,
               icon=":material/arrow_forward:", icon_position="right", type="primary", width="stretch")


def px(ctx: Context, size: int) -> int:
    return scale_for(ctx, size)


# ---------------------------------------------------------------- the steps

def the_map(ctx: Context) -> None:
    proj = None
    if ctx.latent_dim > 2:
        try:
            proj = get_map(ctx, "umap", None, compute=False)   # shipped checkpoints carry their UMAP map
        except Exception:
            proj = None
    proj = proj or quick_map(ctx)
    # the words beside the map, not above it: the whole map and its legend fit at 1280x720
    words, chart = st.columns([2, 5], gap="medium")
    words.markdown("The encoder turns each of the test images into a code; here every code is one dot, laid out "
                   "so that neighbours stay neighbours. The colour is what a **separate classifier** thinks the "
                   "image shows. Nobody told the VAE the classes, yet it groups them.")
    scale = present.font_scale()
    fig = cache.figure("tour.map", (ctx.vae_key, ctx.classifier_key, ctx.dataset, proj.method, proj.key, scale),
                      lambda: map_figure(ctx, proj, "predicted", height=TOUR_MAP_HEIGHT, font_scale=scale)
                      .update_layout(dragmode=False))
    chart.plotly_chart(fig, key="tour_map", config={"displayModeBar": False})


TOUR_MAP_HEIGHT = 430  # px, below the step's buttons and heading at 1280x720


def image_and_code(ctx: Context) -> None:
    i = int(np.flatnonzero(ctx.data.labels == 0)[0])
    ex = cache.explanation(ctx, i, 0)  # an image of class 0 (a cvae is given it), eps of seed 0
    st.markdown(f"One image in, one **distribution over codes** out (a mean and a spread per dimension). "
                f"A code drawn from it is decoded back into an image. The cost of this image: "
                f"**{ex.recon_nats:.0f} nats** to reconstruct it, plus **{ex.kl_nats:.0f} nats** for the code. "
                f"Together they are the loss the VAE learns to lower (the ELBO).")
    pic, fig = st.columns([2, 3], gap="large")
    show_in(pic, cache.grid_png(np.stack([ex.image, ex.recon_at_mu]), 2, ("the image", "its reconstruction"),
                               px(ctx, 200), None, font_size=22))
    dims = cache.dims(ctx).order[:12]
    posterior = cache.figure("tour.posterior", (ctx.vae_key, ctx.dataset, i), lambda: plots_teach.posterior_figure(
        ex.mu, ex.sigma, ex.z, dims, height=380))
    fig.plotly_chart(posterior, key="tour_posterior", config={"displayModeBar": False})


def walk(ctx: Context) -> None:
    stats = cache.dims(ctx)
    d = int(stats.order[0])
    base = cache.class_means(ctx)[0]
    values = latent.span_values(stats.spans[d], 7)
    out = cache.decoded(ctx, latent.traversal_codes(base, [d], values[None])[0], 0)
    images, pred = out.images, out.pred
    st.markdown(f"Hold the whole code still and move **one** number, dimension z{d}, the one the model uses most. "
                "Each image is decoded from the code; the label under it is the classifier's verdict. "
                "One dimension often changes one property: shape, width, brightness.")
    caps = [f"{v:+.1f}\n{ctx.class_names[int(p)] if pred is not None else ''}" for v, p in
            zip(values, pred if pred is not None else [0] * len(values))]
    show_in(st, cache.grid_png(images, len(images), tuple(caps), px(ctx, 150),
                              tuple(latent.label_changes(pred)) if pred is not None else None, font_size=20))


def morph(ctx: Context) -> None:
    a = int(np.flatnonzero(ctx.data.labels == 0)[0])
    b = int(np.flatnonzero(ctx.data.labels == ctx.num_classes - 1)[0])
    z = latent.interpolate(ctx.mu[a], ctx.mu[b], 9, "linear")
    out = cache.decoded(ctx, z, 0)
    frames, pred = out.images, out.pred
    st.markdown(f"Walk in a straight line from the code of a **{ctx.class_names[0]}** to that of a "
                f"**{ctx.class_names[-1]}** and decode every step. The space between the two is filled with "
                "plausible in-between images; the classifier says where one class ends (outlined).")
    caps = tuple(ctx.class_names[int(p)] for p in pred) if pred is not None else None
    show_in(st, cache.grid_png(frames, len(frames), caps, px(ctx, 130),
                              tuple(latent.label_changes(pred)) if pred is not None else None, font_size=20))


def conditional_model(ctx: Context):
    """The path and name of the loaded VAE if it is a cvae, else of the dataset's first readable
    cvae, else (None, "")."""
    if ctx.conditional:
        return ctx.vae.path, ctx.vae.name
    for e in catalog.vae_choices(_entries(), ctx.dataset):
        if kinds.is_conditional(e.kind) and e.latent_dim:
            try:
                ck = cache.checkpoint(e.path)
            except CheckpointError:
                continue
            if ck.dataset == ctx.dataset and tuple(ck.model_cfg.image_shape) == tuple(ctx.data.images.shape[1:]):
                return ck.path, ck.name
    return None, ""


def ask_for_class(ctx: Context) -> None:
    path, name = conditional_model(ctx)
    images, pred = cache.prior_samples(ctx, (ctx.vae_key, ctx.classifier_key, ctx.dataset), str(path or ""),
                                 cache.checkpoint_key(path) if path else "")
    if path is None:
        st.markdown("Draw codes at random from the prior N(0, I) and decode them: new images that were never in "
                    "the data. (With a **conditional** VAE you could ask for a class; this dataset has none.)")
        caps = None
    else:
        st.markdown(f"A **conditional** VAE ({name}) takes the class as an input. Ask it for each class in turn, "
                    "with codes drawn at random: new images, never in the data. Under each: the class asked for, "
                    "and what the classifier sees.")
        caps = [f"asked: {c}" for c in ctx.class_names]
    if pred is not None:
        caps = [f"{c}\nsees: {ctx.class_names[int(p)]}" if caps else f"sees: {ctx.class_names[int(p)]}"
                for c, p in zip(caps or [""] * len(pred), pred)]
    show_in(st, cache.grid_png(images, 5, tuple(caps) if caps else None, px(ctx, 120), None, font_size=20))


def strange(ctx: Context) -> None:
    scores = cache.anomaly_scores(ctx.model, ctx.vae_key, ctx.dataset)["neg_elbo"]
    worst, _ = teach.extremes(scores, 6)
    recons = cache.reconstructions(ctx.model, ctx.vae_key, ctx.dataset, tuple(int(i) for i in worst))
    st.markdown("Every image costs the model some nats to explain. These six cost the most: shapes or styles "
                "it has rarely seen. Top: the test image; bottom: the model's best attempt at it. "
                "This is how a VAE flags anomalies.")
    caps = tuple(f"{scores[i]:.0f} nats" for i in worst) + ("reconstruction",) * len(worst)
    show_in(st, cache.grid_png(np.concatenate([ctx.data.images[worst], recons]), len(worst), caps, px(ctx, 130), None,
                              font_size=20))


STEP_FUNCTIONS = (the_map, image_and_code, walk, morph, ask_for_class, strange)


@guarded
def render() -> None:
    present.big_type()
    ctx = context()
    step = int(np.clip(st.session_state.get(TOUR_STEP, 0), 0, len(STEPS) - 1))
    st.session_state[TOUR_STEP] = step
    offer_shipped(ctx)
    nav(step, "top")
    st.title(f"{step + 1}. {STEPS[step]}")
    STEP_FUNCTIONS[step](ctx)
    nav(step, "bottom")


render()
