"""Learn: how a VAE works, step by step, with the loaded model's own numbers for one test image.

Encoder -> q(z|x) = N(mu, sigma^2); the reparameterisation trick z = mu + sigma * eps; the
decoder's reconstruction; the ELBO as reconstruction plus KL; beta and posterior collapse;
what the hybrid's classifier head adds. The numbers come from explorer/analysis/teach.py.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from explorer.figures import plots_teach
from explorer.analysis import teach
from explorer.ui import cache
from explorer.ui.state import Context, context, current_index
from explorer.ui.present import font_scale
from explorer.ui.widgets import big, guarded, show_in, strip

ACTIVE_KL = 0.05   # nats over the test set: below this a dimension counts as collapsed
MAX_DIMS = 16      # dimensions drawn in the figures (the most active ones)
TABLE_DIMS = 6     # rows in the mu / sigma / eps / z table


def _random_image(n: int) -> None:
    st.session_state["learn_index"] = int(np.random.default_rng().integers(n))


def _new_eps() -> None:
    st.session_state["learn_seed"] = int(st.session_state.get("learn_seed", 0)) + 1


def choose_image(ctx: Context) -> tuple[int, int]:
    picked = current_index(ctx)
    n = len(ctx.data.labels)
    left, mid, b1, b2 = st.columns([2, 2, 2, 2], vertical_alignment="bottom")
    i = left.number_input("Test image no.", 0, n - 1, picked if picked is not None else 0, key="learn_index",
                          bind="query-params", help="Defaults to the image picked on the Map page")
    seed = mid.number_input("Noise seed (eps)", 0, 10**6, 0, key="learn_seed", bind="query-params",
                            help="Which eps ~ N(0, I) is drawn for the reparameterisation trick")
    b1.button("Random image", key="learn_random", on_click=_random_image, args=(n,), icon=":material/casino:",
              width="stretch")
    b2.button("Draw a new eps", key="learn_new_eps", on_click=_new_eps, icon=":material/refresh:", width="stretch")
    return int(i), int(seed)


COLOUR_NOTE = (" In colour it does so for the red, green and blue intensity of every pixel separately: three "
               "Bernoulli probabilities a pixel. An intensity is not really a coin flip, but the Bernoulli's "
               "cross-entropy on values in [0, 1] is a fair and common loss for them, grey or colour.")


def nll_picture(ctx: Context, ex: teach.Explanation):
    """Where the reconstruction nats go: each pixel's -log p(x_i|z), summed over its colour
    channels (one heat map, not three), brighter = more."""
    per_pixel = ex.pixel_nll.sum(0, keepdims=True)  # (1, H, W)
    heat = per_pixel / max(float(per_pixel.max()), 1e-6)
    return big(ctx, heat, 150)


def _key(ctx: Context, i: int, seed: int) -> tuple:
    """What this page's figures for one image and seed depend on."""
    return (ctx.vae_key, ctx.dataset, i, seed, font_scale())


def encoder(ctx: Context, ex: teach.Explanation, dims: np.ndarray, i: int, true: int, seed: int) -> None:
    st.subheader("1 · The encoder: an image becomes a distribution")
    pic, text = st.columns([1, 3], gap="large")
    show_in(pic, big(ctx, ex.image, 170), caption=f"x: test image #{i}, class {ctx.class_names[true]}")
    with text:
        st.markdown(
            f"The encoder is a small convolutional network. It does not output one code for the image but a "
            f"**Gaussian** over codes, q(z|x) = N(mu, sigma²): one mean **mu** and one spread **sigma** for each of "
            f"the {ctx.latent_dim} latent dimensions. A small sigma means: the encoder is sure where this image belongs "
            f"along that axis.")
        fig = cache.figure("learn.posterior", _key(ctx, i, seed), lambda: plots_teach.posterior_figure(
            ex.mu, ex.sigma, ex.z, dims, font_scale=font_scale()))
        st.plotly_chart(fig, key="learn_posterior", config={"displayModeBar": False})
        st.caption("Blue: mu with a bar of ±1 sigma for each dimension (most used first). Orange: the sampled z "
                   "(next step). Grey: where the prior N(0, 1) puts most of its mass.")


