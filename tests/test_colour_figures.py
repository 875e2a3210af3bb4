"""Colour from the decoded image to the picture: an upload stays in colour for a colour model
(and grey for a grey one), the pictures and every export of a colour model have three distinct
channels, and a grey model's stay grey."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from explorer.data import images
from explorer.figures import export, grids, plots
from helpers import channels_differ, tiny_model


def _png(picture: Image.Image, size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    picture.save(buf, format="PNG")
    return buf.getvalue()


def _orange_on_blue(w: int = 60, h: int = 40) -> Image.Image:
    img = Image.new("RGB", (w, h), (20, 40, 200))
    img.paste((250, 140, 10), (10, 10, 30, 30))
    return img


def test_an_upload_for_a_colour_model_stays_in_colour_fitted_and_padded():
    prepared = images.prepare_upload(_png(_orange_on_blue()), "colour-test", side=32, channels=3)
    x = prepared.image
    assert x.shape == (3, 32, 32) and x.dtype == np.float32
    assert prepared.original.shape == (40, 60, 3)
    # 60x40 scaled to 32 wide keeps its aspect: about 21 rows of picture, black bars above and below
    assert np.allclose(x[:, 0], 0) and np.allclose(x[:, -1], 0)
    middle = x[:, 16, 2]  # inside the blue background
    assert middle[2] > 0.6 and middle[0] < 0.2
    orange = x[:, 16, 12]
    assert orange[0] > 0.8 and 0.4 < orange[1] < 0.7 and orange[2] < 0.2


def test_an_upload_for_a_grey_model_is_still_grey():
    prepared = images.prepare_upload(_png(_orange_on_blue()), "fashion-mnist", side=28)
    assert prepared.image.shape == (1, 28, 28) and prepared.original.ndim == 2


def test_a_transparent_colour_upload_is_black_where_transparent_and_says_so():
    img = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    img.paste((0, 200, 0, 255), (8, 8, 24, 24))
    prepared = images.prepare_upload(_png(img), "colour-test", side=32, channels=3)
    assert np.allclose(prepared.image[:, 0, 0], 0) and prepared.image[1, 16, 16] > 0.7
    assert any("transparent" in n for n in prepared.notes)


def test_a_drawing_for_a_colour_model_has_three_channels():
    rgba = np.full((64, 64, 4), 255, np.uint8)
    rgba[20:40, 20:40, :3] = 0
    prepared = images.prepare_canvas(rgba, "colour-test", side=32, channels=3)
    assert prepared.image.shape == (3, 32, 32)


def _colour_stack(n: int = 4) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.random((n, 3, 32, 32)).astype(np.float32)


def test_grid_png_and_gif_of_colour_images_have_three_distinct_channels():
    frames = _colour_stack()
    png = Image.open(io.BytesIO(export.png_bytes(grids.image_grid(frames, 2, captions=list("abcd")))))
    assert png.mode == "RGB" and channels_differ(png)
    gif = Image.open(io.BytesIO(export.gif_bytes(frames, captions=list("abcd"))))
    assert gif.n_frames == 4
    for i in range(4):
        gif.seek(i)
        assert channels_differ(gif.convert("RGB"))


def test_a_colour_gif_keeps_its_colours_close():
    frames = np.zeros((2, 3, 8, 8), np.float32)
    frames[:, 0, :, :4] = 1.0      # red left half
    frames[:, 2, :, 4:] = 0.6      # darker blue right half
    gif = Image.open(io.BytesIO(export.gif_bytes(frames, scale=8))).convert("RGB")
    a = np.asarray(gif).astype(int)
    assert (np.abs(a[20, 10] - [255, 0, 0]) <= 8).all() and (np.abs(a[20, 50] - [0, 0, 153]) <= 8).all()


def test_grey_images_stay_grey_in_a_grid():
    grey = _colour_stack()[:, :1]
    assert not channels_differ(grids.image_grid(grey, 2))


def test_the_manifold_backdrop_of_a_colour_model_is_in_colour():
    import torch
    from explorer.models import build_model
    from helpers import tiny_model_cfg

    torch.manual_seed(0)
    model = build_model(tiny_model_cfg("vae", image_shape=(3, 32, 32), latent_dim=2)).eval()
    torch.nn.init.normal_(model.decoder.up2.bias, 0, 3.0)  # channels of clearly different brightness
    picture, _ = plots.manifold_grid(model, (-2, 2, -2, 2), n=4)
    assert picture.mode == "RGB" and picture.size == (4 * 32, 4 * 32) and channels_differ(picture)
    grey_picture, _ = plots.manifold_grid(tiny_model("vae", latent_dim=2), (-2, 2, -2, 2), n=4)
    assert grey_picture.mode == "L"


def test_the_map_html_and_csv_exports_of_a_colour_model_keep_the_colour_backdrop():
    import base64
    import re

    import torch
    from explorer.models import build_model
    from helpers import tiny_model_cfg

    torch.manual_seed(0)
    model = build_model(tiny_model_cfg("vae", image_shape=(3, 32, 32), latent_dim=2)).eval()
    torch.nn.init.normal_(model.decoder.up2.bias, 0, 3.0)
    picture, (x0, x1, y0, y1) = plots.manifold_grid(model, (-1, 1, -1, 1), n=3)
    coords = np.array([[0.0, 0.0], [0.5, -0.5]])
    fig = plots.latent_map(coords, "label", np.array([0, 1]), ["a", "b"], backdrop=(picture, x0, x1, y0, y1))
    html = export.map_html(fig)
    html = html.replace("\\u002f", "/")  # plotly's JSON writes the data URL's slashes as \u002f
    found = [Image.open(io.BytesIO(base64.b64decode(m))) for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)]
    backdrops = [p for p in found if p.size == picture.size]  # plotly.js carries tiny PNGs of its own
    assert backdrops, "the backdrop is not in the HTML"
    assert channels_differ(backdrops[0], at_least=30)
    csv_text = export.map_csv(coords, np.array([0, 1]), None, ["a", "b"])
    assert csv_text.splitlines()[1].startswith("0,0,0,0,a")
