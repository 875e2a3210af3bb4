"""Plain helpers the tests share (the fixtures are in conftest.py): where the repository is,
the one tiny model, tiny synthetic data, the tiny checkpoints the app tests open, and how an
AppTest page is opened and read.

Everything here is small enough to build and train in well under a second on one CPU core.
"""
from __future__ import annotations

import contextlib
import json
import http.server
import itertools
import re
import threading
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from explorer.core.config import ModelConfig, TrainConfig
from explorer.tooling.harness import APP, REPO, VIEWPORT, chromium_path  # noqa: F401  (the one harness: tests use these)
from explorer.data import ImageDataset, get_spec

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

TINY_SHAPE = (1, 8, 8)
APP_TIMEOUT = 60  # seconds an AppTest run may take
ARTIFACTS = REPO / "test-artifacts"  # screenshots and reports the slow tests leave for a person to read


# ---------------------------------------------------------------- the tiny model and data

def tiny_model_cfg(kind: str = "vae", image_shape=TINY_SHAPE, latent_dim: int = 2, num_classes: int = 10,
                   **changes) -> ModelConfig:
    """A model small enough to build and train in milliseconds."""
    return ModelConfig(kind=kind, image_shape=image_shape, num_classes=num_classes, latent_dim=latent_dim,
                       channels=(4, 8), hidden=16, **changes)


def tiny_model(kind: str = "vae", latent_dim: int = 3, num_classes: int = 3) -> torch.nn.Module:
    """A freshly built (untrained, seeded) tiny model over 8x8 images, in eval mode."""
    from explorer.models import build_model
    torch.manual_seed(0)
    return build_model(tiny_model_cfg(kind, latent_dim=latent_dim, num_classes=num_classes)).eval()


def tiny_train_cfg(**changes) -> TrainConfig:
    """CPU, constant lr, no mixed precision: deterministic on any machine."""
    settings = dict(dataset="digits", epochs=2, batch_size=16, lr=1e-2, seed=0, device="cpu",
                    amp=False, lr_schedule="constant")
    settings.update(changes)
    return TrainConfig(**settings)


def synthetic_dataset(n: int = 64, seed: int = 0, split: str = "train") -> ImageDataset:
    """`n` 8x8 uint8 images: one fixed random prototype per class, dimmed and noised.

    The classes are easy to tell apart and the images easy to compress, so a few
    optimiser steps visibly lower both a VAE's and a classifier's loss."""
    spec = get_spec("digits")
    prototypes = np.random.default_rng(1234).random((spec.num_classes, *TINY_SHAPE)) < 0.35
    rng = np.random.default_rng(seed)
    labels = np.arange(n, dtype=np.int64) % spec.num_classes
    rng.shuffle(labels)
    images = prototypes[labels] * rng.uniform(0.7, 1.0, (n, 1, 1, 1)) + rng.normal(0, 0.05, (n, *TINY_SHAPE))
    pixels = np.rint(np.clip(images, 0.0, 1.0) * 255).astype(np.uint8)
    return ImageDataset(pixels=pixels, labels=labels, spec=spec, split=split)


# ---------------------------------------------------------------- the app tests' checkpoints

TINY_CHECKPOINTS = {  # name: (kind, latent_dim)
    "vae-2d": ("vae", 2),
    "cvae-4d": ("cvae", 4),
    "hybrid-10d": ("hybrid", 10),
    "classifier": ("classifier", 4),
}


def checkpoint_train_cfg(dataset: str = "digits") -> TrainConfig:
    """Three steps on the bundled digits set, in float32: how every tiny checkpoint is trained."""
    return TrainConfig(dataset=dataset, epochs=1, max_steps=3, batch_size=64, device="cpu", amp=False)


