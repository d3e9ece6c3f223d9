"""Lloyd's algorithm for `KMeans`, step for step as scikit-learn's, on centred data.

Inputs are valid: X centred, C-contiguous, float32 or float64; `run` comes from `row_workers`.
The E-step scores `x.c_j - |c_j|^2 / 2` one BLAS product per block of _BLOCK rows (scikit-learn's
chunk, so the calls and their rounding match), skips rows by Hamerly's bounds, and keeps the
per-cluster sums corrected for the rows whose label changed.
"""

import contextlib
import functools
import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController

# Rows per BLAS call: scikit-learn's CHUNK_SIZE, so that dense E-steps make the very same
# calls on the same rows (BLAS rounding depends on the call's shape).
_BLOCK = 256


@functools.cache
def _blas_controller():
    return ThreadpoolController()


@contextlib.contextmanager
def row_workers():
    """Yields `run(fn, n)`, which calls `fn(start, stop)` on one contiguous part of range(n)
    per thread, in parallel, while BLAS is limited to one thread.
    """
    controller = _blas_controller()
    blas_threads = [info["num_threads"] for info in controller.select(user_api="blas").info()]
    n_threads = max(1, min(max(blas_threads, default=1), os.cpu_count() or 1))
    with (
        controller.limit(limits=1, user_api="blas"),
        ThreadPoolExecutor(n_threads) as pool,
    ):

        def run(fn, n):
            if n_threads == 1 or n < 2 * _BLOCK:
                fn(0, n)
                return
            # Parts start on block boundaries, one key each for their sums (hence unique).
            edges = np.linspace(0, n, n_threads + 1).astype(int) // _BLOCK * _BLOCK
            edges = np.unique(np.append(edges[:-1], n))
            for future in [pool.submit(fn, a, b) for a, b in itertools.pairwise(edges)]:
                future.result()

        yield run


def _blocks(start, stop):
    for first in range(start, stop, _BLOCK):
        yield slice(first, min(first + _BLOCK, stop))


def centre(X, X_mean, run):
    """(X - X_mean, a float32 copy of that if X is float64 else the same array, its squared
    row norms as float64).
    """
    centred = np.empty_like(X)
    low = np.empty(X.shape, dtype=np.float32) if X.dtype == np.float64 else centred
    norms = np.empty(X.shape[0], dtype=X.dtype)

    def work(start, stop):
        for rows in _blocks(start, stop):
            np.subtract(X[rows], X_mean, out=centred[rows])
            np.einsum("ij,ij->i", centred[rows], centred[rows], out=norms[rows])
            if low is not centred:
                low[rows] = centred[rows]

    run(work, X.shape[0])
    return centred, low, norms.astype(np.float64)


def kmeans_plusplus(X, n_clusters, x_squared_norms, sample_weight, random_state, run):
    """Greedy k-means++ as scikit-learn (same random draws): each new centre is the best of
    2 + log(k) candidates drawn with probability ~ weight x squared distance to the closest
    centre so far.
    """
    n_samples = X.shape[0]
    n_local_trials = 2 + int(np.log(n_clusters))

    def sq_distances(ids):  # (n_samples, len(ids))
        out = np.empty((n_samples, len(ids)), dtype=X.dtype)
        candidates = X[ids]
        candidate_norms = x_squared_norms[ids].astype(X.dtype)

        def work(start, stop):
            for rows in _blocks(start, stop):
                block = np.matmul(X[rows], candidates.T, out=out[rows])
                block *= -2
                block += x_squared_norms[rows, None].astype(X.dtype)
                block += candidate_norms
                np.maximum(block, 0, out=block)

        run(work, n_samples)
        return out

    center_ids = [random_state.choice(n_samples, p=sample_weight / sample_weight.sum())]
    closest_dist_sq = sq_distances(center_ids)[:, 0]
    current_pot = closest_dist_sq @ sample_weight
    for _ in range(1, n_clusters):
        rand_vals = random_state.uniform(size=n_local_trials) * current_pot
        candidate_ids = np.searchsorted(np.cumsum(sample_weight * closest_dist_sq), rand_vals)
        np.clip(candidate_ids, None, n_samples - 1, out=candidate_ids)
        distances = sq_distances(candidate_ids)
        np.minimum(closest_dist_sq[:, None], distances, out=distances)
        candidates_pot = sample_weight @ distances
        best = np.argmin(candidates_pot)
        current_pot = candidates_pot[best]
        closest_dist_sq = distances[:, best].copy()
        center_ids.append(candidate_ids[best])
    return X[center_ids]


def _top2(scores, with_second=True):
    """(argmax, max, second largest or None) of each row of `scores` (which it overwrites);
    argmax is the lowest index among ties, as np.argmax. Column-wise: rows of ~10 are slow
    to reduce.
    """
    columns = scores.T
    top = columns[0].copy()
    for column in columns[1:]:
        np.maximum(top, column, out=top)
    best = np.argmax(scores == top[:, None], axis=1)
    if not with_second:
        return best, top, None
    np.put_along_axis(scores, best[:, None], -np.inf, axis=1)
    second = columns[0].copy()
    for column in columns[1:]:
        np.maximum(second, column, out=second)
    return best, top.astype(np.float64), second.astype(np.float64)


