"""Bench baseline for time_to_map: a page that only draws a scatter of random points (as many as
EXPLORER_BASELINE_POINTS, set by explorer/tooling/bench.py), coloured by ten classes."""
import os

import numpy as np
import plotly.graph_objects as go
import streamlit as st

points = int(os.environ.get("EXPLORER_BASELINE_POINTS", "10000"))
rng = np.random.default_rng(0)
xy = rng.normal(size=(points, 2))
fig = go.Figure(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers",
                             marker=dict(color=rng.integers(0, 10, points), size=4)))
st.plotly_chart(fig)
