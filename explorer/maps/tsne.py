"""t-SNE maps: openTSNE with settings chosen for the app's sizes, on the threads the machine
can spare. Imported only when a map has to be computed (a cache hit pays for nothing here)."""
from __future__ import annotations

import warnings

import numpy as np

from explorer.maps import cores, opentsne_fixes
from explorer.maps.errors import ProjectionError

TSNE_EXACT_MAX = 20_000  # exact kNN for t-SNE up to this many points
TSNE_ITERATIONS = 250    # after the early exaggeration (openTSNE's default: 500)
TSNE_INTS_IN_INTERVAL = 3  # FFT grid: map units per interval (openTSNE's default: 1)
TSNE_INTERPOLATION_POINTS = 4  # per FFT interval (openTSNE's default: 3)
TSNE_MIN_INTERVALS = 25  # FFT intervals across the map at least (openTSNE's default: 50)


def tsne_map(x: np.ndarray, params: dict, seed: int, leave_a_core: bool = False) -> np.ndarray:
    """openTSNE's map of `x` (N, D) -> (N, 2); ProjectionError when openTSNE fails."""
    # openTSNE with its defaults (PCA initialisation, 250 iterations of early exaggeration
    # 12, learning rate N / exaggeration, Barnes-Hut gradients below 10,000 points and
    # FFT-accelerated ones (Linderman et al. 2019) from 10,000) but for settings that cut
    # its time at 10,000 points and keep the map at least as trustworthy as either library's
    # defaults (`python -m explorer bench --only projection`; figures in docs/measurements.md):
    # - 250 iterations after the early exaggeration instead of 500: the map is drawn by then;
    # - a coarser FFT grid: intervals of 3 map units instead of 1, at least 25 of them across
    #   the map instead of 50, with 4 interpolation points per interval instead of 3. The
    #   grid, not the points, is what each iteration pays for; the higher-order
    #   interpolation makes up for the coarser grid.
    # Exact nearest neighbours (cheap at this size) make the map the same whatever the
    # thread count; with Annoy's approximate ones it changes with n_jobs.
    # BLAS kept to one thread meanwhile: OpenBLAS's idle threads spin, waiting for work, on
    # the cores openTSNE's own threads need (docs/measurements.md).
    neighbors = "exact" if len(x) <= TSNE_EXACT_MAX else "auto"
    try:
        import openTSNE  # imported here: only a cache miss pays for it
        opentsne_fixes.install()
        from threadpoolctl import threadpool_limits
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore")
            tsne = openTSNE.TSNE(perplexity=params["perplexity"], random_state=seed, n_jobs=cores.threads(leave_a_core),
                                 neighbors=neighbors, n_iter=TSNE_ITERATIONS, ints_in_interval=TSNE_INTS_IN_INTERVAL,
                                 n_interpolation_points=TSNE_INTERPOLATION_POINTS,
                                 min_num_intervals=TSNE_MIN_INTERVALS,
                                 verbose=False)
            return np.asarray(tsne.fit(x.astype(np.float64)))
    except Exception as e:  # anything inside openTSNE
        raise ProjectionError(f"t-SNE failed ({type(e).__name__}: {e}); try another perplexity or PCA") from e
