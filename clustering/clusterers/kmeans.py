"""K-means from scratch in NumPy: Lloyd's algorithm, step for step as scikit-learn's.

`KMeans` does what `sklearn.cluster.KMeans(algorithm="lloyd")` does (centred data, the same
E-step arithmetic, the same empty-cluster relocation, the same stopping rules, `n_iter_` and
final relabelling), so from the same initial centres it returns the same labels and iteration
count, and the same inertia up to rounding. Three things make it fast without compiled code:

- E-step: `argmax_j x.c_j - |c_j|^2 / 2` (halving scikit-learn's `|c|^2 - 2 x.c` is exact), one
  BLAS product per block of rows. Hamerly's bounds skip the rows whose label provably cannot
  change, with a margin wider than the scores' rounding error, so skipping never changes a label.
- M-step: the per-cluster sums are kept and corrected for the rows whose label changed.
- Blocks of rows run on one thread per core (NumPy releases the GIL) with BLAS single-threaded,
  as scikit-learn does with OpenMP.
"""

import contextlib
import functools
import itertools
import numbers
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import ThreadpoolController

from clustering.clusterers.base import CLUSTERERS, Clusterer
from clustering.errors import BenchError

INITS = ("random", "k-means++")
# Rows per BLAS call: scikit-learn's CHUNK_SIZE, so that dense E-steps make the very same
# calls on the same rows (BLAS rounding depends on the call's shape).
_BLOCK = 256


