"""Write each named checkpoint's testset.npz (explorer/checkpoints/testset.py): its test-set
codes and/or predictions, so a fresh machine draws the first map without torch.

    python scripts/ship_testset.py checkpoints/fashion-mnist/vae-16d checkpoints/fashion-mnist/classifier
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, to import explorer from

from explorer.analysis import latent  # noqa: E402
from explorer.checkpoints import load_checkpoint, testset  # noqa: E402
from explorer.core import arraycache, kinds  # noqa: E402
from explorer.data import load_dataset  # noqa: E402


def ship(path: Path) -> Path:
    ckpt = load_checkpoint(path)
    model = ckpt.model
    data = load_dataset(ckpt.dataset, "test")
    kind = kinds.KINDS[ckpt.kind]
    computed = {}
    if kind.is_vae:
        computed["encode"] = latent.encode(model, data.images, kinds.condition(model, data.labels))
    if kind.classifies:
        computed["classify"] = latent.classify(model, data.images)
    out = testset.write(path, arraycache.data_key(data.images, data.labels), computed)
    print(f"{out}: {', '.join(computed)}, {out.stat().st_size / 1024:.0f} KB")
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    for arg in sys.argv[1:]:
        ship(Path(arg))
