"""Bench baseline for slider_roundtrip_ms: a fragment holding one slider and the image it draws,
nothing else."""
import numpy as np
import streamlit as st
from PIL import Image


@st.fragment
def live():
    v = st.slider("v", 0.0, 1.0, 0.5, step=0.05, key="v")
    x = np.linspace(0, 1, 28 * 28).reshape(28, 28)
    img = ((np.sin(x * 12 + v * 6) + 1) * 127.5).astype(np.uint8)
    st.image(Image.fromarray(img).resize((252, 252), Image.NEAREST), caption=f"CNN: {v:.2f}",
             output_format="PNG")


live()
