"""Exact silhouette that skips the distance sums it can prove are not needed.

A row's silhouette needs the mean distance to its own cluster and the smallest mean distance to
another cluster. For every (row, cluster) pair, cheap moments of the cluster give a rigorous
interval around that mean (upper: Jensen, sqrt(E z); lower: Hoelder, E z^1.5 / sqrt(E z^2), with
z the squared distance). A cluster whose lower bound exceeds the smallest upper bound of the row
cannot be the nearest one, so its sum is never computed. The sums that are computed are exact, in
float64, so the result equals the full pass to rounding (about 1e-15). On images about a third of
the pairs remain.

Three phases, rows sorted by cluster (cluster c holds rows bounds[c]:bounds[c + 1]):
1. every within-cluster pair (a(i) needs them all); the squares of their Gram entries also give
   each cluster covariance's tr(Sigma_c^2), rounded up;
2. the bounds: per cluster a randomized rank-r basis V of its covariance Sigma, how far V is
   from invariant, and the Frobenius norm of the rest bound E (u . w)^2 = u' Sigma u, the only
   term of E z^2 that is not O(n k d);
3. between clusters A < C, only the pairs (i, j) where row i needs C or row j needs A.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from clustering.metrics._pairwise import Progress, thread_map

logger = logging.getLogger(__name__)

MIN_SAMPLES = 6000  # below this the bounds and the small tiles cost more than they save
MAX_CLUSTERS = 64  # above this the cluster pairs are too many and too small to pay; full pass
MAX_SUMS_BYTES = 256 * 2**20  # the (n, k) sums and bounds stay below this; above it, full pass
_RANK = 24  # covariance directions kept per cluster for the bounds
_RELATIVE_MARGIN = 1e-6  # bounds are trusted only beyond this (their rounding is ~1e-12)
_ROW_BLOCK = 4096  # rows per block when computing the bounds


def applies(n_samples: int, n_clusters: int) -> bool:
    """Whether silhouette_values pays and fits for this many rows and clusters (measured on
    MNIST and CIFAR-sized data, 2 cores: the full pass is faster below about 5,000 rows)."""
    return (
        n_samples >= MIN_SAMPLES
        and n_clusters <= MAX_CLUSTERS
        and n_samples * n_clusters * 8 <= MAX_SUMS_BYTES
    )


def silhouette_values(
    Xs: np.ndarray,
    bounds: np.ndarray,
    chunk: int,
    threads: int,
    progress: Progress | None = None,
) -> np.ndarray:
    """Per-row silhouette (n,) of Xs (n, d) float64 whose cluster c holds rows
    bounds[c]:bounds[c + 1], equal to scikit-learn's silhouette_samples in that order.

    chunk: rows per tile (memory 8 * chunk**2 bytes per thread). progress(done, total) counts
    tiles; the total is an estimate until the bounds have chosen the between-cluster tiles.
    """
    n = len(Xs)
    counts = np.diff(bounds)
    k = len(counts)
    means = np.stack([Xs[s:e].mean(axis=0) for s, e in pairwise(bounds)])  # no empty cluster
    own_codes = np.repeat(np.arange(k), counts)
    moments = moments_of(Xs, bounds, means)
    own_tasks = _own_tasks(bounds, chunk)
    report = _Reporter(progress, max(_tile_count(n, chunk), len(own_tasks)))  # an estimate

    within, gram_squares = _within_pass(Xs, own_tasks, k, chunk, threads, report)
    total = _covariance_squares(Xs, bounds, means, gram_squares)
    lower, upper = mean_distance_bounds(Xs, bounds, means, moments, total)
    need = needed_clusters(lower, upper, own_codes, _bounds_slack(Xs, means))
    del lower, upper
    sums = np.zeros((n, k))
    sums[np.arange(n), own_codes] = within
    cross_tasks = _cross_tasks(need, bounds, chunk)
    report.total = len(own_tasks) + len(cross_tasks)
    _between_pass(Xs, sums, cross_tasks, chunk, threads, report)
    logger.debug(
        "silhouette: %.1f%% of the %d pairs computed (k=%d)",
        100.0 * _pairs(own_tasks, cross_tasks) / max(n * (n - 1) / 2, 1),
        n * (n - 1) // 2,
        k,
    )
    return _finish(sums, need, own_codes, counts)


def _pairs(own_tasks, cross_tasks) -> float:
    """Pairs of rows the tiles compute (a diagonal tile counts half of its square)."""
    within = sum((r1 - r0) * (c1 - c0) / (2 if r0 == c0 else 1) for r0, r1, c0, c1, _ in own_tasks)
    return within + sum(len(rows) * len(cols) for rows, cols, *_ in cross_tasks)


def _blocks(start: int, stop: int, chunk: int) -> list[tuple[int, int]]:
    return [(s, min(s + chunk, stop)) for s in range(start, stop, chunk)]


def _tile_count(n: int, chunk: int) -> int:
    blocks = -(-n // chunk)
    return blocks * (blocks + 1) // 2


def _own_tasks(bounds, chunk) -> list[tuple[int, int, int, int, int]]:
    """(r0, r1, c0, c1, cluster) tiles covering each cluster's pairs once (c0 >= r0)."""
    tasks = []
    for c, (s, e) in enumerate(pairwise(bounds)):
        blocks = _blocks(int(s), int(e), chunk)
        for i, (r0, r1) in enumerate(blocks):
            tasks += [(r0, r1, c0, c1, c) for c0, c1 in blocks[i:]]
    return tasks


