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

from explorer.checkpoints import catalog  # noqa: E402
from explorer.ui import favicon, loaders, present, sidebar, streamlit_fixes, timing, urlstate, widgets  # noqa: E402

streamlit_fixes.install()  # a fragment rerun never changes the page (explorer/ui/streamlit_fixes.py)

st.set_page_config(page_title="Latent Explorer", page_icon=favicon.icon(), layout="wide",
                   initial_sidebar_state="expanded")
page = st.navigation({
    "Explore": [
        st.Page("ui/pages/map.py", title="Map", icon=":material/scatter_plot:", default=True),
        st.Page("ui/pages/traverse.py", title="Traverse", icon=":material/tune:"),
        st.Page("ui/pages/interpolate.py", title="Interpolate", icon=":material/linear_scale:"),
        st.Page("ui/pages/generate.py", title="Generate", icon=":material/auto_awesome:"),
        st.Page("ui/pages/draw.py", title="Your image", icon=":material/draw:"),
    ],
    "Understand": [
        st.Page("ui/pages/learn.py", title="Learn", icon=":material/school:"),
        st.Page("ui/pages/anomalies.py", title="Anomalies", icon=":material/report:"),
        st.Page("ui/pages/model_card.py", title="Model card", icon=":material/description:"),
        st.Page("ui/pages/tour.py", title="Tour", icon=":material/slideshow:"),
    ],
    "Build": [
        st.Page("ui/pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("ui/pages/compare.py", title="Compare", icon=":material/compare:"),
    ],
})
with timing.span(f"page.{page.url_path or 'map'}"):  # a full run's own time, for the bench
    widgets.style()
    urlstate.restore(loaders.checkpoint_entries(tuple(str(r) for r in catalog.checkpoint_roots())))
    urlstate.restore_picks(sidebar.render())
    present.toggle()
    page.run()
    urlstate.report()
    urlstate.sync(page.url_path)
