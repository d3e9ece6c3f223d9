"""`umap`: UMAP (umap-learn), as N2D uses it on autoencoder codes before clustering."""

import logging
import warnings

import numpy as np

from clustering.extractors.keras_base import import_tensorflow
from clustering.reducers.base import REDUCERS, Reducer, check_int
from clustering.reducers.portable import compile_for_any_cpu
from clustering.space import Space

logger = logging.getLogger(__name__)

MIN_COMPONENTS, MAX_COMPONENTS = 2, 32
N_EPOCHS = 200  # umap-learn's choice above 10,000 rows (N2D's); its 500 below costs 3x


@REDUCERS.register("umap")
class UMAP(Reducer):
    """Uniform manifold approximation and projection to `n_components` dimensions.

    The defaults are N2D's (McConville et al. 2020): as many dimensions as clusters, 20
    neighbours, min_dist 0 (dense clumps suit clustering), Euclidean distances. A given
    `random_state` makes the embedding reproducible (umap-learn then runs on one thread, and
    numba compiles for one CPU target on every x86-64 machine: reducers/portable.py).
    On tiny inputs `n_neighbors` is clipped to n_samples - 1 and `n_components` to
    n_samples - 2 (the spectral initialisation's limit); the values used end in `_`.
    `transform` places new rows in the fitted embedding (umap-learn's `transform`); the training
    rows, equal up to float round-off (relative 1e-5), get back their training embedding, so a
    model re-extracting the same images on another BLAS path gives the trial's labels. The fitted
    umap-learn model is `umap_`. umap-learn and numba are imported on first fit; numba compiles
    its kernels once per process (the first fit of a process pays it, later fits do not).
    """

    cached = True
    version = 2  # 2: compiled for one CPU target (reducers/portable.py)

    def __init__(
        self, n_components=10, n_neighbors=20, min_dist=0.0, metric="euclidean", random_state=None
    ):
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.random_state = random_state

    @classmethod
    def declare(cls, space: Space, n_clusters: int) -> dict:
        default = int(np.clip(n_clusters, MIN_COMPONENTS, MAX_COMPONENTS))
        return {
            "n_components": space.int(
                "n_components", MIN_COMPONENTS, MAX_COMPONENTS, default=default
            ),
            "n_neighbors": space.int("n_neighbors", 5, 50, default=20),
            "min_dist": space.float("min_dist", 0.0, 0.5, default=0.0),
            "metric": space.categorical("metric", ["euclidean", "cosine"], default="euclidean"),
        }

    def _fit(self, X: np.ndarray) -> np.ndarray:
        import_tensorflow()  # umap-learn imports it (for ParametricUMAP): quietly, once
        compile_for_any_cpu()
        import umap

        check_int(self, "n_components", 1)
        check_int(self, "n_neighbors", 2)
        n_samples = X.shape[0]
        if n_samples < 4:
            raise ValueError(f"umap needs at least 4 samples, got n_samples={n_samples}")
        self.n_neighbors_ = min(self.n_neighbors, n_samples - 1)
        self.n_components_ = min(self.n_components, n_samples - 2)
        self.umap_ = umap.UMAP(
            n_components=self.n_components_,
            n_neighbors=self.n_neighbors_,
            min_dist=self.min_dist,
            metric=self.metric,
            random_state=self.random_state,
            n_jobs=1 if self.random_state is not None else -1,
            n_epochs=N_EPOCHS,
        )
        with warnings.catch_warnings():
            # "n_jobs overridden to 1" and similar notes about choices made above on purpose
            warnings.filterwarnings("ignore", category=UserWarning, module="umap")
            return self.umap_.fit_transform(X)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        training = self.umap_._raw_data  # umap-learn's own copy of the fitted rows
        if X.shape == training.shape and np.allclose(X, training, rtol=1e-5, atol=1e-8):
            return self.umap_.embedding_
        return self.umap_.transform(X)
