"""Run under torchrun by test_distributed.py: trains a tiny digits vae on this rank's share of every
batch, then prints (rank 0) whether every rank ended with the same weights, as DDP's averaged
gradients must make them, although each rank saw other images."""
import json

import torch

from explorer.core.config import ModelConfig, TrainConfig
from explorer.data import load_dataset
from explorer.training.distributed import join, leave
from explorer.training.loop import train

group = join(torch.device("cpu"))
model_cfg = ModelConfig(kind="vae", image_shape=(1, 8, 8), num_classes=10, latent_dim=2, channels=(4, 8), hidden=16)
train_cfg = TrainConfig(dataset="digits", epochs=1, batch_size=64, device="cpu", world_size=group.world_size)
result = train(model_cfg, train_cfg, load_dataset("digits", "train"), group=group)
flat = torch.cat([p.detach().flatten() for p in result.model.parameters()])
gathered = [torch.zeros_like(flat) for _ in range(group.world_size)]
torch.distributed.all_gather(gathered, flat)
if group.writes:
    print(json.dumps({"same": all(torch.equal(gathered[0], g) for g in gathered),
                      "moved": bool((flat != 0).any()), "steps": result.state.step}))
leave(group)
