"""Large type for a projector: a sidebar toggle for every page (the Tour page always uses it)."""
from __future__ import annotations

import streamlit as st

BIG = "big_type"

# Text, widget labels and image captions big enough to read from the back of a lecture room;
# the sidebar stays as it is.
_CSS = """<style>
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] li { font-size: 1.45rem; line-height: 1.5; }
[data-testid="stMain"] [data-testid="stCaptionContainer"],
[data-testid="stMain"] [data-testid="stImageCaption"] { font-size: 1.25rem; }
[data-testid="stMain"] h1 { font-size: 3.2rem; }
[data-testid="stMain"] h2 { font-size: 2.4rem; }
[data-testid="stMain"] h3 { font-size: 2.0rem; }
[data-testid="stMain"] [data-testid="stWidgetLabel"] p { font-size: 1.3rem; }
[data-testid="stMain"] button p { font-size: 1.3rem; }
[data-testid="stMain"] [data-testid="stMetricValue"] { font-size: 2.6rem; }
</style>"""


def toggle() -> bool:
    """The sidebar switch; applies the large type when on."""
    on = st.sidebar.toggle("Large type (projector)", key=BIG, bind="query-params",
                           help="Bigger text on every page, for a room")
    if on:
        big_type()
    return on


def big_type() -> None:
    st.html(_CSS)