def _sq_distances_to_assigned(X, centers, labels, run):
    """Exact |x_i - c_labels[i]|^2 per sample (no Gram trick)."""
    out = np.empty(X.shape[0], dtype=X.dtype)

    def work(start, stop):
        for rows in _blocks(start, stop):
            diff = X[rows] - centers[labels[rows]]
            np.einsum("ij,ij->i", diff, diff, out=out[rows])

    run(work, X.shape[0])
    return out.astype(np.float64)


def _relocate_empty_clusters(X, sample_weight, centers_old, sums, weights, labels):
    """Move each empty cluster onto one of the samples farthest from their centre, as
    scikit-learn: the sample's weight leaves its cluster's sums; labels stay as they are.
    """
    empty = np.flatnonzero(weights == 0)
    # scikit-learn's very expression: argpartition's order among near-equal distances
    # decides which far sample goes to which empty cluster.
    distances = ((X - centers_old[labels]) ** 2).sum(axis=1)
    if distances.max() == 0:  # fewer distinct points than clusters: nothing to move
        return
    far = np.argpartition(distances, -len(empty))[: -len(empty) - 1 : -1]
    for new_id, far_id in zip(empty, far, strict=True):
        old_id, weight = labels[far_id], sample_weight[far_id]
        sums[old_id] -= X[far_id] * weight
        sums[new_id] = X[far_id] * weight
        weights[new_id] = weight
        weights[old_id] -= weight


def same_partition(labels, other):
    """Whether two labelings group the samples alike, up to renaming the clusters."""
    n_pairs = len(np.unique(labels * (other.max() + 1) + other))
    return n_pairs == len(np.unique(labels)) == len(np.unique(other))


def _part_sums(X, sample_weight, labels, n_clusters, start, stop):
    """Weighted per-cluster sums (float64) of the samples start..stop."""
    sums = np.zeros((n_clusters, X.shape[1]))
    for rows in _blocks(start, stop):
        onehot = np.zeros((n_clusters, rows.stop - rows.start), dtype=X.dtype)
        onehot[labels[rows], np.arange(rows.stop - rows.start)] = sample_weight[rows]
        sums += onehot @ X[rows]
    return sums


