"""The browser-tab icon, drawn here: a material-symbol icon (":material/...:") as page_icon makes
every page fetch it from fonts.gstatic.com, and the app reaches for no network.

It goes to st.set_page_config as a data: URL, which Streamlit 1.67 passes to the page as it is
(elements/lib/image_utils.image_to_url). Given as image bytes it becomes a /media/ file, served
without any cache header, and Chromium fetched it again whenever the page's address changed:
on every slider move, as the URL state rewrites the query string (docs/measurements.md, "The
tab icon")."""
from __future__ import annotations

import base64
import io
from functools import lru_cache

from PIL import Image, ImageDraw

# A few points of a latent map, in the app's accent colour: (x, y, radius) on a 64 px square.
POINTS = ((18, 44, 7), (30, 24, 8), (46, 38, 7), (44, 16, 5), (20, 20, 4), (50, 52, 4))
ACCENT = (255, 75, 75, 255)


@lru_cache(maxsize=1)
def icon_png() -> bytes:
    """A 64x64 RGBA scatter of dots, as PNG bytes."""
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    for x, y, r in POINTS:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=ACCENT)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@lru_cache(maxsize=1)
def icon() -> str:
    """The icon as a data: URL, for st.set_page_config(page_icon=...)."""
    return "data:image/png;base64," + base64.b64encode(icon_png()).decode("ascii")
