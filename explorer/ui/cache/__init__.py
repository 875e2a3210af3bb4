"""The UI's caches, in one place: everything a page reuses between reruns and sessions.

- models: checkpoints, test sets and the passes over the test set, once per process and
  checkpoint (models shared, never mutated);
- maps: the latent maps (`latent_map`, the one way to a map) and what is drawn on them;
- derived: codes, decoded and classified images, per checkpoint and question;
- pictures: figures and PNG bytes, shared between sessions.

Keys hold everything an answer depends on (a checkpoint by its checkpoint_key: path and file
times), so a session gets another's answer only to the same question. Arguments named `_ctx`,
`_model` or `_proj` are left out of the key; a `key` argument beside them names what they hold.
Pages use `from explorer.ui import cache` and call `cache.<name>`.
"""
from explorer.ui.cache.derived import (Decoded, Dims, class_means, classified, codes64, decoded, dims, explanation,
                                       factor_scores, image_code, path_predictions, predictions, prior_samples, shared)
from explorer.ui.cache.maps import (SMALL_MAP_POINTS, decision_regions, latent_map, manifold, map_files, mini_map,
                                    recon_predictions, umap_regions)
from explorer.ui.cache.models import (anomaly_scores, available, checkpoint, checkpoint_entries, checkpoint_info,
                                      checkpoint_key, encodings, prefetch_models, recon_errors, reconstructions,
                                      set_torch_threads, test_predictions, test_set, test_set_key, train_set)
from explorer.ui.cache.pictures import figure, grid_png, image_png, pair_png, png_bytes

__all__ = [
    "Decoded", "Dims", "class_means", "classified", "codes64", "decoded", "dims", "explanation", "factor_scores",
    "image_code",
    "path_predictions", "predictions", "prior_samples", "shared",
    "SMALL_MAP_POINTS", "decision_regions", "latent_map", "manifold", "map_files", "mini_map", "recon_predictions",
    "umap_regions",
    "anomaly_scores", "available", "checkpoint", "checkpoint_entries", "checkpoint_info", "checkpoint_key",
    "encodings", "prefetch_models", "recon_errors", "reconstructions", "set_torch_threads", "test_predictions",
    "test_set", "test_set_key", "train_set",
    "figure", "grid_png", "image_png", "pair_png", "png_bytes",
]
