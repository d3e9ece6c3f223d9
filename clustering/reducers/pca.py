"""`pca`: principal component analysis (scikit-learn), optionally whitened."""

import numpy as np
from sklearn.decomposition import PCA as SklearnPCA

from clustering.reducers.base import REDUCERS, Reducer, check_int
from clustering.space import Space

MIN_COMPONENTS, MAX_COMPONENTS = 2, 64


@REDUCERS.register("pca")
class PCA(Reducer):
    """Project onto the first `n_components` principal axes (`whiten`: unit variance each).

    `n_components` is clipped to min(n_samples, n_features) at fit; the value used is
    `n_components_`. The fitted scikit-learn PCA is `pca_`; `random_state` seeds its randomized
    solver (chosen by scikit-learn for large inputs).
    """

    def __init__(self, n_components=10, whiten=False, random_state=None):
        self.n_components = n_components
        self.whiten = whiten
        self.random_state = random_state

    @classmethod
    def declare(cls, space: Space, n_clusters: int) -> dict:
        default = int(np.clip(n_clusters, MIN_COMPONENTS, MAX_COMPONENTS))
        return {
            "n_components": space.int(
                "n_components", MIN_COMPONENTS, MAX_COMPONENTS, log=True, default=default
            ),
            "whiten": space.categorical("whiten", [False, True], default=False),
        }

    def _fit(self, X: np.ndarray) -> np.ndarray:
        check_int(self, "n_components", 1)
        self.n_components_ = min(self.n_components, *X.shape)
        self.pca_ = SklearnPCA(
            self.n_components_, whiten=self.whiten, random_state=self.random_state
        )
        return self.pca_.fit_transform(X)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return self.pca_.transform(X)