@CLUSTERERS.register("kmeans")
class KMeans(Clusterer, ClusterMixin, BaseEstimator):
    """K-means clustering (Lloyd's algorithm), written in NumPy.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters, 2 <= n_clusters <= n_samples.
    init : {"random", "k-means++"} or array of shape (n_clusters, n_features), default="random"
        "random" picks `n_clusters` distinct samples (the original experiments); "k-means++" is
        scikit-learn's greedy k-means++ (2 + log(k) local trials); an array is used as is and
        forces `n_init=1`.
    n_init : int, default=1
        Number of initialisations; the run with the lowest inertia is kept.
    max_iter : int, default=300
        Maximum number of Lloyd iterations per run.
    tol : float, default=1e-4
        Stop when the summed squared centre shift is at most `tol` times the mean per-feature
        variance of X. Runs also stop as soon as no label changes.
    random_state : int, RandomState instance or None, default=None
        Seed for the initialisation; "random" and "k-means++" draw the same centres as
        scikit-learn's KMeans given the same seed.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features), dtype of X
    labels_ : ndarray of shape (n_samples,), int32
    inertia_ : float
        Sum of (weighted) squared distances of the samples to their centre.
    n_iter_ : int
        Iterations of the kept run.
    n_features_in_ : int
    """

    def __init__(
        self,
        n_clusters=8,
        *,
        init="random",
        n_init=1,
        max_iter=300,
        tol=1e-4,
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    @classmethod
    def search_space(cls, trial, n_clusters: int) -> dict:
        return {
            "n_clusters": n_clusters,
            "init": trial.suggest_categorical("kmeans.init", list(INITS)),
            "n_init": trial.suggest_int("kmeans.n_init", 1, 10),
            "max_iter": trial.suggest_int("kmeans.max_iter", 50, 500, log=True),
        }

    @classmethod
    def default_params(cls) -> dict:
        return {"kmeans.init": "random", "kmeans.n_init": 1, "kmeans.max_iter": 300}

    def fit(self, X, y=None, sample_weight=None):
        """Cluster X (n_samples, n_features); float32 stays float32. Returns self.

        `sample_weight` (n_samples,) weighs the samples in the centres and the inertia, and in
        the "random" and "k-means++" draws (not in an explicit `init`).
        """
        X = validate_data(
            self, X, dtype=[np.float64, np.float32], order="C", ensure_all_finite=False
        )
        n_samples = X.shape[0]
        _check_params(self, n_samples)
        sample_weight = _check_sample_weight(sample_weight, X)
        init, n_init = self.init, self.n_init
        if not isinstance(init, str):
            init, n_init = _check_init_array(init, X, self.n_clusters), 1
        random_state = check_random_state(self.random_state)

        with _row_workers() as run:
            # Centring makes |c|^2 - 2 x.c lose far fewer digits (scikit-learn does the same).
            X_mean = X.mean(axis=0)  # its finiteness checks X's in passing
            if not np.isfinite(X_mean).all():
                _check_finite(X, "X")
            X, X_low, x_squared_norms = _centre(X, X_mean, run)
            if isinstance(init, np.ndarray):
                init = init - X_mean
            # np.var(X, axis=0).mean(), from the centred norms
            tol = float(x_squared_norms.sum() / X.size) * self.tol

            best = None
            for _ in range(n_init):
                if isinstance(init, np.ndarray):
                    centers = init
                elif init == "k-means++":
                    centers = _kmeans_plusplus(
                        X, self.n_clusters, x_squared_norms, sample_weight, random_state, run
                    )
                else:
                    seeds = random_state.choice(
                        n_samples,
                        size=self.n_clusters,
                        replace=False,
                        p=sample_weight / sample_weight.sum(),
                    )
                    centers = X[seeds]
                result = _lloyd(
                    X,
                    X_low,
                    sample_weight,
                    centers,
                    self.max_iter,
                    tol,
                    np.sqrt(x_squared_norms),
                    run,
                )
                # As scikit-learn: a lower inertia from the same partition is only rounding.
                if best is None or (
                    result[1] < best[1] and not _same_partition(result[0], best[0])
                ):
                    best = result
        labels, inertia, centers, n_iter = best

        n_distinct = np.count_nonzero(np.bincount(labels, minlength=self.n_clusters))
        if n_distinct < self.n_clusters:
            warnings.warn(
                f"KMeans found {n_distinct} distinct clusters, fewer than "
                f"n_clusters={self.n_clusters}; X probably has duplicate points",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.cluster_centers_ = centers + X_mean
        self.labels_ = labels.astype(np.int32)
        self.inertia_ = float(inertia)
        self.n_iter_ = n_iter
        return self

    def predict(self, X):
        """Index of the closest centre for each row of X (int32)."""
        check_is_fitted(self)
        X = validate_data(
            self, X, dtype=[np.float64, np.float32], reset=False, ensure_all_finite=False
        )
        _check_finite(X, "X")
        dtype = np.result_type(X, self.cluster_centers_)
        centers = self.cluster_centers_.astype(dtype)
        scores = X.astype(dtype, copy=False) @ centers.T
        scores -= 0.5 * np.einsum("ij,ij->i", centers, centers)
        return np.argmax(scores, axis=1).astype(np.int32)


# ---------------------------------------------------------------------------------------------
# Validation


def _check_finite(X, name):
    if not np.isfinite(X).all():
        raise BenchError(f"{name} contains NaN or inf values; impute or drop them first")


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BenchError(f"{name}={value!r} must be an integer >= {low}")
    if value < low:
        raise BenchError(f"{name}={value} is out of range; choose an integer >= {low}")


def check_n_clusters(n_clusters, n_samples):
    """BenchError unless n_clusters is an integer in 2..n_samples (shared by the clusterers)."""
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, numbers.Integral):
        raise BenchError(f"n_clusters={n_clusters!r} must be an integer >= 2")
    if n_samples < 2:
        raise BenchError(f"clustering needs at least 2 samples, got n_samples={n_samples}")
    if not 2 <= n_clusters <= n_samples:
        reason = "is larger than" if n_clusters > n_samples else "is too small for"
        raise BenchError(
            f"n_clusters={n_clusters} {reason} the number of samples ({n_samples}); "
            f"choose 2..{n_samples}"
        )


def _check_params(est, n_samples):
    check_n_clusters(est.n_clusters, n_samples)
    if isinstance(est.init, str) and est.init not in INITS:
        raise BenchError(
            f"init={est.init!r} is not supported; choose 'random', 'k-means++' or an array "
            "of shape (n_clusters, n_features)"
        )
    _check_int("n_init", est.n_init, 1)
    _check_int("max_iter", est.max_iter, 1)
    tol = est.tol
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not 0 <= tol < np.inf:
        raise BenchError(f"tol={tol!r} must be a finite number >= 0")


def _check_init_array(init, X, n_clusters):
    try:
        init = np.array(init, dtype=X.dtype, order="C")
    except (TypeError, ValueError):
        raise BenchError(
            f"init={init!r} is not supported; choose 'random', 'k-means++' or an array "
            "of shape (n_clusters, n_features)"
        ) from None
    expected = (n_clusters, X.shape[1])
    if init.shape != expected:
        raise BenchError(
            f"init has shape {init.shape}; expected (n_clusters, n_features) = {expected}"
        )
    _check_finite(init, "init")
    return init


def _check_sample_weight(sample_weight, X):
    n_samples = X.shape[0]
    if sample_weight is None:
        return np.ones(n_samples, dtype=X.dtype)
    sample_weight = np.asarray(sample_weight, dtype=X.dtype)
    if sample_weight.ndim == 0:
        sample_weight = np.full(n_samples, sample_weight, dtype=X.dtype)
    if sample_weight.shape != (n_samples,):
        raise BenchError(f"sample_weight has shape {sample_weight.shape}; expected ({n_samples},)")
    if not np.isfinite(sample_weight).all() or (sample_weight < 0).any():
        raise BenchError("sample_weight must be finite and >= 0")
    if not sample_weight.sum() > 0:
        raise BenchError("sample_weight is zero everywhere; give some samples a positive weight")
    return sample_weight


# ---------------------------------------------------------------------------------------------
# Core (inputs valid; X centred, C-contiguous, float32 or float64; `run` from _row_workers)


@functools.cache
def _blas_controller():
    return ThreadpoolController()


@contextlib.contextmanager
def _row_workers():
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


def _centre(X, X_mean, run):
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


def _kmeans_plusplus(X, n_clusters, x_squared_norms, sample_weight, random_state, run):
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


def _same_partition(labels, other):
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
        samples or, if not `refresh`, reset them. Returns (labels changed, all scored)."""
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


def _lloyd(X, X_low, sample_weight, centers_init, max_iter, tol, x_norms, run):
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
