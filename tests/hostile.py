"""Broken and hostile checkpoints, made from a good one, for the CLI and app tests.

`make_hostile(good, folder, outside)` copies the good checkpoint directory `good` into
`folder/<case>/` and damages each copy one way; it returns, per case, the file the refusal must
name and words it must say. `outside` is a directory outside the checkpoints folder, for the
symlink cases. Pickle cases write a payload that creates `<folder>/<case>.RAN` when unpickled,
as an exploit would run code: the marker must never appear.
"""
from __future__ import annotations

import json
import pickle
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

CONFIG, WEIGHTS = "config.json", "model.safetensors"


@dataclass(frozen=True)
class Case:
    path: Path           # the checkpoint directory (or link) to give the loader
    names: str           # the file (or directory) the message must name
    words: tuple[str, ...]
    marker: Path | None = None  # pickle cases: must not exist afterwards


class RunsCode:
    """Unpickling this calls open(marker, 'w'): it creates a file, as a real exploit would run code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _edit_config(path: Path, edit) -> None:
    raw = json.loads((path / CONFIG).read_text())
    edit(raw)
    (path / CONFIG).write_text(json.dumps(raw))


def _with_huge_tensor(path: Path, weights: dict[str, torch.Tensor], name: str) -> None:
    """Rewrite a safetensors file with every tensor right except `name`, declared 50,000 x 50,000
    (10 GB). The file is sparse, so it costs no disk; reading that tensor would cost 10 GB."""
    n = 50_000
    header, blobs, offset = {}, [], 0
    for key in sorted(weights):
        t = weights[key].float().contiguous()
        size = 4 * n * n if key == name else 4 * t.numel()
        header[key] = {"dtype": "F32", "shape": [n, n] if key == name else list(t.shape),
                       "data_offsets": [offset, offset + size]}
        blobs.append((offset, None if key == name else t.numpy().tobytes()))
        offset += size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    start = 8 + len(text)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for at, blob in blobs:
            if blob is not None:
                f.seek(start + at)
                f.write(blob)
        f.truncate(start + offset)


def make_hostile(good: Path, folder: Path, outside: Path) -> dict[str, Case]:
    folder.mkdir(parents=True, exist_ok=True)
    cases: dict[str, Case] = {}

    def copy(case: str) -> Path:
        dst = folder / case
        shutil.copytree(good, dst)
        return dst

    weights = load_file(good / WEIGHTS)
    first = sorted(weights)[0]

    for case, damage in {"truncated": lambda b: b[: len(b) // 2], "empty": lambda b: b"",
                         "garbage": lambda b: b"\x89PNG\r\n\x1a\n" + b"\x00" * 200}.items():
        p = copy(f"weights-{case}")
        (p / WEIGHTS).write_bytes(damage((good / WEIGHTS).read_bytes()))
        cases[f"weights-{case}"] = Case(p, str(p / WEIGHTS), ("could not be read as safetensors",))

    p = copy("weights-wrong-tensors")
    renamed = {("evil." + k if k == first else k): v for k, v in weights.items()}
    save_file(renamed, p / WEIGHTS)
    cases["weights-wrong-tensors"] = Case(p, str(p / WEIGHTS), ("missing " + first, "unexpected evil." + first))

    p = copy("weights-wrong-shape")
    _edit_config(p, lambda r: r["model"].update(latent_dim=r["model"]["latent_dim"] + 3))
    cases["weights-wrong-shape"] = Case(p, str(p / WEIGHTS), ("does not fit", "shape"))

    p = copy("weights-huge-tensor")
    _with_huge_tensor(p / WEIGHTS, weights, "to_mu.weight")
    cases["weights-huge-tensor"] = Case(p, str(p / WEIGHTS), ("to_mu.weight has shape (50000, 50000)",))

    for writer in ("pickle", "torch-save"):
        p = copy(f"weights-{writer}")
        marker = folder / f"weights-{writer}.RAN"
        payload = {first: RunsCode(marker)}
        if writer == "pickle":
            (p / WEIGHTS).write_bytes(pickle.dumps(payload))
        else:
            torch.save(payload, p / WEIGHTS)
        cases[f"weights-{writer}"] = Case(p, str(p / WEIGHTS), ("pickles are never loaded",), marker)

    p = copy("config-missing")
    (p / CONFIG).unlink()
    (p / "config.json.bak").write_text("{}")
    cases["config-missing"] = Case(p, str(p), ("no config.json",))

    p = copy("config-not-json")
    (p / CONFIG).write_text("{'kind': 'vae', oops")
    cases["config-not-json"] = Case(p, str(p / CONFIG), ("not valid JSON",))

    p = copy("config-unknown-kind")
    _edit_config(p, lambda r: (r.update(kind="gan"), r["model"].update(kind="gan")))
    cases["config-unknown-kind"] = Case(p, str(p / CONFIG), ("unknown model kind 'gan'",))

    p = copy("config-latent-1e9")
    _edit_config(p, lambda r: r["model"].update(latent_dim=10**9))
    cases["config-latent-1e9"] = Case(p, str(p / CONFIG), ("latent_dim must be 1..512, got 1000000000",))

    p = copy("config-too-many-parameters")
    _edit_config(p, lambda r: r["model"].update(image_shape=[1, 128, 128], channels=[256, 256], hidden=2048))
    cases["config-too-many-parameters"] = Case(p, str(p / CONFIG), ("parameters",))

    p = copy("config-symlink-out")
    secret = outside / "secret.json"
    secret.write_text(json.dumps(json.loads((good / CONFIG).read_text())))  # a valid config, elsewhere
    (p / CONFIG).unlink()
    (p / CONFIG).symlink_to(secret)
    cases["config-symlink-out"] = Case(p, str(p / CONFIG), ("symlink", "outside the checkpoint directory"))
    return cases
