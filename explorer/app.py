"""Latent Explorer: `streamlit run explorer/app.py`.

This file only sets up the page and routes; the pages live in explorer/ui/pages/.
"""
import sys
from pathlib import Path

# `streamlit run` puts this file's folder (explorer/) on sys.path; the app imports the package
# as `explorer` from the repository root instead, so no module here shadows a top-level one.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

import streamlit as st  # noqa: E402

from explorer.ui import favicon, sidebar, widgets  # noqa: E402

st.set_page_config(page_title="Latent Explorer", page_icon=favicon.icon(), layout="wide",
                   initial_sidebar_state="expanded")
page = st.navigation([
    st.Page("ui/pages/map.py", title="Map", icon=":material/scatter_plot:", default=True),
    st.Page("ui/pages/traverse.py", title="Traverse", icon=":material/tune:"),
    st.Page("ui/pages/interpolate.py", title="Interpolate", icon=":material/linear_scale:"),
    st.Page("ui/pages/generate.py", title="Generate", icon=":material/auto_awesome:"),
])
widgets.style()
sidebar.render()
page.run()
