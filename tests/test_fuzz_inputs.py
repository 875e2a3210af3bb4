"""Property-based fuzzing of what a person hands the app (issue 17): uploaded images
(data/images.py), a link's query parameters (ui/urlstate.py's parsing) and a training run's
folder as the Train page reads it (training/jobs.py: spec.json and status.json).

The property (tests/fuzzing.py): a result, or the project's own error with a message; within
the time bound and the memory budget; nothing written but what the step owns. Run longer with
`make fuzz`.
"""
from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image

from explorer.data.images import prepare_upload
from explorer.training import jobs
from explorer.ui import urlstate
from fuzzing import JSON_VALUES, assert_wrote_only, files_under, mutated, outcome, sandbox

# ---------------------------------------------------------------- uploaded images


def _encoded(fmt: str, size: tuple[int, int], mode: str, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], len(mode)), np.uint8)
    img = Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode)
    buffer = io.BytesIO()
    img.save(buffer, fmt)
    return buffer.getvalue()


def _png_declaring(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares width x height and holds almost no data (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


@st.composite
def image_bytes(draw) -> bytes:
    """A real PNG/JPEG/GIF/BMP/WebP of a random size and mode, then truncated, bit-flipped or
    given a huge declared size; or arbitrary bytes."""
    choice = draw(st.integers(0, 5))
    if choice == 0:
        return draw(st.binary(max_size=300))
    if choice == 1:
        return _png_declaring(draw(st.integers(0, 2**31 - 1)), draw(st.integers(0, 2**31 - 1)))
    fmt = draw(st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "WEBP"]))
    mode = draw(st.sampled_from(["L", "RGB"] + (["RGBA"] if fmt in ("PNG", "WEBP") else [])))
    size = (draw(st.integers(1, 64)), draw(st.integers(1, 64)))
    raw = bytearray(_encoded(fmt, size, mode, draw(st.integers(0, 3))))
    for _ in range(draw(st.integers(0, 3))):  # flip a few bytes anywhere, header included
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        raw = raw[:draw(st.integers(0, len(raw)))]
    return bytes(raw)


@given(raw=image_bytes(), dataset=st.sampled_from(["fashion-mnist", "mnist", "digits", "other"]))
@example(raw=_png_declaring(100_000, 100_000), dataset="mnist")
def test_fuzz_uploaded_image(raw: bytes, dataset: str) -> None:
    with sandbox() as root:
        before = files_under(root)
        result = outcome(prepare_upload, raw, dataset, "upload.png", side=28 if dataset == "other" else None)
        if not isinstance(result, Exception):
            assert result.image.dtype == np.float32 and np.isfinite(result.image).all()
            assert 0 <= result.image.min() and result.image.max() <= 1
        assert_wrote_only(root, before, allowed=lambda p: False)


# ---------------------------------------------------------------- a link's query parameters

PARAM_TEXT = st.text(max_size=40) | st.from_regex(r"[0-9, ]{0,30}", fullmatch=True) \
    | st.lists(st.integers(-5, 10**6), max_size=60).map(lambda v: ",".join(map(str, v)))


@given(text=PARAM_TEXT, limit=st.integers(0, 70_000), n_max=st.integers(1, 60))
@example(text="²", limit=10, n_max=1)           # isdigit() but not int(): ValueError (fixed)
@example(text="9" * 5000, limit=10, n_max=1)    # past Python's 4300-digit limit: ValueError (fixed)
@example(text="١٢", limit=100, n_max=1)          # Arabic-Indic digits are decimal: 12
def test_fuzz_url_indices(text: str, limit: int, n_max: int) -> None:
    """`sel`, `a`, `b`, `step`: comma-separated test indices, or None when malformed."""
    result = outcome(urlstate._ints, text, limit, n_max)
    assert result is None or (0 < len(result) <= n_max and all(0 <= v < limit for v in result))


@given(text=st.text(max_size=60) | st.sampled_from(["digits/vae-2d", "../etc/passwd", "/abs/x", "digits/..",
                                                     "digits/.hidden", "a/b/c", "digits/vae-2d\x00"]))
def test_fuzz_url_checkpoint_id(text: str) -> None:
    """`ckpt`, `clf`: a checkpoint id is resolved only against the scanned catalogue, or None."""
    with sandbox() as root:
        (root / "checkpoints").mkdir()
        before = files_under(root)
        assert outcome(urlstate.resolve, text, []) is None
        assert_wrote_only(root, before, allowed=lambda p: False)


# ---------------------------------------------------------------- a run's folder (Train page)

VALID_SPEC = {"model": {"kind": "vae"}, "train": {"epochs": 1}, "out": "checkpoints/digits/vae-2d",
              "resume": False, "classifier": None, "iwae_k": 20, "owner": "s", "threads": 0, "nice": 10}
VALID_STATUS = {"state": "running", "pid": 999_999_999, "started": 0.0, "updated": 0.0, "epoch_done": 1,
                "history": [{"epoch": 1, "loss": 1.0}], "message": "epoch 1"}


def _read_run(root: Path, run_id: str):
    """What the Train page does with the runs folder: list the runs and read each one's summary."""
    for run in jobs.list_runs(root):
        (run.state, run.active, run.out, run.name, run.history, jobs.snapshot_epochs(run))
    return jobs.get(run_id, root)


@given(spec=mutated(VALID_SPEC, tuple(VALID_SPEC)).map(json.dumps) | JSON_VALUES.map(json.dumps)
       | st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
       status=mutated(VALID_STATUS, tuple(VALID_STATUS)).map(json.dumps) | JSON_VALUES.map(json.dumps))
@example(spec=json.dumps(VALID_SPEC), status=json.dumps({**VALID_STATUS, "pid": "12x"}))      # ValueError (fixed)
@example(spec=json.dumps(VALID_SPEC), status=json.dumps({**VALID_STATUS, "pid": 2**70}))      # OverflowError (fixed)
@example(spec=json.dumps(VALID_SPEC), status=json.dumps({**VALID_STATUS, "pid": None, "started": "x"}))  # (fixed)
@example(spec=json.dumps({**VALID_SPEC, "out": 3}), status=json.dumps(VALID_STATUS))         # TypeError (fixed)
@example(spec=json.dumps(VALID_SPEC), status=json.dumps({**VALID_STATUS, "history": 5}))     # TypeError (fixed)
def test_fuzz_run_folder(spec: str, status: str) -> None:
    with sandbox() as root:
        run_dir = root / "runs" / "20240101-000000-abcdef"
        (run_dir / "snapshots").mkdir(parents=True)
        (run_dir / "spec.json").write_text(spec)
        (run_dir / "status.json").write_text(status)
        before = files_under(root)
        result = outcome(_read_run, root / "runs", run_dir.name)
        if not isinstance(result, Exception):
            (result.state, result.active, result.out, result.name, result.history)
        # a run whose process is gone is marked stopped in its own status.json
        assert_wrote_only(root, before, allowed=lambda p: p == "runs/20240101-000000-abcdef/status.json")
