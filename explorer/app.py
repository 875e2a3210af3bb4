"""Latent Explorer: `streamlit run explorer/app.py`.

This file only sets up the page and routes; the pages live in explorer/ui/pages/, listed in
explorer/ui/navigation.py.
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
from explorer.ui import (  # noqa: E402
    cache, favicon, navigation, present, shutdown, sidebar, streamlit_fixes, timing, urlstate, widgets,
)

streamlit_fixes.install()  # a fragment rerun never changes the page (explorer/ui/streamlit_fixes.py)
shutdown.install()  # SIGTERM/SIGINT end the server within a grace period (explorer/ui/shutdown.py)

st.set_page_config(page_title="Latent Explorer", page_icon=favicon.icon(), layout="wide",
                   initial_sidebar_state="expanded")
page = st.navigation({
    section: [st.Page(p.file, title=p.title, icon=p.icon, url_path=p.url_path, default=p.default) for p in pages]
    for section, pages in navigation.sections().items()
})
with timing.span(f"page.{page.url_path or navigation.DEFAULT.url_path}"):  # a full run's own time, for the bench
    widgets.style()
    widgets.guarded(lambda: urlstate.restore(cache.checkpoint_entries(tuple(str(r) for r in catalog.checkpoint_roots()))),
                    "the list of checkpoints")()
    widgets.guarded(lambda: urlstate.restore_picks(sidebar.render()), "the sidebar")()
    present.toggle()
    page.run()
    urlstate.report()
    urlstate.sync(page.url_path)
