"""The whole example, both ways in, from a shell at the repository root:

    python examples/torch_factory/run_example.py --workdir /tmp/tiny-vae [--steps 300]

1. trains the TinyVAE of tiny_vae.py for a few steps on the digits set (its own loop, no app code);
2. explores it through the factory: `evaluate`, `sample` and `project` with
   `--checkpoint factory:examples.torch_factory.tiny_vae:load`;
3. exports the same model to ONNX with torch.onnx (an encoder and a decoder graph and model.json,
   written by hand as any framework would) and runs the same commands on that folder.

Then open either in the app:

    EXPLORER_FACTORY=examples.torch_factory.tiny_vae:load TINY_VAE_WEIGHTS=/tmp/tiny-vae/tiny_vae.safetensors \\
        EXPLORER_CHECKPOINTS=/tmp/tiny-vae/models streamlit run explorer/app.py
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
FACTORY = "examples.torch_factory.tiny_vae:load"


def train(steps: int, out: Path) -> None:
    """A plain VAE loop (Kingma & Welling 2014): Bernoulli reconstruction plus KL, Adam."""
    from safetensors.torch import save_file
    from sklearn.datasets import load_digits

    from examples.torch_factory.tiny_vae import TinyVAE

    torch.manual_seed(0)
    x = torch.tensor(load_digits().images / 16.0, dtype=torch.float32).unsqueeze(1)  # (1797, 1, 8, 8)
    model = TinyVAE()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(steps):
        batch = x[torch.randint(0, len(x), (128,))]
        probs, mu, logvar = model(batch)
        recon = F.binary_cross_entropy(probs, batch, reduction="sum") / len(batch)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / len(batch)
        opt.zero_grad()
        (recon + kl).backward()
        opt.step()
    print(f"trained {steps} steps: -ELBO {(recon + kl).item():.2f} nats per image")
    save_file(model.state_dict(), str(out))


class Verb(torch.nn.Module):
    """One of the model's methods as a module's forward, for torch.onnx.export."""

    def __init__(self, model: torch.nn.Module, verb: str):
        super().__init__()
        self.model, self.verb = model, verb

    def forward(self, *args):
        return getattr(self.model, self.verb)(*args)


def export(folder: Path) -> None:
    """The same model as an ONNX model folder: what a user of any framework would write."""
    import warnings

    from examples.torch_factory.tiny_vae import TinyVAE, load

    warnings.filterwarnings("ignore", category=DeprecationWarning)  # torch.onnx's notice about its new exporter
    model = load()
    for p in model.parameters():
        p.requires_grad_(False)
    folder.mkdir(parents=True, exist_ok=True)
    batch = {0: "n"}  # any batch size
    torch.onnx.export(Verb(model, "encode"), (torch.rand(2, 1, 8, 8),), str(folder / "encoder.onnx"),
                      input_names=["x"], output_names=["mean", "log_var"],
                      dynamic_axes={"x": batch, "mean": batch, "log_var": batch}, dynamo=False)
    torch.onnx.export(Verb(model, "decode"), (torch.zeros(2, 4),), str(folder / "decoder.onnx"),
                      input_names=["z"], output_names=["pixels"], dynamic_axes={"z": batch, "pixels": batch},
                      dynamo=False)
    description = {
        "format": "latent-explorer/external-1", "source": "onnx", "kind": "vae", "dataset": "digits",
        "class_names": [str(i) for i in range(10)], "image_shape": [1, 8, 8], "value_range": [0.0, 1.0],
        "latent_dim": TinyVAE.latent_dim, "decoder_output": "probabilities",
        "encoder": {"file": "encoder.onnx", "inputs": {"images": "x"}, "outputs": {"mu": "mean", "logvar": "log_var"}},
        "decoder": {"file": "decoder.onnx", "inputs": {"codes": "z"}, "outputs": {"images": "pixels"}},
    }
    (folder / "model.json").write_text(json.dumps(description, indent=2))


def explore(checkpoint: str, workdir: Path) -> None:
    """The CLI's commands on the model, as on any checkpoint."""
    from explorer.cli import main

    tag = "factory" if checkpoint.startswith("factory:") else "onnx"
    for argv in (["evaluate", "--checkpoint", checkpoint, "--iwae-k", "10"],
                 ["sample", "--checkpoint", checkpoint, "--n", "16", "--out", str(workdir / f"samples-{tag}.npy")],
                 ["project", "--checkpoint", checkpoint, "--method", "pca"]):
        print(f"$ python -m explorer {' '.join(argv)}", flush=True)
        if main(argv) != 0:
            raise SystemExit(f"the example failed at: python -m explorer {' '.join(argv)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    weights = args.workdir / "tiny_vae.safetensors"
    os.environ["TINY_VAE_WEIGHTS"] = str(weights)  # where the factory finds them (this script's own setting)
    train(args.steps, weights)
    explore(f"factory:{FACTORY}", args.workdir)
    folder = args.workdir / "models" / "digits" / "tiny-vae-onnx"
    export(folder)
    explore(str(folder), args.workdir)
    print(f"done: the ONNX folder is {folder}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the package and the example import
    sys.exit(main())
