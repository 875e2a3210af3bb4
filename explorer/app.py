"""Latent Explorer: `streamlit run explorer/app.py`.

This file only sets up the page and routes; the pages live in explorer/ui/pages/, listed in
explorer/ui/navigation.py.
"""
import sys
from pathlib import Path

# `streamlit run` puts this file's folder (explorer/) on sys.path; the app imports the package
# as `explorer` from the repository root instead, so no module here shadows a top-level one.
# Entry by entry, never `sys.path[:] = ...`: every session's run does this while Streamlit 1.67
# inserts and removes explorer/ at the start and end of other sessions' runs
# (scriptrunner/exec_code.modified_sys_path), and a rebuilt list could drop whichever entry a
# removal shifted under the loop (site-packages: "No module named 'torch'" in a flood of first runs).
_HERE = Path(__file__).resolve().parent
for _entry in list(sys.path):
    if Path(_entry or ".").resolve() == _HERE:
        try:
            sys.path.remove(_entry)
        except ValueError:  # another session's run removed it first
            pass
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

from explorer.ui import first_imports  # noqa: E402

first_imports.import_once()  # before any session's page imports them at the same time as others

import streamlit as st  # noqa: E402

from explorer.checkpoints import catalog  # noqa: E402
from explorer.ui import (  # noqa: E402
    cache, favicon, navigation, present, reconnect, shutdown, sidebar, streamlit_fixes, timing, urlstate, widgets,
)

streamlit_fixes.install()  # a fragment rerun never changes the page (explorer/ui/streamlit_fixes.py)
shutdown.install()  # SIGTERM/SIGINT end the server within a grace period (explorer/ui/shutdown.py)
reconnect.install()  # a page whose session its server lost reloads (explorer/ui/reconnect.py)

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
