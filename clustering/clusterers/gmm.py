"""`gmm`: a Gaussian mixture (scikit-learn's `GaussianMixture`) behind the clusterer contract."""

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from sklearn.utils.validation import check_is_fitted, validate_data

from clustering.clusterers.base import CLUSTERERS, Clusterer
from clustering.clusterers.kmeans import check_n_clusters
from clustering.space import Space

FULL_MAX_FEATURES = 50  # "auto": full covariances up to this many features, diagonal above
# the best likelihood of 5 EM starts: from one start, UMAP-embedded MNIST lost a digit to a
# merged component in most seeds (0.81 Hungarian accuracy against 0.86)
DEFAULT_N_INIT = 5


@CLUSTERERS.register("gmm")
class GaussianMixture(Clusterer, ClusterMixin, BaseEstimator):
    """Expectation-maximisation of a mixture of `n_clusters` Gaussians; each sample's label is
    its most probable component.

    Parameters are scikit-learn's (`covariance_type`, `n_init`, `reg_covar`, `max_iter`, `tol`,
    `init_params`, `random_state`); the defaults are its own, except `n_init` (DEFAULT_N_INIT
    starts, the most likely kept) and `covariance_type="auto"`:
    "full" (N2D's choice, on a few UMAP dimensions) up to FULL_MAX_FEATURES features, "diag"
    above, where a full covariance costs n * k * d^2 per iteration (minutes on 784 pixels) and
    is singular from fewer samples than d. The type used is `covariance_type_`. The fitted
    mixture is `mixture_`.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,), int32
    cluster_centers_ : ndarray of shape (n_clusters, n_features), the component means
    inertia_ : float
        Sum of squared Euclidean distances of the samples to the mean of their component, as
        K-means defines it (not the mixture's likelihood), so the clusterers compare.
    n_iter_ : int
        EM iterations of the kept initialisation.
    lower_bound_ : float
        The kept run's per-sample log-likelihood lower bound.
    """

    probabilistic = True

    def __init__(
        self,
        n_clusters=8,
        *,
        covariance_type="auto",
        n_init=DEFAULT_N_INIT,
        reg_covar=1e-6,
        max_iter=100,
        tol=1e-3,
        init_params="kmeans",
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.tol = tol
        self.init_params = init_params
        self.random_state = random_state

    @classmethod
    def declare(cls, space: Space, n_clusters: int) -> dict:
        covariance_types = ["auto", "full", "diag", "tied", "spherical"]
        return {
            "n_clusters": n_clusters,
            "covariance_type": space.categorical(
                "covariance_type", covariance_types, default="auto"
            ),
            "n_init": space.int("n_init", 1, 10, default=DEFAULT_N_INIT),
            "reg_covar": space.float("reg_covar", 1e-6, 1e-2, log=True, default=1e-6),
        }

    def fit(self, X, y=None):
        """Fit the mixture to X (n_samples, n_features); float32 stays float32 in the centres.
        Returns self."""
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        check_n_clusters(self.n_clusters, X.shape[0])
        self.covariance_type_ = self.covariance_type
        if self.covariance_type == "auto":
            self.covariance_type_ = "full" if X.shape[1] <= FULL_MAX_FEATURES else "diag"
        self.mixture_ = SklearnGaussianMixture(
            n_components=self.n_clusters,
            covariance_type=self.covariance_type_,
            n_init=self.n_init,
            reg_covar=self.reg_covar,
            max_iter=self.max_iter,
            tol=self.tol,
            init_params=self.init_params,
            random_state=self.random_state,
        ).fit(X)
        self.labels_ = self.mixture_.predict(X).astype(np.int32)
        self.cluster_centers_ = self.mixture_.means_.astype(X.dtype, copy=False)
        self.inertia_ = _inertia(X, self.mixture_.means_, self.labels_)
        self.n_iter_ = int(self.mixture_.n_iter_)
        self.lower_bound_ = float(self.mixture_.lower_bound_)
        return self

    def fit_predict(self, X, y=None):
        """Fit on X and return its labels (n_samples,) int32."""
        return self.fit(X).labels_

    def predict(self, X):
        """The most probable component of each row of X (n, n_features): int32 labels."""
        X = self._check_fitted(X)
        return self.mixture_.predict(X).astype(np.int32)

    def predict_proba(self, X):
        """Component membership probabilities (n, n_clusters), rows summing to 1."""
        X = self._check_fitted(X)
        return self.mixture_.predict_proba(X)

    def _check_fitted(self, X) -> np.ndarray:
        check_is_fitted(self, "mixture_")
        return validate_data(self, X, dtype=[np.float64, np.float32], reset=False)


def _inertia(X: np.ndarray, means: np.ndarray, labels: np.ndarray) -> float:
    """Sum over the rows of X (n, d) of the squared distance to means[label] (float64 sums),
    in blocks of rows so the memory stays O(block x d)."""
    total, block = 0.0, 4096
    for start in range(0, len(X), block):
        rows = slice(start, start + block)
        diff = X[rows].astype(np.float64) - means[labels[rows]]
        total += float(np.einsum("ij,ij->", diff, diff))
    return total
