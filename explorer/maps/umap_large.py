"""UMAP for maps of many points (the whole dataset: 70,000 codes), used by umap_layout above
PARALLEL_FROM points. Same algorithm, two engines made for the size:

- the k nearest neighbours from FAISS's exact flat index (Johnson, Douze & Jegou 2019), a
  few more candidates than asked, their distances then recomputed in float64 and sorted by
  (distance, index) as the small maps' exact search does;
- the layout's stochastic gradient descent on several threads, and the same map whatever
  their number: the points are cut into PARTS fixed groups along the starting layout's first
  axis; each epoch, every group's inner edges run on a thread of their own (no two groups
  touch one point), then the edges between groups run in order. Negative samples are read
  from the layout as it was at the epoch's start, so no thread reads a point another is
  moving; each group draws its random numbers from its own seeded xorshift. Each edge's
  negative samples are summed from the head's position before them (one step for all of
  them): their forces are independent, so the CPU overlaps them. Positions in float32.

`python -m explorer bench --only bigmap` measures it against umap-learn (docs/measurements.md).
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

PARTS = 4                  # fixed groups of points: the map does not depend on the thread count
EXTRA_CANDIDATES = 8       # FAISS's float32 search returns k + this many before the float64 sort
_SEED_MIX = 0x9E3779B97F4A7C15
_BLOCK_CELLS = 2 ** 21     # float64 differences held at once when recomputing candidate distances (16 MB)


def knn(x: np.ndarray, k: int, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours as umap_layout.knn returns them (the point itself first,
    ascending by float64 distance, ties by index), found by FAISS on `threads` threads."""
    try:
        import faiss
    except ImportError as e:
        raise ImportError("FAISS is missing (faiss-cpu in requirements.txt): run `make install`, "
                          "or map fewer than 20,000 points, or use PCA") from e
    from threadpoolctl import threadpool_limits

    x64 = np.ascontiguousarray(x, dtype=np.float64)
    x32 = np.ascontiguousarray(x64, dtype=np.float32)
    n = len(x64)
    want = min(n, k + EXTRA_CANDIDATES)
    index = faiss.IndexFlatL2(x32.shape[1])
    index.add(x32)
    with threadpool_limits(limits=max(1, int(threads)), user_api="openmp"):
        _, cand = index.search(x32, want)
    cand = cand.astype(np.int64)
    own = np.arange(n)
    missing = ~(cand == own[:, None]).any(1)           # many equal points: the point itself may be left out
    cand[missing, -1] = own[missing]
    d = np.empty(cand.shape)
    block = max(1, _BLOCK_CELLS // (want * x64.shape[1]))   # (block, k + extra, D) at a time: MBs, not hundreds
    for s in range(0, n, block):
        d[s:s + block] = np.sqrt(((x64[cand[s:s + block]] - x64[s:s + block, None, :]) ** 2).sum(2))
    d[cand == own[:, None]] = -1.0                       # the point itself first, whatever its ties
    order = np.lexsort((cand, d), axis=1)[:, :k]
    idx = np.take_along_axis(cand, order, 1)
    dist = np.take_along_axis(d, order, 1)
    dist[:, 0] = 0.0
    return idx, dist


def _epoch_edges(y, start, head, tail, per_sample, next_sample, next_negative, per_negative, edges,
                 epoch, n_epochs, a, b, state):
    """One epoch over `edges` (indices into head/tail): each due edge pulls its two ends
    together, then pushes its head from its due negative samples (read from `start`).
    Returns the xorshift state. Plain Python that umap_layout.compiled hands to numba."""
    n = y.shape[0]
    alpha = np.float32(1.0 - epoch / n_epochs)
    four, two, one, eps = np.float32(4.0), np.float32(2.0), np.float32(1.0), np.float32(0.001)
    s = state
    for t in range(edges.shape[0]):
        i = edges[t]
        if next_sample[i] > epoch:
            continue
        j, k = head[i], tail[i]
        dx, dy = y[j, 0] - y[k, 0], y[j, 1] - y[k, 1]
        d2 = dx * dx + dy * dy
        if d2 > 0:
            pb = math.exp(b * math.log(d2))
            c = -two * a * b * pb / d2 / (a * pb + one)
            gx, gy = min(max(c * dx, -four), four) * alpha, min(max(c * dy, -four), four) * alpha
            y[j, 0] += gx
            y[j, 1] += gy
            y[k, 0] -= gx
            y[k, 1] -= gy
        next_sample[i] += per_sample[i]
        n_neg = int((epoch - next_negative[i]) / per_negative[i])
        hx, hy = y[j, 0], y[j, 1]
        sx, sy = np.float32(0.0), np.float32(0.0)
        for _ in range(n_neg):
            s ^= s << np.uint64(13)
            s ^= s >> np.uint64(7)
            s ^= s << np.uint64(17)
            q = int(((s >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))
            if q == j:
                continue
            dx, dy = hx - start[q, 0], hy - start[q, 1]
            d2 = dx * dx + dy * dy
            if d2 > 0:
                c = two * b / ((eps + d2) * (a * math.exp(b * math.log(d2)) + one))
                sx += min(max(c * dx, -four), four) * alpha
                sy += min(max(c * dy, -four), four) * alpha
            else:
                sx += four * alpha
                sy += four * alpha
        y[j, 0] += sx
        y[j, 1] += sy
        next_negative[i] += n_neg * per_negative[i]
    return s


def edge_groups(y0: np.ndarray, head: np.ndarray, tail: np.ndarray, parts: int = PARTS) -> list[np.ndarray]:
    """Edge indices per group of points (cut at the quantiles of the starting layout's first
    axis), inner edges of each group first, then one list of the edges between groups."""
    order = np.argsort(y0[:, 0], kind="stable")
    part = np.empty(len(y0), np.int64)
    part[order] = np.arange(len(y0)) * parts // len(y0)
    ph, pt = part[head], part[tail]
    return [np.flatnonzero((ph == p) & (pt == p)) for p in range(parts)] + [np.flatnonzero(ph != pt)]


def optimize(y0: np.ndarray, head: np.ndarray, tail: np.ndarray, per_sample: np.ndarray, n_epochs: int,
             a: float, b: float, seed: int, negative_rate: float, threads: int) -> np.ndarray:
    """The (N, 2) float32 layout after n_epochs, from y0; the same for any `threads`."""
    from explorer.maps.umap_layout import compiled

    kernel = compiled(_epoch_edges)
    y = np.ascontiguousarray(y0, dtype=np.float32)
    a32, b32 = np.float32(a), np.float32(b)
    per_sample = np.ascontiguousarray(per_sample, dtype=np.float64)
    next_sample = per_sample.copy()
    per_negative = per_sample / float(negative_rate)
    next_negative = per_negative.copy()
    groups = edge_groups(y, head, tail)
    states = np.array([((int(seed) + 1) * _SEED_MIX + g * 7919 + 1) % 2 ** 64 | 1 for g in range(len(groups))],
                      dtype=np.uint64)

    def run(g: int, epoch: int, start: np.ndarray) -> None:
        states[g] = kernel(y, start, head, tail, per_sample, next_sample, next_negative, per_negative,
                           groups[g], epoch, n_epochs, a32, b32, states[g])

    with ThreadPoolExecutor(max(1, min(int(threads), PARTS)), thread_name_prefix="explorer-umap") as pool:
        for epoch in range(int(n_epochs)):
            start = y.copy()
            list(pool.map(lambda g: run(g, epoch, start), range(PARTS)))
            run(PARTS, epoch, start)       # the edges between groups, in order
    return y
