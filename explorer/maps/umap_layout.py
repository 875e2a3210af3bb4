"""UMAP (McInnes, Healy & Melville 2018) for the app's maps, without umap-learn's start-up cost.

    umap_map(x, n_neighbors, min_dist, seed) -> (N, 2) float32

umap-learn spends most of a fresh process's time before it optimises anything: importing
pynndescent and compiling its numba code, an approximate nearest-neighbour search, and
numba compiling the fuzzy-set construction (docs/measurements.md has the figures). At the
sizes this app maps (up to tens of thousands of codes of at most a few dozen dimensions)
none of that is needed:

- the k nearest neighbours are exact, by blocked brute force in numpy (one matrix product
  per block of rows, then the candidates under a per-row bound);
- the fuzzy simplicial set is the same as umap-learn's (per-point rho and sigma found by
  bisection, here for all points at once; fuzzy union of the directed graph and its
  transpose), in numpy and scipy.sparse;
- the initial layout is the same spectral embedding (the two leading non-trivial
  eigenvectors of the normalised graph, found as the largest of D^-1/2 A D^-1/2, which
  ARPACK converges on much faster than the smallest of the Laplacian); a graph in several
  pieces, which has no single spectral layout, starts from the codes' PCA plane instead;
- the layout is optimised by the same per-edge stochastic gradient descent with negative
  sampling, in one small numba function compiled once and cached on disk
  (cache=True: in explorer/maps/__pycache__, or under $NUMBA_CACHE_DIR when that is set),
  single-threaded, its random numbers from the seed: the same seed gives the same map.

Two settings differ from umap-learn's defaults: 10 negative samples per positive one
instead of 5, which keeps neighbourhoods that are apart in the codes apart on the map, and
120 epochs instead of umap-learn's 500 (up to 10,000 points; 200 above), which the extra
negative samples make up for. Both were chosen by the trustworthiness (k = 10) of maps of
the 16-D Fashion-MNIST test codes, which `python -m explorer bench --only projection`
reports beside umap-learn's; docs/measurements.md has the figures.

Maps of PARALLEL_FROM points or more (the whole dataset) take explorer/maps/umap_large.py's
engines for the neighbours and the layout, and LARGE_EPOCHS epochs: there the exact search
above is quadratic (20 s at 70,000 codes) and one thread is too slow
(`python -m explorer bench --only bigmap`).
"""
from __future__ import annotations

import os

import numpy as np

N_EPOCHS = 120
PARALLEL_FROM = 20_000   # maps of this many points or more: explorer/maps/umap_large.py
LARGE_EPOCHS = 80        # epochs of a map that large (its threads and summed negative samples: see there)
LARGE_NCV = 32           # Lanczos vectors for a large map's spectral start (spectral_init)
NEGATIVE_SAMPLE_RATE = 10
SPREAD = 1.0
KNN_THREADS = 4  # threads sharing knn()'s blocks at most: each holds a block of distances (128 MB)
_KNN_BLOCK_CELLS = 2 ** 24  # distances held at once by knn (128 MB of float64): rows per block = this / N
_SMOOTH_TOL = 1e-5       # umap-learn's tolerance on the sum of memberships
_MIN_K_DIST_SCALE = 1e-3  # umap-learn's floor on sigma, as a fraction of the mean distance


