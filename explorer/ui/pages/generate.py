"""Generate: new images from the prior, of a chosen class when the VAE is conditional.

With a cvae: pick a class and move the code (or reseed) to make new images of it; a grid
of samples for every class, each judged by the CNN, with the share it agrees with the
class asked for; and style swap, one test image's code rendered as every class. With a
plain vae or hybrid: samples from the prior, and each class's mean code decoded.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.analysis import latent
from explorer.figures import grids
from explorer.ui import cache, exports, help, urlstate
from explorer.ui.state import Context, context, current_index
from explorer.ui.widgets import big, caption_width, guarded, scale_for, show_in, strip

SLIDERS = 4       # latent sliders for the top dimensions by KL
PER_CLASS = 8     # samples per class in the grid
SEED = urlstate.GEN_SEED  # in the link as `seed`


def reseed() -> None:
    st.session_state[SEED] = st.session_state.get(SEED, 0) + 1


def seed_code(ctx: Context, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(ctx.latent_dim).astype(np.float32)


@st.fragment
@guarded
def make_one(ctx: Context, seed: int, order: np.ndarray, kl: np.ndarray) -> None:
    """Class choice, a few latent sliders and the decoded image with the CNN's verdict."""
    k = st.segmented_control("Class", list(range(ctx.num_classes)), format_func=lambda c: ctx.class_names[c],
                             default=0, required=True, key="gen_class", persist_state="session", width="stretch",
                             bind="query-params")
    urlstate.shown("gen_class", ctx.class_names[k])
    if ctx.conditional:
        base = seed_code(ctx, seed)   # the style; the class comes from the condition
        sig = (ctx.vae_key, seed)
    else:
        base = cache.class_means(ctx)[k]
        sig = (ctx.vae_key, k)
    dims = [int(d) for d in order[:SLIDERS]]
    keys = [f"gen_z{d}" for d in dims]
    if st.session_state.get("gen_sig") != sig or any(key not in st.session_state for key in keys):
        for d, key in zip(dims, keys):
            st.session_state[key] = round(float(np.clip(base[d], -3.5, 3.5)), 2)
        st.session_state["gen_sig"] = sig
    urlstate.take_codes("gz", dict(zip(dims, keys)), {d: (-3.5, 3.5) for d in dims})
    controls, image = st.columns([3, 2], gap="large")
    z = base.copy()
    with controls:
        for d, key in zip(dims, keys):
            z[d] = st.slider(f"z{d} · KL {kl[d]:.2f}", -3.5, 3.5, step=0.05, key=key, format="%.2f")
        urlstate.put_codes("gz", {d: z[d] for d in dims
                                  if abs(z[d] - round(float(np.clip(base[d], -3.5, 3.5)), 2)) > 1e-6})
        st.caption(("A cvae: the class is an input, the code is the style. "
                    if ctx.conditional else
                    "A plain VAE has no class input: this is the chosen class's mean code, moved by the sliders. ")
                   + f"Sliders: the {len(dims)} most active dimensions; the others stay fixed.")
    decoded = ctx.decode(z[None], k)
    pred, proba = ctx.classify(decoded)
    with image:
        asked = "Asked for" if ctx.conditional else "Mean code of"
        show_in(st, big(ctx, decoded[0], 260),
                caption=f"{asked} {ctx.class_names[k]} · CNN: {ctx.verdict(pred, proba, 0)}")


def class_grid(ctx: Context, seed: int, temperature: float) -> None:
    """PER_CLASS samples of every class (same codes across rows), with the CNN's agreement."""
    st.subheader("Samples of every class")
    agree, rows, labels = [], [], []
    z = latent.prior_codes(ctx.latent_dim, PER_CLASS, seed=seed, temperature=temperature)  # the same codes for every class
    every = cache.decoded(ctx, np.tile(z, (ctx.num_classes, 1)), np.repeat(np.arange(ctx.num_classes), PER_CLASS))
    short = _short_verdicts(ctx, every.pred, every.proba)   # "Bag\n97%": the row names the class asked for
    cell = caption_width(short)                             # one cell width for every row: rows line up
    for k in range(ctx.num_classes):
        part = slice(k * PER_CLASS, (k + 1) * PER_CLASS)
        images = every.images[part]
        pred, proba = (every.pred[part], every.proba[part]) if every.pred is not None else (None, None)
        share = float((pred == k).mean()) if pred is not None else float("nan")
        agree.append(share)
        name, row, score = st.columns([3, 22, 2], vertical_alignment="center")
        name.markdown(f"**{ctx.class_names[k]}**")
        wrong = [i for i in range(PER_CLASS) if pred is not None and pred[i] != k]
        show_in(row, strip(ctx, images, short[part] if pred is not None else None, px=84, highlight=wrong,
                           cell_width=cell))
        rows.append(images)
        labels += [f"{ctx.class_names[k]}\n{v}" for v in ctx.verdicts(pred, proba, PER_CLASS)]
        score.markdown(f"**{share:.0%}** agree" if pred is not None else "")
    if ctx.has_classifier:
        st.caption(f"Each row asks the cvae for one class with the same {PER_CLASS} codes (one per column). "
                   f"The CNN agrees with the class asked for in {np.mean(agree):.0%} of all samples; "
                   "outlined: where it does not.")
    exports.png_button(st, lambda: grids.image_grid(np.concatenate(rows), PER_CLASS, captions=labels,
                                                    scale=scale_for(ctx, 84)),
                       f"{ctx.vae.name}_samples_seed{seed}", key="gen_grid_png", label="Grid PNG")


