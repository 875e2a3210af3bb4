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
[data-testid="stMain"] button { min-width: max-content; }
[data-testid="stMain"] button p { white-space: nowrap; overflow: visible; text-overflow: clip; }
[data-testid="stMain"] [data-testid="stButtonGroup"] > div { flex-wrap: wrap; }
[data-testid="stMain"] p { overflow-wrap: normal; word-break: normal; }
</style>"""
# The last four rules: a button never shrinks below its label ("Cle..."), a segmented control
# wraps to a second line instead of clipping an option ("Y" for "Your image"), and text breaks
# between words only ("T-shirt/top" kept whole).

SCALE = 1.4          # charts' text under Large type
CAPTION_PX = 18      # text drawn into pictures (captions under images), in image pixels
BIG_CAPTION_PX = 24


def toggle() -> bool:
    """The sidebar switch; applies the large type when on."""
    on = st.sidebar.toggle("Large type (projector)", key=BIG, bind="query-params",
                           help="Bigger text on every page, for a room")
    if on:
        big_type()
    return on


def big_type() -> None:
    st.html(_CSS)


def is_big() -> bool:
    return bool(st.session_state.get(BIG))


def font_scale() -> float:
    """For the figure builders' `font_scale`: grows charts' text with the Large type switch."""
    return SCALE if is_big() else 1.0


def caption_px() -> int:
    """Font size of captions drawn into pictures, with the Large type switch."""
    return BIG_CAPTION_PX if is_big() else CAPTION_PX
