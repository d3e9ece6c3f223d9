"""Blocked Euclidean distance kernels for the internal metrics: memory chunk x chunk, never n x n.

Rows are first sorted by cluster, so every cluster is one contiguous range and a tile (row block i,
column block j) meets the clusters in a few rectangles. Each unordered tile pair is computed once
(j >= i) and serves both row sets. Squared distances use the Gram trick |x|^2 + |y|^2 - 2 x.y with
one BLAS call per tile, in the same order as scikit-learn's `euclidean_distances`, so silhouette
sums match scikit-learn; Dunn's extreme pairs are recomputed exactly from their two rows. Tiles run
on as many threads as BLAS would use, each with single-threaded BLAS, and are merged in order.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from threadpoolctl import ThreadpoolController

logger = logging.getLogger(__name__)

_TILE_BYTES = 8 * 2**20  # one default tile (chunk x chunk float64), cache friendly
_ALL_TILES_BYTES = 64 * 2**20  # the tiles of all threads together
_ACCUMULATOR_BYTES = 256 * 2**20  # above this the (n, k) silhouette sums are kept per row block
_MAX_CANDIDATES = 4096  # near-tie pairs kept for the exact recomputation of a Dunn extreme

Progress = Callable[[int, int], object]


@dataclass(frozen=True)
class ScanResult:
    """What one blocked pass over all pairs found.

    silhouette: (n,) silhouette coefficient of each row in sorted order, or None.
    min_between: smallest distance between two points of different clusters (exact), or None.
    max_within: largest distance between two points of the same cluster (exact), or None.
    """

    silhouette: np.ndarray | None
    min_between: float | None
    max_within: float | None


def n_threads() -> int:
    """Tile threads: as many as the BLAS library would use (so OMP_NUM_THREADS etc. apply)."""
    counts = [info["num_threads"] for info in _blas().info()]
    return max(1, max(counts, default=1))


@functools.cache
def _blas():
    """The BLAS libraries' thread controls, found once (a fresh search costs milliseconds)."""
    return ThreadpoolController().select(user_api="blas")