def knn(x: np.ndarray, k: int, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of every row of x, the point itself first.

    Returns (indices (N, k) int64, distances (N, k) float64), ascending by distance, ties by
    index. Brute force in blocks of rows: memory stays at a block of N squared distances per
    thread. Blocks are independent, so `threads` (default: KNN_THREADS, at most one per core)
    share them (numpy releases the GIL in its array operations); the answer is the same
    whatever the thread count."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = len(x)
    k = min(int(k), n)
    sq = (x ** 2).sum(1)
    right = np.hstack([-2.0 * x, sq[:, None]])    # [x_i, 1] . [-2 x_j, |x_j|^2] = |x_j|^2 - 2 x_i.x_j
    stride = max(1, n // max(1024, 8 * k))        # every stride-th column gives each row an upper bound
    idx = np.empty((n, k), np.int64)
    dist = np.empty((n, k))
    block = max(16, min(1024, _KNN_BLOCK_CELLS // n))
    starts = range(0, n, block)
    threads = min(KNN_THREADS if threads is None else int(threads), os.cpu_count() or 1, len(starts))

    def one(s: int) -> None:
        _knn_block(x, sq, right, s, min(n, s + block), k, stride, idx, dist)

    if threads <= 1:
        for s in starts:
            one(s)
    else:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(threads, thread_name_prefix="explorer-knn") as pool:
            list(pool.map(one, starts))
    return idx, dist


def _knn_block(x, sq, right, s: int, e: int, k: int, stride: int, idx: np.ndarray, dist: np.ndarray) -> None:
    """Rows s..e of knn(): their k nearest, written into idx and dist."""
    m = e - s
    rows_m = np.arange(m)
    d2 = np.hstack([x[s:e], np.ones((m, 1))]) @ right.T
    d2 += sq[s:e, None]
    np.maximum(d2, 0.0, out=d2)
    d2[rows_m, np.arange(s, e)] = 0.0
    # Every row's k-th smallest distance is at most its k-th smallest over any k columns
    # (here about 1,000 spread over the data): only the entries under that bound (about
    # N / 1,000 times k per row) need sorting.
    bound = np.partition(d2[:, ::stride], k - 1, axis=1)[:, k - 1]
    under = d2 <= bound[:, None]
    rows, cols = np.nonzero(under)
    d = d2[under]
    # one sort key: the row, then the distance scaled into [0.5, 0.99), the point itself at 0.25
    key = rows + 0.5 + 0.49 * d / (max(float(d.max()), 1e-300) * (1 + 1e-9))
    own = cols == rows + s
    key[own] = rows[own] + 0.25
    order = np.argsort(key, kind="stable")
    pick = np.searchsorted(rows[order], rows_m)[:, None] + np.arange(k)
    idx[s:e] = cols[order][pick]
    dist[s:e] = np.sqrt(d2[rows_m[:, None], idx[s:e]])


def _smooth_knn_dist(dist: np.ndarray, k: int, n_iter: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Per point: rho, the distance to its nearest other point, and sigma, such that the
    memberships exp(-(d - rho) / sigma) of its neighbours sum to log2(k) (umap-learn's
    smooth_knn_dist with local_connectivity 1, bisected for all points at once)."""
    n = len(dist)
    target = np.log2(k)
    others = dist[:, 1:]
    positive = others > 0
    first = np.argmax(positive, axis=1)
    rho = np.where(positive.any(1), others[np.arange(n), first], 0.0)
    excess = np.maximum(others - rho[:, None], 0.0)
    lo, hi, mid = np.zeros(n), np.full(n, np.inf), np.ones(n)
    active = np.ones(n, bool)
    for _ in range(n_iter):
        psum = np.exp(-excess[active] / mid[active, None]).sum(1)
        done = np.abs(psum - target) < _SMOOTH_TOL
        over = psum > target
        a = np.flatnonzero(active)
        hi[a[over & ~done]] = mid[a[over & ~done]]
        lo[a[~over & ~done]] = mid[a[~over & ~done]]
        step = a[~done]
        mid[step] = np.where(np.isinf(hi[step]), mid[step] * 2.0, (lo[step] + hi[step]) / 2.0)
        active[a[done]] = False
        if not active.any():
            break
    floor = _MIN_K_DIST_SCALE * np.where(rho > 0, dist.mean(1), dist.mean())
    return np.maximum(mid, floor), rho


def fuzzy_graph(idx: np.ndarray, dist: np.ndarray, n_epochs: int = N_EPOCHS):
    """The symmetric fuzzy simplicial set (scipy COO, rows sorted) of a kNN graph, edges too
    weak to be sampled once in n_epochs dropped (as umap-learn does)."""
    import scipy.sparse as sp

    n, k = idx.shape
    sigma, rho = _smooth_knn_dist(dist, k)
    w = np.exp(-np.maximum(dist - rho[:, None], 0.0) / np.maximum(sigma[:, None], 1e-300))
    w[idx == np.arange(n)[:, None]] = 0.0
    directed = sp.csr_matrix((w.ravel(), (np.repeat(np.arange(n), k), idx.ravel())), shape=(n, n))
    directed.eliminate_zeros()
    back = directed.T.tocsr()
    graph = (directed + back - directed.multiply(back)).tocsr()  # fuzzy union
    graph.data[graph.data < graph.data.max() / n_epochs] = 0.0
    graph.eliminate_zeros()
    graph.sort_indices()
    return graph.tocoo()


def spectral_init(graph, x: np.ndarray, seed: int, ncv: int | None = None) -> np.ndarray:
    """(N, 2) start: the spectral embedding of a connected graph, else the codes' PCA plane.
    `ncv`: ARPACK's Lanczos vectors, sqrt(N) unless given (a large map's 32 find the same two
    vectors, cosine 1.0 to 5 places at 70,000 codes, in a fourteenth of the time)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse.linalg import ArpackError, eigsh

    n = graph.shape[0]
    pieces, _ = connected_components(graph, directed=False)
    if pieces == 1 and n > 3:
        inv = 1.0 / np.sqrt(np.asarray(graph.sum(axis=0)).ravel())
        norm = (sp.diags(inv) @ graph.tocsr() @ sp.diags(inv)).tocsr()
        try:
            if n <= 2000:
                vals, vecs = np.linalg.eigh(norm.toarray())
            else:
                vals, vecs = eigsh(norm, 3, which="LA", v0=np.ones(n), tol=1e-4,
                                   ncv=min(n - 1, max(7, int(ncv or np.sqrt(n)))), maxiter=5 * n)
            order = np.argsort(-vals)[1:3]   # skip the trivial eigenvector (eigenvalue 1)
            return vecs[:, order]
        except (ArpackError, np.linalg.LinAlgError):
            pass
    xc = np.asarray(x, dtype=np.float64) - np.mean(x, axis=0)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    out = np.zeros((n, 2))
    out[:, :min(2, vt.shape[0])] = xc @ vt[:2].T
    return out


def ab_params(min_dist: float, spread: float = SPREAD) -> tuple[float, float]:
    """a, b of the map's similarity 1 / (1 + a d^2b), fitted to min_dist and spread as umap-learn does."""
    from scipy.optimize import curve_fit

    xv = np.linspace(0, spread * 3, 300)
    yv = np.where(xv < min_dist, 1.0, np.exp(-(xv - min_dist) / spread))
    (a, b), _ = curve_fit(lambda d, a, b: 1.0 / (1.0 + a * d ** (2 * b)), xv, yv)
    return float(a), float(b)


_COMPILED: dict = {}


def compiled(fn):
    """`fn` compiled by numba (nogil, fastmath, cached on disk), once per process; numba is
    imported only then. The epoch loops of both layouts (here and umap_large.py) come this way."""
    if fn not in _COMPILED:
        import numba
        _COMPILED[fn] = numba.njit(cache=True, nogil=True, fastmath=True)(fn)
    return _COMPILED[fn]


def _optimize_layout(y, head, tail, epochs_per_sample, n_epochs, a, b, seed, negative_rate):
    """umap-learn's optimize_layout_euclidean, single-threaded: every edge pulls its two
    ends together each epochs_per_sample epochs, and pushes its head away from
    negative_rate random points as often; each step clipped to 4, scaled by a linearly
    falling learning rate. Plain Python that `compiled` hands to numba."""
    np.random.seed(seed)
    n = y.shape[0]
    m = head.shape[0]
    next_sample = epochs_per_sample.copy()
    per_negative = epochs_per_sample / negative_rate
    next_negative = per_negative.copy()
    for epoch in range(n_epochs):
        alpha = 1.0 - epoch / n_epochs
        for i in range(m):
            if next_sample[i] > epoch:
                continue
            j = head[i]
            k = tail[i]
            dx = y[j, 0] - y[k, 0]
            dy = y[j, 1] - y[k, 1]
            d2 = dx * dx + dy * dy
            if d2 > 0.0:
                pb = d2 ** b
                c = -2.0 * a * b * pb / d2 / (a * pb + 1.0)
                gx = min(max(c * dx, -4.0), 4.0) * alpha
                gy = min(max(c * dy, -4.0), 4.0) * alpha
                y[j, 0] += gx
                y[j, 1] += gy
                y[k, 0] -= gx
                y[k, 1] -= gy
            next_sample[i] += epochs_per_sample[i]
            n_neg = int((epoch - next_negative[i]) / per_negative[i])
            for _ in range(n_neg):
                q = np.random.randint(n)
                if q == j:
                    continue
                dx = y[j, 0] - y[q, 0]
                dy = y[j, 1] - y[q, 1]
                d2 = dx * dx + dy * dy
                if d2 > 0.0:
                    c = 2.0 * b / ((0.001 + d2) * (a * d2 ** b + 1.0))
                    gx = min(max(c * dx, -4.0), 4.0) * alpha
                    gy = min(max(c * dy, -4.0), 4.0) * alpha
                else:
                    gx = 4.0 * alpha
                    gy = 4.0 * alpha
                y[j, 0] += gx
                y[j, 1] += gy
            next_negative[i] += n_neg * per_negative[i]
    return y


def umap_map(x: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0,
             n_epochs: int | None = None, negative_sample_rate: float = NEGATIVE_SAMPLE_RATE, *,
             parallel_from: int = PARALLEL_FROM, threads: int = 1, search_threads: int = 1) -> np.ndarray:
    """The (N, 2) float32 UMAP map of x (N >= 3 points); the same seed gives the same map.
    From `parallel_from` points on, explorer/maps/umap_large.py's engines (FAISS neighbours
    on `search_threads` OpenMP threads, the layout on up to `threads` threads: the map does
    not depend on either) and LARGE_EPOCHS epochs unless `n_epochs` says otherwise."""
    from explorer.maps import umap_large

    x = np.ascontiguousarray(x, dtype=np.float64)
    n = len(x)
    large = n >= parallel_from
    n_epochs = int(n_epochs or (LARGE_EPOCHS if large else N_EPOCHS))
    k = min(int(n_neighbors), n)
    idx, dist = umap_large.knn(x, k, search_threads) if large else knn(x, k)
    graph = fuzzy_graph(idx, dist, n_epochs)
    rng = np.random.default_rng(seed)
    y = spectral_init(graph, x, seed, LARGE_NCV if large else None)
    y = y * (10.0 / max(float(np.abs(y).max()), 1e-12)) + rng.normal(scale=1e-4, size=y.shape)
    span = np.maximum(y.max(0) - y.min(0), 1e-12)
    y = np.ascontiguousarray(10.0 * (y - y.min(0)) / span)   # umap-learn starts in [0, 10]^2
    if graph.nnz == 0:
        return y.astype(np.float32)
    a, b = ab_params(min_dist)
    head, tail = graph.row.astype(np.int64), graph.col.astype(np.int64)
    per_sample = graph.data.max() / graph.data
    if large:
        return umap_large.optimize(y, head, tail, per_sample, n_epochs, a, b, seed, negative_sample_rate, threads)
    y = compiled(_optimize_layout)(y, head, tail, per_sample, n_epochs, a, b, int(seed) % (2 ** 32), float(negative_sample_rate))
    return y.astype(np.float32)
