#!/usr/bin/env bash
# The exact commands that produced the shipped checkpoints in checkpoints/ (CPU, 2 threads).
# Run from the repository root: bash scripts/train_shipped.sh [fashion|digits|shapes|all]
set -euo pipefail
what="${1:-all}"
run() { echo "+ $*"; "$@"; }

if [[ "$what" == digits || "$what" == all ]]; then
  run python -m explorer train --kind classifier --dataset digits --epochs 40 --batch-size 64 --lr 2e-3 \
      --dropout 0.3 --augment shift --weight-decay 5e-4 --slim --overwrite --quiet
  run python -m explorer train --kind vae --dataset digits --latent-dim 8 --epochs 120 --batch-size 64 --slim --overwrite --quiet
  run python -m explorer train --kind cvae --dataset digits --latent-dim 8 --epochs 120 --batch-size 64 --slim --overwrite --quiet \
      --classifier checkpoints/digits/classifier
  run python -m explorer train --kind vae --dataset digits --latent-dim 2 --epochs 120 --batch-size 64 --slim --overwrite --quiet
  # Compare's posterior-collapse pair: the same 8-D vae at beta 0.5 and at beta 4 (trained under nice -n 10)
  run python -m explorer train --kind vae --dataset digits --latent-dim 8 --beta 0.5 --epochs 120 --batch-size 64 --slim \
      --overwrite --quiet --out-dir checkpoints --name vae-8d-beta0.5
  run python -m explorer train --kind vae --dataset digits --latent-dim 8 --beta 4 --epochs 120 --batch-size 64 --slim \
      --overwrite --quiet --out-dir checkpoints --name vae-8d-beta4
  for name in vae-8d-beta0.5 vae-8d-beta4; do  # the maps shipped with them
    run python -m explorer project --checkpoint digits/$name --method umap
    run python -m explorer project --checkpoint digits/$name --method pca
  done
fi

if [[ "$what" == fashion || "$what" == all ]]; then
  run python -m explorer train --kind classifier --dataset fashion-mnist --epochs 20 --batch-size 128 --lr 2e-3 \
      --dropout 0.3 --augment shift+flip --weight-decay 5e-4 --slim --overwrite --quiet
  run python -m explorer train --kind vae --dataset fashion-mnist --latent-dim 16 --epochs 15 --lr 1.5e-3 --slim --overwrite --quiet \
      --reference
  run python -m explorer train --kind cvae --dataset fashion-mnist --latent-dim 16 --epochs 15 --lr 1.5e-3 --slim --overwrite --quiet \
      --classifier checkpoints/fashion-mnist/classifier
  run python -m explorer train --kind hybrid --dataset fashion-mnist --latent-dim 16 --lambda 20 --augment shift+flip --epochs 15 --lr 1.5e-3 \
      --slim --overwrite --quiet
  run python -m explorer train --kind vae --dataset fashion-mnist --latent-dim 2 --depth 0 --epochs 10 --lr 1.5e-3 --slim --overwrite --quiet
fi

if [[ "$what" == shapes || "$what" == all ]]; then
  # Small nets (16/32 channels, no residual blocks) and one thread each: on 2 cores shared with other
  # jobs a 2-thread run was over ten times slower per epoch. The plain VAE and the beta-VAE differ only in
  # beta (the teaching pair for the MIG). Their figures, mig and factor_mi included, come from one evaluate
  # after training (trained under nice -n 5, the two VAEs side by side).
  small=(--channels 16,32 --hidden 128 --depth 0 --threads 1)
  run python -m explorer train --kind classifier --dataset shapes --epochs 4 --batch-size 64 --lr 2e-3 --dropout 0.1 \
      "${small[@]}" --slim --overwrite --no-evaluate
  run python -m explorer train --kind vae --dataset shapes --latent-dim 10 --epochs 8 --batch-size 64 "${small[@]}" \
      --slim --overwrite --quiet --no-evaluate
  run python -m explorer train --kind vae --dataset shapes --latent-dim 10 --beta 4 --epochs 8 --batch-size 64 "${small[@]}" \
      --slim --overwrite --quiet --no-evaluate
  run python -m explorer train --kind cvae --dataset shapes --latent-dim 8 --epochs 8 --batch-size 64 "${small[@]}" \
      --slim --overwrite --quiet --no-evaluate
  run python -m explorer evaluate --checkpoint checkpoints/shapes/classifier
  for name in vae-10d vae-10d-beta4 cvae-8d; do
    run python -m explorer evaluate --checkpoint checkpoints/shapes/$name --classifier checkpoints/shapes/classifier --iwae-k 20
    run python -m explorer project --checkpoint shapes/$name --method umap  # the map shipped with it
  done
fi