def reparameterise(ctx: Context, ex: teach.Explanation, dims: np.ndarray, seed: int) -> None:
    st.subheader("2 · The reparameterisation trick: z = mu + sigma · eps")
    text, table = st.columns([3, 2], gap="large")
    text.markdown(
        "To decode, we need one code z drawn from q(z|x). Drawing it directly would block the gradient that "
        "trains the encoder. The trick: draw plain noise **eps ~ N(0, 1)** first, then compute "
        "**z = mu + sigma · eps**. The randomness is now an input, and mu and sigma get gradients like any "
        f"other number. Change the noise seed (now {seed}) to draw a new eps: mu and sigma stay, z moves.")
    rows = [f"| z{d} | {ex.mu[d]:+.3f} | {ex.sigma[d]:.3f} | {ex.eps[d]:+.3f} | **{ex.z[d]:+.3f}** |"
            for d in dims[:TABLE_DIMS]]
    table.markdown("| dim | mu | sigma | eps | z |\n|---|---:|---:|---:|---:|\n" + "\n".join(rows))
    table.caption(f"The {min(TABLE_DIMS, len(dims))} most used dimensions of this image's code.")


def decoder(ctx: Context, ex: teach.Explanation) -> None:
    st.subheader("3 · The decoder: a code becomes an image")
    pic, text = st.columns([2, 3], gap="large")
    images = np.stack([ex.image, ex.recon, ex.recon_at_mu])
    pred, proba = cache.predictions(ctx, images)
    captions = ["x (input)", "decoded z", "decoded mu"]
    if pred is not None:
        captions = [f"{c}\n{ctx.verdict(pred, proba, i)}" for i, c in enumerate(captions)]
    show_in(pic, strip(ctx, images, captions, px=150))
    text.markdown(
        "The decoder maps z back to an image. For each pixel it outputs the probability of it being bright "
        "(a Bernoulli likelihood p(x|z)); that probability is what you see."
        + (COLOUR_NOTE if ctx.channels == 3 else "") + " The middle image is decoded from the "
        "sampled z, the right one from mu, which is what the other pages show. A reconstruction is a little "
        "blurry: the VAE keeps what is typical and drops the details it cannot afford to store.")


def elbo(ctx: Context, ex: teach.Explanation, kl_data: np.ndarray, dims: np.ndarray, i: int, seed: int) -> None:
    st.subheader("4 · The loss: the ELBO = reconstruction + KL")
    m = ctx.vae.metrics
    cols = st.columns(3)
    cols[0].metric("Reconstruction: −log p(x|z)", f"{ex.recon_nats:.1f} nats",
                   help="Bernoulli negative log-likelihood of the input under the decoder, summed over pixels")
    cols[1].metric("KL( q(z|x) ‖ p(z) )", f"{ex.kl_nats:.1f} nats",
                   help="How far this image's Gaussian is from the prior N(0, I), summed over dimensions")
    avg = m.get("neg_elbo")
    cols[2].metric("−ELBO = sum", f"{ex.neg_elbo:.1f} nats",
                   delta=None if avg is None else f"{ex.neg_elbo - float(avg):+.1f} vs the test-set mean",
                   delta_color="inverse")
    text, pic = st.columns([3, 1], gap="large")
    text.markdown(
        "Training minimises the **negative ELBO** (evidence lower bound), the sum of two costs in nats:\n\n"
        "- **reconstruction**: how badly the decoded image explains the input (lower: a sharper, truer copy);\n"
        "- **KL**: how much the code says about this image beyond the prior, a price per bit of information. "
        "It pushes every q(z|x) towards N(0, I), which is what lets you sample new images from the prior.\n\n"
        "The ELBO is a lower bound on log p(x); the tighter IWAE estimate is on the Model card page.")
    show_in(pic, nll_picture(ctx, ex), caption="Where the reconstruction nats go (bright: more). Grey pixels "
            "always cost some: a Bernoulli decoder cannot be sure of a grey level.")
    fig = cache.figure("learn.kl", _key(ctx, i, seed),
                       lambda: plots_teach.kl_bars(ex.kl_per_dim, kl_data, dims, font_scale=font_scale()))
    st.plotly_chart(fig, key="learn_kl", config={"displayModeBar": False})
    st.caption("KL per dimension for this image (orange) and on average over the test set (blue).")