class _Reporter:
    """Counts finished tiles and calls progress(done, total)."""

    def __init__(self, progress, total):
        self.progress, self.total, self.done = progress, total, 0

    def step(self):
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)


class _Buffers:
    """One tile buffer per thread, reused (fresh 8 MiB arrays would page-fault every tile)."""

    def __init__(self, chunk: int):
        self.size, self.local = chunk * chunk, threading.local()

    def tile(self, rows: int, cols: int) -> np.ndarray:
        buffer = getattr(self.local, "buffer", None)
        if buffer is None:
            buffer = self.local.buffer = np.empty(self.size)
        return buffer[: rows * cols].reshape(rows, cols)


def _within_pass(Xs, tasks, k, chunk, threads, report):
    """Within-cluster distance sums (n,) (distance / sqrt 2, see _finish), computed as in the
    between pass, and per cluster an upper bound of the sum over its ordered pairs of the squared
    Gram entries (x_a . x_b)^2, (k,), for tr(Sigma^2)."""
    buffers = _Buffers(chunk)
    eps = np.finfo(np.float64).eps
    norms = np.einsum("ij,ij->i", Xs, Xs)
    half = 0.5 * norms

    def tile(task):
        r0, r1, c0, c1, _ = task
        gram = buffers.tile(r1 - r0, c1 - c0)
        np.dot(Xs[r0:r1], Xs[c0:c1].T, out=gram)
        squares = float(np.einsum("ij,ij->", gram, gram))
        # each entry is off by at most (d + 2) eps |x_a| |x_b|; sum |g| <= sqrt(size * squares)
        error = (Xs.shape[1] + 2) * eps * np.sqrt(norms[r0:r1].max() * norms[c0:c1].max())
        squares += 2 * error * np.sqrt(gram.size * squares) + gram.size * error * error
        np.subtract(half[r0:r1, None], gram, out=gram)
        gram += half[c0:c1]  # squared distance / 2
        np.maximum(gram, 0.0, out=gram)
        if c0 == r0:
            np.fill_diagonal(gram, 0.0)
        np.sqrt(gram, out=gram)
        rows = gram.sum(axis=1)
        cols = gram.sum(axis=0) if c0 != r0 else None
        return rows, cols, squares if c0 == r0 else 2 * squares

    within = np.zeros(len(Xs))
    squares = np.zeros(k)
    with thread_map(threads, len(tasks)) as mapper:
        for task, (rows, cols, sq) in zip(tasks, mapper(tile, tasks), strict=True):
            r0, r1, c0, c1, c = task
            within[r0:r1] += rows
            if cols is not None:
                within[c0:c1] += cols
            squares[c] += sq
            report.step()
    return within, squares


def _covariance_squares(Xs, bounds, means, gram_squares) -> np.ndarray:
    """Upper bounds of tr(Sigma_c^2), (k,), from the squared Gram entries of each cluster:
    with C = I - 1 1' / m centring, |C G C|_F^2 = |G|_F^2 - 2 m |s|^2 + m^2 |mean|^4, s = X mean."""
    out = np.empty(len(means))
    for c, (s, e) in enumerate(pairwise(bounds)):
        m = float(e - s)
        proj = Xs[s:e] @ means[c]
        nu = float(means[c] @ means[c])
        terms = (gram_squares[c], 2 * m * float(proj @ proj), m * m * nu * nu)
        rounding = 4 * (m * m + Xs.shape[1]) * np.finfo(np.float64).eps * sum(terms)
        value = terms[0] - terms[1] + terms[2] + rounding
        out[c] = max(value, 0.0) / (m * m)
    return out


@dataclass
class _Moments:
    """Per-cluster moments of the centred rows w = x - mean (k clusters, d features, rank r_c).

    sigma2, fourth: (k,) E |w|^2 and E |w|^4; skew: (k, d) E |w|^2 w; bases: k arrays (d, r_c),
    orthonormal; cores: k arrays (r_c, r_c) V' Sigma V;
    projected: (k,) |Sigma V|_F^2; leak: (k,) |Sigma V - V B|_F >= |Q Sigma V|_2, Q = I - V V'
    (zero when V spans eigenvectors).
    """

    sigma2: np.ndarray
    fourth: np.ndarray
    skew: np.ndarray
    bases: list
    cores: list
    projected: np.ndarray
    leak: np.ndarray


