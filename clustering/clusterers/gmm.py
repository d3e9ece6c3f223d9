"""`gmm`: a Gaussian mixture (scikit-learn's `GaussianMixture`) behind the clusterer contract."""

import logging

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from sklearn.utils.validation import check_is_fitted, validate_data

from clustering.clusterers.base import CLUSTERERS, Clusterer, inertia
from clustering.clusterers.kmeans import check_n_clusters
from clustering.errors import BenchError
from clustering.space import Space

logger = logging.getLogger(__name__)

# "auto": full covariances up to this many features and from FULL_MIN_SAMPLES_PER_FEATURE
# samples per feature, diagonal otherwise (a full covariance costs n * k * d^2 per iteration and
# is singular from too few samples per component)
FULL_MAX_FEATURES = 50
FULL_MIN_SAMPLES_PER_FEATURE = 10
# a singular covariance is retried with reg_covar multiplied by REG_COVAR_STEP, at most
# REG_COVAR_RETRIES times
REG_COVAR_STEP = 10.0
REG_COVAR_RETRIES = 3
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
    "full" (N2D's choice, on a few UMAP dimensions) up to FULL_MAX_FEATURES features and
    FULL_MIN_SAMPLES_PER_FEATURE samples per feature, "diag" otherwise, where a full
    covariance costs n * k * d^2 per iteration (minutes on 784 pixels) and is singular from
    too few samples per component. The type used is `covariance_type_`. A fit that meets a
    singular covariance is retried with `reg_covar` raised REG_COVAR_STEP-fold, at most
    REG_COVAR_RETRIES times (the value used is `reg_covar_`); after that it raises BenchError.
    The fitted mixture is `mixture_`.

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
            self.covariance_type_ = auto_covariance_type(*X.shape)
        self.mixture_, self.reg_covar_ = self._fit_regularised(X)
        self.labels_ = self.mixture_.predict(X).astype(np.int32)
        self.cluster_centers_ = self.mixture_.means_.astype(X.dtype, copy=False)
        self.inertia_ = inertia(X, self.mixture_.means_, self.labels_)
        self.n_iter_ = int(self.mixture_.n_iter_)
        self.lower_bound_ = float(self.mixture_.lower_bound_)
        return self

    def _fit_regularised(self, X: np.ndarray) -> tuple[SklearnGaussianMixture, float]:
        """The mixture fitted to X (n, d) and the reg_covar it took: `reg_covar`, raised
        REG_COVAR_STEP-fold while a component's covariance is singular."""
        reg_covar = self.reg_covar
        for attempt in range(REG_COVAR_RETRIES + 1):
            mixture = SklearnGaussianMixture(
                n_components=self.n_clusters,
                covariance_type=self.covariance_type_,
                n_init=self.n_init,
                reg_covar=reg_covar,
                max_iter=self.max_iter,
                tol=self.tol,
                init_params=self.init_params,
                random_state=self.random_state,
            )
            try:
                return mixture.fit(X), reg_covar
            except ValueError as error:
                if "ill-defined empirical covariance" not in str(error):
                    raise
            if attempt < REG_COVAR_RETRIES:
                logger.warning(
                    "gmm: singular %s covariance on %d x %d features with reg_covar=%g; "
                    "retrying with %g",
                    self.covariance_type_,
                    *X.shape,
                    reg_covar,
                    reg_covar * REG_COVAR_STEP,
                )
                reg_covar *= REG_COVAR_STEP
        raise BenchError(
            f"gmm: {self.covariance_type_} covariances of {self.n_clusters} components stay "
            f"singular on {X.shape[0]} x {X.shape[1]} features up to reg_covar={reg_covar:g}; "
            "use gmm.covariance_type=diag (or auto), or a reducer to fewer dimensions"
        )

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


def auto_covariance_type(n_samples: int, n_features: int) -> str:
    """What covariance_type="auto" fits to n_samples x n_features: "full" or "diag"."""
    enough_samples = n_samples >= FULL_MIN_SAMPLES_PER_FEATURE * n_features
    return "full" if n_features <= FULL_MAX_FEATURES and enough_samples else "diag"