def build_tiny_checkpoints(root: Path) -> Path:
    """Write the app tests' checkpoints under `root`; returns `root`.

        digits/vae-2d        plain VAE, 2-D latent (the app's default: shown as its own plane)
        digits/cvae-4d       conditional VAE, 4-D latent
        digits/hybrid-10d    VAE with a classifier head (10-D: more sliders than fit, so an expander)
        digits/classifier    the CNN that judges every image
        digits/broken        config.json is garbage: must give a message, never a traceback
        digits/clf-fashion   a classifier whose config says it was trained on fashion-mnist
        mnist/vae-2d         a VAE for a dataset whose files are missing (with the cache dir
                             pointed at an empty folder)

    The app is pointed at the root with EXPLORER_CHECKPOINTS=<root> and EXPLORER_CHECKPOINTS_ONLY=1
    (conftest's `app_env`), so the repository's own checkpoints/ stay out of the tests."""
    from explorer.checkpoints import save_checkpoint
    from explorer.data import load_dataset
    from explorer.training import train

    data = load_dataset("digits", "train")
    for name, (kind, dim) in TINY_CHECKPOINTS.items():
        model_cfg, train_cfg = tiny_model_cfg(kind, latent_dim=dim), checkpoint_train_cfg()
        result = train(model_cfg, train_cfg, data)
        save_checkpoint(root / "digits" / name, result.model, model_cfg, train_cfg, "digits", result.state)
        if name == "classifier":
            save_checkpoint(root / "digits" / "clf-fashion", result.model, model_cfg, train_cfg, "fashion-mnist",
                            result.state)
        if name == "vae-2d":
            save_checkpoint(root / "mnist" / "vae-2d", result.model, model_cfg, train_cfg, "mnist", result.state)
    broken = root / "digits" / "broken"
    shutil.copytree(root / "digits" / "vae-2d", broken)
    (broken / "config.json").write_text("{ this is not json", encoding="utf-8")
    return root


# ---------------------------------------------------------------- reading the app (AppTest)

def open_app(page: str | None = None, vae: str | None = None, root: Path | None = None,
             method: str | None = "pca") -> AppTest:
    """Run the app, go to `page` (e.g. "generate"), then pick the VAE checkpoint `vae` under `root`.

    The map method starts as `method`: PCA by default, so that a 4-D model's map costs
    nothing (UMAP's first run compiles for many seconds)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT)
    if method:
        at.session_state["map_method"] = method
    at.run()
    if page:
        at.switch_page(f"ui/pages/{page}.py").run()
    if vae:
        at.sidebar.selectbox(key="sb_vae").set_value(root / "digits" / vae).run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    """Everything a reader sees as text: markdown, captions, subheaders, image captions, alerts, metrics."""
    parts = [str(m.value) for m in (*at.markdown, *at.caption, *at.subheader)]
    parts += [cap for img in at.image for cap in img.captions]
    parts += [str(m.value) for m in (*at.error, *at.warning, *at.info, *at.success)]
    parts += [str(m.label) + " " + str(m.value) for m in at.metric]
    return "\n".join(parts)


def image_urls(at: AppTest) -> list[str]:
    """The media URLs of every image on the page, in page order."""
    return [url for img in at.image for url in img.value]


_EVENTS = itertools.count()


def chart_event(points: list[dict]) -> dict:
    """A value as the Map's chart sends it for a click, box or lasso: the points, and a token of its own."""
    return {"event": f"test-{next(_EVENTS)}", "selection": {"points": points}}


def chart_spec(at: AppTest) -> str:
    """The JSON spec of the Map's chart (our component: explorer/ui/mapchart) when the page has
    one, else of the first Plotly chart."""
    from explorer.ui import mapchart

    maps = [c for c in at.get("component_instance") if c.proto.component_name.endswith("mapchart.map")]
    if maps:
        return mapchart.figure_json(json.loads(maps[0].proto.json_args)["figure"])
    return at.get("plotly_chart")[0].proto.spec


# ---------------------------------------------------------------- the browser (e2e tests)

WAIT_MS = 60_000


@contextlib.contextmanager
def step(page, name: str) -> Iterator[None]:
    """Run one step; if it fails, save a screenshot named after it before re-raising."""
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"e2e-{re.sub(r'[^a-z0-9]+', '-', name.lower())}.png"))
        raise


# ---------------------------------------------------------------- a colour dataset and its checkpoints

COLOUR_SHAPE = (3, 32, 32)
COLOUR_NAME = "colour-test"
COLOUR_CLASSES = ("red square", "green disc", "blue bar")
COLOUR_SIZES = {"train": 96, "test": 48}