def moments_of(Xs, bounds, means) -> _Moments:
    """The clusters' moments and covariance bases (seeded: the same data gives the same bases)."""
    n, d = Xs.shape
    k = len(means)
    # rank: at most _RANK, the bases' projections well below the pairs' cost and within 64 MiB
    rank = int(max(1, min(_RANK, n // (8 * k), 2**23 // (d * k))))
    rng = np.random.default_rng(0)
    sigma2, fourth, projected, leak = np.zeros(k), np.zeros(k), np.zeros(k), np.zeros(k)
    skew = np.zeros((k, d))
    bases, cores = [], []
    for c, (s, e) in enumerate(pairwise(bounds)):
        W = Xs[s:e] - means[c]
        b = np.einsum("ij,ij->i", W, W)
        m = e - s
        sigma2[c], fourth[c] = b.mean(), (b * b).mean()
        skew[c] = (b @ W) / m
        r = min(rank, m - 1)
        V, B = np.zeros((d, 0)), np.zeros((0, 0))
        if r >= 1:
            V = _range_basis(W, r, rng)
            WV = W @ V
            B = (WV.T @ WV) / m
            sigma_v = (W.T @ WV) / m
            projected[c] = float(np.sum(sigma_v**2))
            leak[c] = float(np.linalg.norm(sigma_v - V @ B))
        bases.append(V)
        cores.append(B)
    return _Moments(sigma2, fourth, skew, bases, cores, projected, leak)


def mean_distance_bounds(Xs, bounds, means, moments: _Moments, total):
    """Rigorous bounds on the mean distance of each row to each cluster: lower, upper (n, k).

    total: (k,) upper bounds of tr(Sigma_c^2). Both ignore that a row's own cluster contains the
    row itself; that sum is always computed.
    The bound's algebra in one place, so each step can be checked against the next.
    """
    n, d = Xs.shape
    k = len(means)
    mo = moments
    cores = mo.cores
    core_squares = np.array([float(np.sum(B * B)) for B in cores])
    rest = total - 2.0 * mo.projected + core_squares  # |Q Sigma Q|_F^2, Q = I - V V'
    tail = np.sqrt(np.maximum(rest, 0.0) + 1e-10 * total)  # >= top eigenvalue of Q Sigma Q
    widths = [V.shape[1] for V in mo.bases]
    edges = np.concatenate([[0], np.cumsum(widths)]) + 2 * k
    # one product per row block: x . mean, x . skew and the coordinates on every basis
    columns = np.hstack([means.T, mo.skew.T, *mo.bases])
    offsets = np.concatenate(
        [
            np.einsum("ij,ij->i", means, means),
            np.einsum("ij,ij->i", means, mo.skew),
            *[means[c] @ mo.bases[c] for c in range(k)],
        ]
    )
    mean_norms = offsets[:k]
    lower, upper = np.empty((n, k)), np.empty((n, k))
    for start in range(0, n, _ROW_BLOCK):
        rows = slice(start, start + _ROW_BLOCK)
        X = Xs[rows]
        products = X @ columns
        norms = np.einsum("ij,ij->i", X, X)
        a = np.maximum(norms[:, None] - 2.0 * products[:, :k] + mean_norms, 0.0)  # |u|^2
        u_skew = products[:, k : 2 * k] - offsets[k : 2 * k]
        q = np.empty_like(a)  # >= E (u . w)^2 = u' Sigma u
        for c in range(k):
            p = products[:, edges[c] : edges[c + 1]] - offsets[edges[c] : edges[c + 1]]
            inside = np.maximum(np.einsum("ij,ij->i", p @ cores[c], p), 0.0)
            outside = np.maximum(a[:, c] - np.einsum("ij,ij->i", p, p), 0.0)
            # u' Sigma u = p'Bp + 2 p'V'Sigma Q u + u'Q Sigma Q u; bound the middle term two ways
            spread = tail[c] * outside
            triangle = 2 * np.sqrt(inside * spread)
            across = 2 * mo.leak[c] * np.sqrt(np.einsum("ij,ij->i", p, p) * outside)
            q[:, c] = inside + np.minimum(triangle, across) + spread
        ez = a + mo.sigma2
        ez2 = a * a + 2.0 * a * mo.sigma2 + mo.fourth + 4.0 * q - 4.0 * u_skew
        ez2 = np.maximum(ez2, ez * ez)
        upper[rows] = np.sqrt(ez)
        with np.errstate(divide="ignore", invalid="ignore"):
            holder = np.where(ez2 > 0, ez * np.sqrt(ez) / np.sqrt(ez2), 0.0)
        lower[rows] = np.maximum(np.sqrt(a), holder)
    return lower, upper


def needed_clusters(lower, upper, own_codes, slack: float) -> np.ndarray:
    """(n, k) bool: the sums each row needs, its own cluster and every cluster whose lower bound
    does not exceed the row's smallest upper bound over other clusters (with a rounding margin:
    relative _RELATIVE_MARGIN plus `slack`, the bounds' absolute rounding)."""
    rows = np.arange(len(lower))
    upper = upper.copy()
    upper[rows, own_codes] = np.inf
    cut = upper.min(axis=1, keepdims=True) * (1 + _RELATIVE_MARGIN) + slack
    need = lower <= cut
    need[rows, own_codes] = True
    return need


def _bounds_slack(Xs, means) -> float:
    """sqrt of the worst rounding of |u|^2 = |x|^2 - 2 x . m + |m|^2: the bounds' absolute error."""
    largest = float(np.einsum("ij,ij->i", Xs, Xs).max() + np.einsum("ij,ij->i", means, means).max())
    return float(np.sqrt(2 * (Xs.shape[1] + 2) * np.finfo(np.float64).eps * largest))


def _range_basis(W: np.ndarray, r: int, rng, iterations: int = 2) -> np.ndarray:
    """Orthonormal (d, r) basis close to W's top right singular vectors (subspace iteration)."""
    V = np.linalg.qr(W.T @ (W @ rng.standard_normal((W.shape[1], r))))[0]
    for _ in range(iterations - 1):
        V = np.linalg.qr(W.T @ (W @ V))[0]
    return V


def _cross_tasks(need, bounds, chunk) -> list[tuple[np.ndarray, np.ndarray, int, int, bool]]:
    """(rows, cols, row cluster, col cluster, sum columns too) rectangles covering, for A < C,
    the pairs i in A, j in C where i needs C or j needs A: all of C against the rows of A that
    need C, then the rows of C that need A against the rest of A."""
    tasks = []
    k = len(bounds) - 1
    for A in range(k):
        sA, eA = int(bounds[A]), int(bounds[A + 1])
        for C in range(A + 1, k):
            sC, eC = int(bounds[C]), int(bounds[C + 1])
            a_needs = np.flatnonzero(need[sA:eA, C]) + sA
            c_needs = np.flatnonzero(need[sC:eC, A]) + sC
            c_all = np.arange(sC, eC)
            for r in range(0, len(a_needs), chunk):
                for c in range(0, len(c_all), chunk):
                    tasks.append((a_needs[r : r + chunk], c_all[c : c + chunk], A, C, True))
            if len(c_needs):
                rest = np.setdiff1d(np.arange(sA, eA), a_needs, assume_unique=True)
                for r in range(0, len(c_needs), chunk):
                    for c in range(0, len(rest), chunk):
                        tasks.append((c_needs[r : r + chunk], rest[c : c + chunk], C, A, False))
    return tasks


def _between_pass(Xs, sums, tasks, chunk, threads, report) -> None:
    """Adds each task's distance sums (distance / sqrt 2) into sums (n, k), as scikit-learn's
    Gram trick computes them: |x|^2 / 2 + |y|^2 / 2 - x . y."""
    buffers = _Buffers(chunk)
    half = 0.5 * np.einsum("ij,ij->i", Xs, Xs)

    def tile(task):
        rows, cols, _, _, both = task
        gram = buffers.tile(len(rows), len(cols))
        left = Xs[rows]
        right = Xs[cols[0] : cols[-1] + 1] if cols[-1] - cols[0] + 1 == len(cols) else Xs[cols]
        np.dot(left, right.T, out=gram)
        np.subtract(half[rows, None], gram, out=gram)
        gram += half[cols]
        np.maximum(gram, 0.0, out=gram)
        np.sqrt(gram, out=gram)
        return gram.sum(axis=1), gram.sum(axis=0) if both else None

    with thread_map(threads, len(tasks)) as mapper:
        results = zip(tasks, mapper(tile, tasks), strict=True)
        for (rows, cols, A, C, _), (row_sums, col_sums) in results:
            sums[rows, C] += row_sums
            if col_sums is not None:
                sums[cols, A] += col_sums
            report.step()


def _finish(sums, need, own_codes, counts) -> np.ndarray:
    """Per-row silhouette from the needed distance sums (distance / sqrt 2), as scikit-learn."""
    rows = np.arange(len(sums))
    sums = sums * np.sqrt(2.0)
    intra = sums[rows, own_codes]
    means = np.where(need, sums / counts, np.inf)
    means[rows, own_codes] = np.inf
    inter = means.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        intra = intra / (counts[own_codes] - 1)
        sil = (inter - intra) / np.maximum(intra, inter)
    return np.nan_to_num(sil)  # singletons (0 / 0) score 0, as in scikit-learn
