"""The app's pages, in one table: explorer/app.py builds its st.navigation from it, and the
developer tooling and tests read it to visit every page. A new page is a new row here.

Plain data (no streamlit import), so anything may read it without starting Streamlit.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    """One page of the app."""

    file: str        # the page script, relative to explorer/ (as st.Page takes it from app.py)
    title: str       # the link's text in the sidebar and the browser tab's title
    icon: str        # a Material Symbols name, ":material/<name>:"
    section: str     # the sidebar heading it sits under
    url_path: str    # its URL, /<url_path> (the default page is also served at /)
    default: bool = False


PAGES: tuple[PageSpec, ...] = (
    PageSpec("ui/pages/map.py", "Map", ":material/scatter_plot:", "Explore", "map", default=True),
    PageSpec("ui/pages/traverse.py", "Traverse", ":material/tune:", "Explore", "traverse"),
    PageSpec("ui/pages/interpolate.py", "Interpolate", ":material/linear_scale:", "Explore", "interpolate"),
    PageSpec("ui/pages/generate.py", "Generate", ":material/auto_awesome:", "Explore", "generate"),
    PageSpec("ui/pages/draw.py", "Your image", ":material/draw:", "Explore", "draw"),
    PageSpec("ui/pages/learn.py", "Learn", ":material/school:", "Understand", "learn"),
    PageSpec("ui/pages/anomalies.py", "Anomalies", ":material/report:", "Understand", "anomalies"),
    PageSpec("ui/pages/model_card.py", "Model card", ":material/description:", "Understand", "model_card"),
    PageSpec("ui/pages/tour.py", "Tour", ":material/slideshow:", "Understand", "tour"),
    PageSpec("ui/pages/train.py", "Train", ":material/model_training:", "Build", "train"),
    PageSpec("ui/pages/compare.py", "Compare", ":material/compare:", "Build", "compare"),
)
DEFAULT = next(p for p in PAGES if p.default)


def sections() -> dict[str, list[PageSpec]]:
    """The pages by sidebar section, sections and pages in table order."""
    out: dict[str, list[PageSpec]] = {}
    for p in PAGES:
        out.setdefault(p.section, []).append(p)
    return out
