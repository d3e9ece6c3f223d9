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

This module is the estimator and its checks; the iterations are in `clustering.clusterers.lloyd`.
"""

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from clustering.checks import check_int
from clustering.clusterers.base import CLUSTERERS, Clusterer
from clustering.clusterers.lloyd import centre, kmeans_plusplus, lloyd, row_workers, same_partition
from clustering.errors import BenchError
from clustering.space import Space

INITS = ("random", "k-means++")


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

    # scikit-learn's KMeans: k-means++ seeding, the best of 10 starts
    presets = {"sklearn": {"init": "k-means++", "n_init": 10}}

    @classmethod
    def declare(cls, space: Space, n_clusters: int) -> dict:
        return {
            "n_clusters": n_clusters,
            "init": space.categorical("init", list(INITS), default="random"),
            "n_init": space.int("n_init", 1, 10, default=1),
            "max_iter": space.int("max_iter", 50, 500, log=True, default=300),
        }

    def fit(self, X, y=None, sample_weight=None):
        """Cluster X (n_samples, n_features); float32 stays float32. Returns self.

        `sample_weight` (n_samples,) weighs the samples in the centres and the inertia, and in
        the "random" and "k-means++" draws (not in an explicit `init`).
        Validation, the n_init restarts and the fitted state in the order scikit-learn's fit has
        them.
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

        with row_workers() as run:
            # Centring makes |c|^2 - 2 x.c lose far fewer digits (scikit-learn does the same).
            X_mean = X.mean(axis=0)  # its finiteness checks X's in passing
            if not np.isfinite(X_mean).all():
                _check_finite(X, "X")
            X, X_low, x_squared_norms = centre(X, X_mean, run)
            if isinstance(init, np.ndarray):
                init = init - X_mean
            # np.var(X, axis=0).mean(), from the centred norms
            tol = float(x_squared_norms.sum() / X.size) * self.tol

            best = None
            for _ in range(n_init):
                if isinstance(init, np.ndarray):
                    centers = init
                elif init == "k-means++":
                    centers = kmeans_plusplus(
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
                result = lloyd(
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
                if best is None or (result[1] < best[1] and not same_partition(result[0], best[0])):
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


def check_n_clusters(n_clusters, n_samples):
    """BenchError unless n_clusters is an integer in 2..n_samples (shared by the clusterers)."""
    check_int(n_clusters, "n_clusters")
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
    check_int(est.n_init, "n_init", low=1)
    check_int(est.max_iter, "max_iter", low=1)
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
