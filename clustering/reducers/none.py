"""`none`: no reduction; the clusterer sees the extractor's features."""

import numpy as np

from clustering.reducers.base import REDUCERS, Reducer


@REDUCERS.register("none")
class Identity(Reducer):
    """The features themselves, as float32 (float32 input is not copied). Nothing to search."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def _fit(self, X: np.ndarray) -> np.ndarray:
        self.n_components_ = X.shape[1]
        return X

    def _transform(self, X: np.ndarray) -> np.ndarray:
        return X