def colour_images(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic 32x32 RGB images on an orange background (so that even a barely trained
    decoder's average image is far from grey): a red square, a green disc or a blue bar, each at
    its own place and brightness. uint8 (N, 3, 32, 32) pixels, int64 labels."""
    n = COLOUR_SIZES[split]
    rng = np.random.default_rng(0 if split == "train" else 1)
    labels = np.arange(n, dtype=np.int64) % len(COLOUR_CLASSES)
    yy, xx = np.mgrid[0:32, 0:32]
    images = np.zeros((n, *COLOUR_SHAPE), np.float32)
    for i, k in enumerate(labels):
        cy, cx = rng.integers(10, 22, 2)
        mask = [(abs(yy - cy) < 7) & (abs(xx - cx) < 7), (yy - cy) ** 2 + (xx - cx) ** 2 < 49,
                (abs(yy - cy) < 3) & (abs(xx - cx) < 11)][k]
        colour = np.eye(3)[k] * rng.uniform(0.7, 1.0) + 0.1
        images[i] = np.where(mask[None], colour[:, None, None], np.array([0.85, 0.5, 0.1])[:, None, None])
    return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8), labels


def colour_spec():
    from explorer.data import DatasetSpec
    return DatasetSpec(name=COLOUR_NAME, title="Colour test shapes", image_shape=COLOUR_SHAPE,
                       class_names=COLOUR_CLASSES, n_train=COLOUR_SIZES["train"], n_test=COLOUR_SIZES["test"],
                       files=(), mirrors=(), system_dirs=(), source="tests/helpers.py", licence="none")


@contextlib.contextmanager
def colour_dataset_registered() -> Iterator[object]:
    """Register COLOUR_NAME (spec and built-in loader) for the block, and remove it after."""
    from explorer.data import loader, registry
    spec = colour_spec()
    registry.DATASETS[COLOUR_NAME] = spec
    loader.BUILTIN_LOADERS[COLOUR_NAME] = colour_images
    try:
        yield spec
    finally:
        registry.DATASETS.pop(COLOUR_NAME, None)
        loader.BUILTIN_LOADERS.pop(COLOUR_NAME, None)


COLOUR_CHECKPOINTS = {"vae-2d": ("vae", 2), "cvae-3d": ("cvae", 3), "hybrid-4d": ("hybrid", 4),
                      "classifier": ("classifier", 2)}


def build_colour_checkpoints(root: Path) -> Path:
    """Tiny colour checkpoints under root/colour-test/ (the dataset must be registered), each
    trained for a few steps: enough for a decoded image to be coloured, not to be good."""
    from explorer.checkpoints import save_checkpoint
    from explorer.data import load_dataset
    from explorer.training import train

    data = load_dataset(COLOUR_NAME, "train")
    for name, (kind, dim) in COLOUR_CHECKPOINTS.items():
        model_cfg = tiny_model_cfg(kind, image_shape=COLOUR_SHAPE, latent_dim=dim, num_classes=len(COLOUR_CLASSES),
                                   cls_weight=1.0 if kind == "hybrid" else 0.0)
        train_cfg = TrainConfig(dataset=COLOUR_NAME, epochs=6, batch_size=32, lr=1e-2, device="cpu", amp=False)
        result = train(model_cfg, train_cfg, data)
        save_checkpoint(root / COLOUR_NAME / name, result.model, model_cfg, train_cfg, COLOUR_NAME, result.state)
    return root


def channels_differ(image, at_least: int = 1) -> bool:
    """Whether an RGB picture (PIL or (H, W, 3) array) is in colour: some pixel's R, G and B are
    not all equal, by more than `at_least` (a grey picture has R == G == B everywhere)."""
    a = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image).astype(int)
    return bool((a.max(-1) - a.min(-1) > at_least).any())


# ---------------------------------------------------------------- a folder of one's own colour images

# warm colours: even the mean of all three, a barely trained decoder's first guess, is far from grey
FOLDER_CLASSES = {"reds": (200, 40, 30), "oranges": (230, 140, 20), "yellows": (220, 200, 40)}


def write_colour_folder(root: Path, per_class: int = 12, seed: int = 0) -> Path:
    """A folder of coloured PNGs, one subfolder per class (reds/, oranges/, yellows/): each picture a
    40x30 field in its class's colour with a pale square somewhere on it. Returns `root`."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name, colour in FOLDER_CLASSES.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            tint = tuple(int(np.clip(c + rng.integers(-20, 21), 0, 255)) for c in colour)
            img = Image.new("RGB", (40, 30), tint)
            x, y = (int(v) for v in rng.integers(2, 20, 2))
            img.paste((240, 240, 200), (x, y, x + 10, y + 8))
            img.save(root / name / f"{name}-{i:02d}.png")
    return root
# ---------------------------------------------------------------- a download server

class LocalServer:
    """A local HTTP server whose responses the test controls, counting requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.short: dict[str, int] = {}  # file name -> bytes promised beyond the body
        self.requests: list[str] = []
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/data/"

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append(name)
                if name not in server.files:
                    self.send_error(404, "Not Found")
                    return
                body = server.files[name]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body) + server.short.get(name, 0)))
                self.end_headers()
                self.wfile.write(body)  # then the connection closes (HTTP/1.0)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> "LocalServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextlib.contextmanager
def health_server() -> Iterator[http.server.ThreadingHTTPServer]:
    """A stand-in for a replica that answers Streamlit's health check (200) and nothing else (404),
    served from a thread until the block ends."""
    from explorer.cli.serve.replicas import HEALTH

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200 if self.path == HEALTH else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield server
