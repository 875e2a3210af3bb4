"""The "What am I looking at?" expanders: a few plain sentences for newcomers, closed by default
so that experts never see them unless they ask."""
from __future__ import annotations

import streamlit as st

TITLE = "What am I looking at?"

TEXTS = {
    "map": """Every dot is one test image. The VAE's **encoder** turns the image into a code: a point in a
space with one axis per latent dimension. We cannot draw 16 axes, so UMAP, t-SNE or PCA squeeze the codes
onto a flat page, keeping neighbours near each other. The colour is what a **separate CNN** thinks the image
shows. Images the VAE finds alike sit together; where colours mix, the VAE's idea of "alike" differs from the
classes. Click a dot (or drag a box) to see the image and its reconstruction.""",
    "traverse": """A VAE's code is a list of numbers. Here you hold all but one fixed and move that one: the
**decoder** turns each code back into an image, and the CNN says what it sees. Dimensions are sorted by how much
the encoder uses them (their KL, in nats); a dimension with KL near 0 has **collapsed**: it carries no
information and moving it changes nothing.""",
    "interpolate": """Two test images, A and B, each get a code. The frames are decoded from codes on the line
between them (or along a great circle, *slerp*). If the latent space is smooth, the frames morph gradually; the CNN's
label tells where one class ends and the next begins.""",
    "generate": """A VAE is trained so that its codes look like draws from a standard normal distribution, the
**prior**. So drawing a code from N(0, I) and decoding it makes a new image. A **conditional** VAE also takes the
class as an input, so you can ask for a coat; a plain VAE cannot be asked, only steered through its codes.""",
    "anomalies": """The VAE scores every test image by how many nats it needs to explain it (the negative
ELBO: reconstruction error plus KL). Images it explains worst are unusual for it: odd shapes, rare styles,
sometimes mislabelled data. That is how a VAE is used to flag anomalies.""",
    "card": """The model card: how each loaded checkpoint was trained and how well it does on the test set.
Lower nats are better for the VAE figures; higher is better for accuracy and F1.""",
}


def explain(page: str) -> None:
    """The page's expander, closed."""
    with st.expander(TITLE, expanded=False, icon=":material/help:", key=f"help_{page}"):
        st.markdown(TEXTS[page])