class _Lloyd:
    """One Lloyd run. `e_step` runs on contiguous parts of the samples in parallel; each part
    keeps its samples' labels, Hamerly bounds and per-cluster sums up to date.

    `upper[i]` bounds the distance from sample i to its centre from above, `lower[i]` the
    distance to every other centre from below. A score x.c - |c|^2/2 computed in precision
    eps (scikit-learn's or ours) is off by at most err / 2, err = (d + 4) eps (|x| + |c|)^2.
    Where `lower^2 - upper^2 > 4 err`, every other centre is farther by more than two such
    errors, so scikit-learn's E-step keeps the label: only the other samples are scored, with
    `X_low` (a float32 copy of a float64 X, else X itself). Where the two best float32 scores
    are within 2 (err_low + err), the sample is scored again in X's precision. Bounds come
    from the scores, widened by 3 err_low. Each margin is twice what the error bound needs.
    """

    def __init__(self, X, X_low, sample_weight, centers, x_norms, run):
        self.X, self.X_low, self.run = X, X_low, run
        self.sample_weight, self.x_norms = sample_weight, x_norms
        n_samples, self.n_clusters = X.shape[0], centers.shape[0]
        self.centers = np.array(centers, dtype=X.dtype, order="C")
        self.shift = np.zeros(self.n_clusters)  # of the centres since the bounds were set
        self.labels = np.full(n_samples, -1, dtype=np.intp)
        self.upper, self.lower = np.zeros(n_samples), np.zeros(n_samples)
        self.scores = np.empty((n_samples, self.n_clusters), dtype=X_low.dtype)
        self.sums = {}  # part start -> its per-cluster sums, for the current labels

    def e_step(self, refresh=True, update_sums=True):
        """Relabel (lowest index on ties, as scikit-learn); refresh the bounds of the scored
        samples or, if not `refresh`, reset them. Returns (labels changed, all scored).
        One pass over the row blocks, kept whole so the hot loop reads top to bottom."""
        X, X_low, centers, labels = self.X, self.X_low, self.centers, self.labels
        mixed = X_low is not X
        half_sq_norms = 0.5 * np.einsum("ij,ij->i", centers, centers)
        centers_low = centers.astype(X_low.dtype)
        half_sq_norms_low = 0.5 * np.einsum("ij,ij->i", centers_low, centers_low)
        c_max = np.sqrt(2.0 * half_sq_norms.max())
        n_features = X.shape[1]
        shift, self.shift = self.shift, np.zeros(self.n_clusters)
        moved, runner_up = np.argsort(shift)[::-1][:2]
        changes, all_scored = {}, []

        def work(start, stop):
            own = slice(start, stop)
            upper, lower, own_labels = self.upper[own], self.lower[own], labels[own]
            upper += shift[own_labels]  # Hamerly's update for the centres' moves
            lower -= np.where(own_labels == moved, shift[runner_up], shift[moved])
            np.maximum(lower, 0, out=lower)
            reach = self.x_norms[own] + c_max
            reach *= reach
            err = reach * ((n_features + 4) * np.finfo(X.dtype).eps)
            err_low = reach * ((n_features + 4) * np.finfo(X_low.dtype).eps) if mixed else err
            stale = np.flatnonzero(lower * lower - upper * upper <= 4 * err)
            dense = len(stale) > (stop - start) // 2  # then contiguous blocks beat gathering
            sel = slice(None) if dense else stale  # the part's samples to score
            scores = self.scores[start : start + (stop - start if dense else len(stale))]
            for block in _blocks(0, len(scores)):
                rows = (
                    slice(start + block.start, start + block.stop)
                    if dense
                    else start + stale[block]
                )
                np.matmul(X_low[rows], centers_low.T, out=scores[block])
            scores -= half_sq_norms_low
            best, top, second = _top2(scores, with_second=refresh or mixed)
            if mixed:
                unsure = np.flatnonzero(top - second <= 2 * (err_low[sel] + err[sel]))
                unsure = unsure if dense else stale[unsure]
                exact = X[start + unsure] @ centers.T
                exact -= half_sq_norms
                best_exact = np.argmax(exact, axis=1)
            old = own_labels[sel].copy()
            own_labels[sel] = best
            if mixed:
                own_labels[unsure] = best_exact
            if refresh:
                x_sq, widen = self.x_norms[own][sel] ** 2, 3 * err_low[sel]
                upper[sel] = np.sqrt(np.maximum(x_sq - 2 * top + widen, 0))
                lower[sel] = np.sqrt(np.maximum(x_sq - 2 * second - widen, 0))
                if mixed:
                    lower[unsure] = 0  # labelled by other scores: rescore next time
            else:
                lower[sel] = 0
            changed = np.flatnonzero(own_labels[sel] != old)
            if update_sums:
                self._update_sums(start, stop, changed if dense else stale[changed], old[changed])
            changes[start] = len(changed)
            all_scored.append(dense)

        self.run(work, len(labels))
        return sum(changes.values()), all(all_scored)

    def _update_sums(self, start, stop, changed, old):
        """Correct the part's sums for its samples start + `changed` (previously labelled
        `old`), or recount them when many changed."""
        X, labels, weight = self.X, self.labels, self.sample_weight
        if start not in self.sums or len(changed) > (stop - start) // 4:
            self.sums[start] = _part_sums(X, weight, labels, self.n_clusters, start, stop)
        elif len(changed):
            ids = start + changed
            w = weight[ids].astype(np.float64)
            delta = np.zeros((self.n_clusters, len(ids)))
            cols = np.arange(len(ids))
            delta[labels[ids], cols] = w
            delta[old, cols] = -w
            self.sums[start] += delta @ X[ids]

    def m_step(self):
        """New centres from the sums; returns the summed squared shift."""
        X, labels = self.X, self.labels
        sums = sum(self.sums[start] for start in sorted(self.sums))  # fixed order
        weights = np.bincount(labels, weights=self.sample_weight, minlength=self.n_clusters)
        if (weights == 0).any():
            _relocate_empty_clusters(X, self.sample_weight, self.centers, sums, weights, labels)
        nonempty = weights > 0
        sums[nonempty] *= (1.0 / weights[nonempty]).astype(X.dtype)[:, None]
        # Still empty only when X has fewer distinct points than clusters.
        sums[~nonempty] = sums[np.argmax(weights)]
        centers = sums.astype(X.dtype)
        shift = np.sqrt(np.sum((centers - self.centers.astype(np.float64)) ** 2, axis=1))
        self.shift += shift
        self.centers = centers
        return float(np.sum(shift**2))


def lloyd(X, X_low, sample_weight, centers_init, max_iter, tol, x_norms, run):
    """One run from `centers_init`: (labels, inertia, centers, n_iter), with scikit-learn's
    semantics: stop when no label changes (strict convergence) or when the summed squared
    centre shift is <= tol; otherwise relabel with the final centres.
    """
    state = _Lloyd(X, X_low, sample_weight, centers_init, x_norms, run)
    all_scored = False
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is returned)
        # Bounds cost ~10% of an E-step that scores every sample: while E-steps stay that
        # way, refresh them every third iteration only, to see whether they start to pay.
        n_changed, all_scored = state.e_step(refresh=not all_scored or n_iter % 3 == 1)
        center_shift_tot = state.m_step()
        if n_changed == 0:  # strict convergence
            break
        if center_shift_tot <= tol:
            state.e_step(refresh=False, update_sums=False)
            break
    else:
        state.e_step(refresh=False, update_sums=False)
    labels, centers = state.labels, state.centers
    inertia = _sq_distances_to_assigned(X, centers, labels, run) @ sample_weight
    return labels, inertia, centers, n_iter