def default_chunk_size(n_samples: int, threads: int = 1) -> int:
    """Rows per block: one float64 tile <= 8 MiB, and all threads' tiles <= 64 MiB."""
    budget = min(_TILE_BYTES, _ALL_TILES_BYTES // max(1, threads))
    return int(max(1, min(n_samples, int(np.sqrt(budget / 8)))))


def sort_by_label(X: np.ndarray, codes: np.ndarray, n_clusters: int):
    """Rows sorted by cluster code, without constant columns (they add nothing to any distance).

    Returns Xs (n, d') float64 and bounds (k + 1,): cluster c holds rows bounds[c]:bounds[c + 1].
    """
    order = np.argsort(codes, kind="stable")
    varying = np.ptp(X, axis=0) > 0
    varying[0] |= not varying.any()
    every = varying.all()
    Xs = np.empty((len(X), np.count_nonzero(varying)))
    for start in range(0, len(X), 512):  # row blocks: cache-sized, no (n, d) temporary
        rows = X[order[start : start + 512]]
        Xs[start : start + len(rows)] = rows if every else rows.compress(varying, axis=1)
    bounds = np.zeros(n_clusters + 1, dtype=np.int64)
    np.cumsum(np.bincount(codes, minlength=n_clusters), out=bounds[1:])
    return Xs, bounds


def scan(
    Xs: np.ndarray,
    bounds: np.ndarray,
    *,
    silhouette: bool,
    dunn: bool,
    chunk_size: int | None = None,
    progress: Progress | None = None,
) -> ScanResult:
    """One blocked pass over all pairs of rows of Xs (n, d) float64, sorted so that cluster c
    holds rows bounds[c]:bounds[c + 1]. Computes the per-row silhouette and/or Dunn's extremes.

    The silhouette needs every distance to float64 accuracy, so its tiles are float64 (Dunn's
    extremes ride along). Dunn alone only needs the extreme pairs: float32 tiles of the centred data
    (twice as fast) screen the candidates within the float32 error band, which are then measured
    exactly; if ties flood that band the pass is repeated in float64 (progress restarts then).
    """
    threads = n_threads()
    n = len(Xs)
    chunk = default_chunk_size(n, threads) if chunk_size is None else min(int(chunk_size), n)
    if not silhouette and dunn:
        centred, mean = np.empty(Xs.shape, dtype=np.float32), Xs.mean(axis=0)
        for start in range(0, n, 4096):  # (x - mean) in float64, rounded once; no (n, d) temp
            rows = slice(start, start + 4096)
            np.subtract(Xs[rows], mean, out=centred[rows], casting="same_kind")
        if np.isfinite(np.einsum("ij,ij->i", centred, centred, dtype=np.float64)).all():
            result = _pass(Xs, centred, bounds, False, True, chunk, threads, progress)
            if result is not None:
                return result
            logger.debug("dunn: float32 screening flooded with near-ties; redoing in float64")
    return _pass(Xs, Xs, bounds, silhouette, dunn, chunk, threads, progress)


def _pass(Xs, Xt, bounds, silhouette, dunn, chunk, threads, progress) -> ScanResult | None:
    """All tiles of Xt (Xs itself, or a centred float32 copy for Dunn screening); None when float32
    screening had to drop near-ties, so the exact extreme is not certain.
    The tile loop and its per-tile bookkeeping in one place: the kernel's hot path."""
    n = len(Xt)
    counts = np.diff(bounds)
    k = len(counts)
    # Symmetric mode keeps (n, k) sums; with very many clusters each row block is done on its own.
    symmetric = not silhouette or n * k * 8 <= _ACCUMULATOR_BYTES
    low, high = _extremes(Xt) if dunn else (None, None)
    work = _Tiles(Xt, bounds, chunk, silhouette, symmetric, low, high)
    n_blocks = len(work.blocks)
    tiles = [(i, j) for i in range(n_blocks) for j in range(i if symmetric else 0, n_blocks)]
    sums = np.zeros((n, k)) if silhouette and symmetric else None
    sil = np.empty(n) if silhouette else None
    acc, current = None, -1

    def finish(i):  # rows of block i have all their sums once row i's tiles are merged
        r0, r1 = work.blocks[i]
        sil[r0:r1] = _finish_silhouette(acc * np.sqrt(2.0), bounds, counts, r0, r1)

    with thread_map(threads, len(tiles)) as mapper:
        results = mapper(work, tiles)  # in order, whatever thread computed them
        for done, (i, j) in enumerate(tiles, start=1):
            row_sums, col_sums, found = next(results)
            for extreme, candidates in found:
                extreme.add(candidates)
            if silhouette:
                if i != current:
                    if current >= 0:
                        finish(current)
                    r0, r1 = work.blocks[i]
                    acc, current = sums[r0:r1] if symmetric else np.zeros((r1 - r0, k)), i
                acc[:, work.segments[j][0]] += row_sums
                if col_sums is not None:
                    c0, c1 = work.blocks[j]
                    sums[c0:c1, work.segments[i][0]] += col_sums.T
            if progress is not None:
                progress(done, len(tiles))
    if silhouette:
        finish(current)
    logger.debug("scanned n=%d k=%d: %d %s tiles of %d rows", n, k, len(tiles), Xt.dtype, chunk)
    return _scan_result(Xs, Xt, sil, low, high)


def _extremes(Xt: np.ndarray) -> tuple[_Extreme, _Extreme]:
    """The smallest-between and largest-within trackers of a Dunn scan of Xt (n, d). Twice the
    worst-case rounding of a Gram-trick value (x rounding, dot product, sums): any pair within
    `band` of the extreme tile value may be the exact extreme."""
    slack = 2 if Xt.dtype == np.float64 else 16
    largest = 0.5 * float(np.einsum("ij,ij->i", Xt, Xt, dtype=np.float64).max())
    band = 8.0 * (Xt.shape[1] + slack) * float(np.finfo(Xt.dtype).eps) * largest
    return _Extreme(+1, band), _Extreme(-1, band)


def _scan_result(Xs, Xt, sil, low, high) -> ScanResult | None:
    """The scan's result (Dunn's extremes exact in Xs when tracked, i.e. `low` not None); None
    when a float32 screen dropped near-ties."""
    if low is None:
        return ScanResult(silhouette=sil, min_between=None, max_within=None)
    if Xt.dtype != np.float64 and (low.truncated or high.truncated):
        return None
    return ScanResult(silhouette=sil, min_between=low.exact(Xs), max_within=high.exact(Xs))


@contextmanager
def thread_map(threads: int, n_tasks: int):
    """`map` over tiles: plain, or on a thread pool with single-threaded BLAS in each thread."""
    if threads <= 1 or n_tasks <= 1:
        yield map
        return
    pool = ThreadPoolExecutor(threads, thread_name_prefix="metrics-tile")
    try:
        with _blas().limit(limits=1):
            yield pool.map
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Tiles:
    """Computes one tile (i, j) and its small reductions; called from several threads at once."""

    def __init__(self, Xt, bounds, chunk, silhouette, symmetric, low, high):
        n = len(Xt)
        self.Xt, self.chunk = Xt, chunk
        self.half_norms = (0.5 * np.einsum("ij,ij->i", Xt, Xt, dtype=np.float64)).astype(Xt.dtype)
        self.blocks = [(s, min(s + chunk, n)) for s in range(0, n, chunk)]
        self.segments = [_segments(bounds, s, e) for s, e in self.blocks]
        self.silhouette, self.symmetric = silhouette, symmetric
        self.low, self.high = low, high
        self.local = threading.local()  # one tile buffer per thread

    def __call__(self, ij):
        """(row_sums (b_i, m_j) | None, col_sums (m_i, b_j) | None, [(extreme, candidates)])."""
        i, j = ij
        (r0, r1), (c0, c1) = self.blocks[i], self.blocks[j]
        buffer = getattr(self.local, "buffer", None)
        if buffer is None:
            buffer = self.local.buffer = np.empty(self.chunk * self.chunk, dtype=self.Xt.dtype)
        tile = buffer[: (r1 - r0) * (c1 - c0)].reshape(r1 - r0, c1 - c0)
        np.dot(self.Xt[r0:r1], self.Xt[c0:c1].T, out=tile)
        np.subtract(self.half_norms[r0:r1, None], tile, out=tile)
        tile += self.half_norms[c0:c1]  # squared distance / 2, in sklearn's order of sums
        found = []
        if self.low is not None and j >= i:
            found = _dunn_tile(
                tile, self.segments[i], self.segments[j], (r0, c0), self.low, self.high
            )
        if not self.silhouette:
            return None, None, found
        np.maximum(tile, 0.0, out=tile)
        if i == j:
            np.fill_diagonal(tile, 0.0)
        np.sqrt(tile, out=tile)  # distance / sqrt(2); the sums are rescaled when finished
        row_sums = np.add.reduceat(tile, self.segments[j][1][:-1], axis=1)
        col_sums = None
        if self.symmetric and j > i:
            offs = self.segments[i][1]
            col_sums = np.stack([np.add.reduce(tile[a:b], axis=0) for a, b in pairwise(offs)])
        return row_sums, col_sums, found


def _segments(bounds: np.ndarray, start: int, stop: int):
    """Clusters meeting rows start:stop: ids (m,) and local offsets (m + 1,), 0 to stop - start."""
    first = int(np.searchsorted(bounds, start, side="right")) - 1
    last = int(np.searchsorted(bounds, stop, side="left")) - 1
    ids = np.arange(first, last + 1)
    offs = np.clip(bounds[first : last + 2], start, stop) - start
    return ids, offs


def _finish_silhouette(acc, bounds, counts, r0, r1) -> np.ndarray:
    """Per-row silhouette from per-cluster distance sums acc (b, k) of rows r0:r1, as sklearn."""
    own = np.searchsorted(bounds, np.arange(r0, r1), side="right") - 1
    rows = np.arange(r1 - r0)
    intra = acc[rows, own]
    acc[rows, own] = np.inf
    inter = (acc / counts).min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        intra = intra / (counts[own] - 1)
        sil = (inter - intra) / np.maximum(intra, inter)
    return np.nan_to_num(sil)  # singletons (0 / 0) score 0, as in scikit-learn


def _dunn_tile(tile, row_seg, col_seg, origin, low, high) -> list:
    """Candidates of the between-cluster (low) and within-cluster (high) rectangles of a tile."""
    (r0, c0), (row_ids, row_offs), (col_ids, col_offs) = origin, row_seg, col_seg
    parts = []
    if r0 == c0:  # diagonal tile, symmetric: its upper part suffices for the between minimum
        for a, b in pairwise(row_offs):
            parts += [(high, tile[a:b, a:b], r0 + a, c0 + a), (low, tile[a:b, b:], r0 + a, c0 + b)]
    elif row_ids[-1] == col_ids[0]:  # one cluster spans the gap between the two blocks
        a, b = row_offs[-2], col_offs[1]
        parts += [(high, tile[a:, :b], r0 + a, c0), (low, tile[:a], r0, c0)]
        parts += [(low, tile[a:, b:], r0 + a, c0 + b)]
    else:
        parts += [(low, tile, r0, c0)]
    found = []
    for extreme, rect, row, col in parts:
        candidates = extreme.screen(rect, row, col)
        if candidates is not None:
            found.append((extreme, candidates))
    return found


class _Extreme:
    """Running minimum (sign +1) or maximum (sign -1) of Gram-trick values over tiles, with every
    pair whose value lies within `band` (the worst-case Gram rounding) of it, so that the true
    extreme is among the candidates that `exact` recomputes directly from the rows. `screen` runs
    in tile threads and only reads `best`; `add` runs in the merging thread."""

    def __init__(self, sign: int, band: float):
        self.sign, self.band = sign, band
        self.best = np.inf  # of sign * value
        self.cut = np.inf  # smallest signed value ever dropped to respect _MAX_CANDIDATES
        self.rows, self.cols, self.vals = [], [], []
        self.count = 0

    def screen(self, rect: np.ndarray, r0: int, c0: int):
        """(best, rows, cols, signed values, cut) of the pairs of rect near the extreme, or None."""
        if rect.size == 0:
            return None
        best = self.best
        signed = self.sign * float(rect.min() if self.sign > 0 else rect.max())
        if signed > best + self.band:
            return None
        limit = min(best, signed) + self.band
        rows, cols = np.nonzero(rect <= limit if self.sign > 0 else rect >= -limit)
        vals = self.sign * rect[rows, cols].astype(np.float64)
        rows, cols, vals, cut = _most_extreme(rows + r0, cols + c0, vals)
        return signed, rows, cols, vals, cut

    def add(self, candidates) -> None:
        best, rows, cols, vals, cut = candidates
        self.best, self.cut = min(self.best, best), min(self.cut, cut)
        self.rows.append(rows)
        self.cols.append(cols)
        self.vals.append(vals)
        self.count += len(rows)
        if self.count > _MAX_CANDIDATES:
            self._prune()

    def _prune(self) -> None:
        rows, cols, vals = (np.concatenate(x) for x in (self.rows, self.cols, self.vals))
        keep = vals <= self.best + self.band
        rows, cols, vals, cut = _most_extreme(rows[keep], cols[keep], vals[keep])
        self.rows, self.cols, self.vals, self.cut = [rows], [cols], [vals], min(self.cut, cut)
        self.count = len(rows)

    @property
    def truncated(self) -> bool:
        """Whether a dropped pair may still be the exact extreme."""
        return self.cut <= self.best + self.band

    def exact(self, Xs: np.ndarray) -> float | None:
        """Exact Euclidean distance of the extreme pair, or None when no pair was seen."""
        if not self.count:
            return None
        self._prune()
        diff = Xs[self.rows[0]] - Xs[self.cols[0]]
        dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        return float(dist.min() if self.sign > 0 else dist.max())


def _most_extreme(rows, cols, vals):
    """At most _MAX_CANDIDATES pairs with the smallest signed values, and the smallest dropped."""
    if len(vals) <= _MAX_CANDIDATES:
        return rows, cols, vals, np.inf
    order = np.argpartition(vals, _MAX_CANDIDATES)
    keep = order[:_MAX_CANDIDATES]
    return rows[keep], cols[keep], vals[keep], float(vals[order[_MAX_CANDIDATES]])