def _short_verdicts(ctx: Context, pred, proba) -> list[str]:
    """The CNN's label and confidence on two lines, e.g. "Bag\n97%" (short: eight fit across a row)."""
    if pred is None:
        return []
    return [f"{ctx.class_names[int(p)]}\n{proba[i, int(p)]:.0%}" for i, p in enumerate(pred)]


def style_swap(ctx: Context) -> None:
    """One test image's code decoded as every class."""
    st.subheader("Style swap")
    picked = current_index(ctx)
    left, right = st.columns([2, 9], gap="medium")
    with left:
        i = st.number_input("Test image no.", 0, len(ctx.data.labels) - 1, picked if picked is not None else 0,
                            key="gen_swap_index")
        true = int(ctx.data.labels[i])
        show_in(st, big(ctx, ctx.data.images[i], 112), caption=f"#{i} {ctx.class_names[true]}")
    out = cache.decoded(ctx, np.repeat(ctx.mu[i][None], ctx.num_classes, 0), np.arange(ctx.num_classes))
    swapped, pred, proba = out.images, out.pred, out.proba
    with right:
        captions = [f"as {ctx.class_names[k]}\n{ctx.verdict(pred, proba, k)}" for k in range(ctx.num_classes)]
        picture = strip(ctx, swapped, captions, px=112, ncols=5)
        show_in(st, picture)
        exports.png_button(st, picture, f"{ctx.vae.name}_style-swap_{i}", key="gen_swap_png")
        st.caption("The image's code (its style) decoded with every class as the condition; "
                   "under each, what the CNN thinks it is.")


def prior_and_means(ctx: Context, seed: int, temperature: float) -> None:
    """For a VAE without a class input: samples from N(0, I) and each class's mean code."""
    st.subheader("Samples from the prior")
    out = cache.decoded(ctx, latent.prior_codes(ctx.latent_dim, 2 * PER_CLASS, seed=seed, temperature=temperature))
    images, pred, proba = out.images, out.pred, out.proba
    picture = strip(ctx, images, ctx.verdicts(pred, proba, len(images)), px=84, ncols=PER_CLASS)
    show_in(st, picture)
    exports.png_button(st, picture, f"{ctx.vae.name}_prior_seed{seed}", key="gen_prior_png")
    st.caption("Codes drawn from the prior N(0, I) and decoded; the VAE cannot be asked for a class. "
               "Captions: what the CNN thinks each one is.")
    st.subheader("Class-mean codes")
    out = cache.decoded(ctx, cache.class_means(ctx))
    decoded, pred, proba = out.images, out.pred, out.proba
    captions = [f"{ctx.class_names[k]}\n{ctx.verdict(pred, proba, k)}" for k in range(ctx.num_classes)]
    picture = strip(ctx, decoded, captions, px=112, ncols=5)
    show_in(st, picture)
    exports.png_button(st, picture, f"{ctx.vae.name}_class-means", key="gen_means_png")
    st.caption("Each class's average test code, decoded: the VAE's idea of a typical member. "
               "First line: the class; second: what the CNN thinks the image is.")


@guarded
def render() -> None:
    ctx = context()
    help.explain("generate")
    seed = st.session_state.setdefault(SEED, 0)
    dims = cache.dims(ctx)
    make_one(ctx, seed, dims.order, dims.kl)
    a, b, _ = st.columns([2, 3, 6], vertical_alignment="bottom")
    a.button("New samples", key="gen_reseed", on_click=reseed, icon=":material/casino:",
             help="Draw new codes from the prior")
    temperature = b.slider("Temperature", 0.5, 1.5, 1.0, step=0.1, key="gen_temperature", persist_state="session",
                           bind="query-params",
                           help="Scale of the prior samples: below 1 safer, above 1 wilder")
    if ctx.conditional:
        class_grid(ctx, seed, temperature)
        style_swap(ctx)
    else:
        prior_and_means(ctx, seed, temperature)


render()