def beta_and_collapse(ctx: Context, ex: teach.Explanation, kl_data: np.ndarray) -> None:
    st.subheader("5 · Beta and posterior collapse")
    beta = ctx.vae.model_cfg.beta
    active = int((kl_data > ACTIVE_KL).sum())
    quiet = [int(d) for d in np.argsort(kl_data) if kl_data[d] <= ACTIVE_KL]
    here = ", ".join(f"z{d} (mu {ex.mu[d]:+.2f}, sigma {ex.sigma[d]:.2f})" for d in quiet[:3])
    st.markdown(
        f"A beta-VAE weights the KL term by **beta** (this model: beta = {beta:g}). A larger beta makes "
        "information in the code more expensive: codes get simpler and smoother, reconstructions blurrier. "
        "Pushed far enough, the encoder stops using some dimensions at all: for every image they output "
        "mu ≈ 0 and sigma ≈ 1, exactly the prior, so their KL is 0 and the decoder ignores them. "
        "That is **posterior collapse**.\n\n"
        f"This model uses **{active} of its {ctx.latent_dim}** dimensions (mean KL over the test set above "
        f"{ACTIVE_KL} nats)."
        + (f" Collapsed ones, for this image: {here}." if quiet else " None has collapsed."))


def hybrid(ctx: Context, ex: teach.Explanation, true: int) -> None:
    st.subheader("6 · What the hybrid adds")
    text, pic = st.columns([3, 2], gap="large")
    with text:
        st.markdown(
            "A **hybrid** VAE puts a small classifier head on mu and trains everything together on "
            "**−ELBO + lambda · cross-entropy**. The classes then shape the latent space: codes of one class "
            "gather, so the map separates classes more cleanly, and one model both reconstructs and classifies. "
            "The price is some reconstruction quality, more so as lambda grows.")
        if ctx.conditional:
            st.markdown("This model is a **conditional** VAE: encoder and decoder are also given the class, so z "
                        "is free to hold only the style (it was given the true class here).")
    if ctx.vae.kind == "hybrid":
        proba = cache.classified(ctx.vae.path, ctx.vae_key, ex.image[None])[1][0]
        with pic:
            fig = cache.figure("learn.head", (ctx.vae_key, ctx.class_names, proba.tobytes(), font_scale()),
                              lambda: plots_teach.probability_bars(proba, ctx.class_names, font_scale=font_scale()))
            st.plotly_chart(fig, key="learn_head", config={"displayModeBar": False})
            st.caption(f"The head's verdict from mu alone (lambda = {ctx.vae.model_cfg.cls_weight:g}): "
                       f"{ctx.class_names[int(proba.argmax())]}; true: {ctx.class_names[true]}.")
    else:
        pic.info("Pick a **hybrid** checkpoint in the sidebar to see its head classify this image from mu.")


@guarded
def render() -> None:
    ctx = context()
    st.title("How a VAE sees an image")
    st.caption("Every number on this page comes from the loaded model and the chosen test image.")
    i, seed = choose_image(ctx)
    true = int(ctx.data.labels[i])
    ex = cache.explanation(ctx, i, seed)
    stats = cache.dims(ctx)
    kl_data, dims = stats.kl, stats.order[:MAX_DIMS]
    encoder(ctx, ex, dims, i, true, seed)
    reparameterise(ctx, ex, dims, seed)
    decoder(ctx, ex)
    elbo(ctx, ex, kl_data, dims, i, seed)
    beta_and_collapse(ctx, ex, kl_data)
    hybrid(ctx, ex, true)


render()
