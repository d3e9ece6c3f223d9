"""`raw`: the preprocessed pixels, flattened."""

import numpy as np

from clustering.extractors.base import EXTRACTORS, Extractor


@EXTRACTORS.register("raw")
class RawPixels(Extractor):
    """Images (n, h, w, c) in [0, 1] -> (n, h * w * c) float32; nothing to learn."""

    def fit(self, X, y=None, **fit_params):
        self.n_features_in_ = int(np.prod(np.shape(X)[1:]))
        return self

    def transform(self, X) -> np.ndarray:
        X = np.asarray(X)
        return X.reshape(len(X), -1).astype(np.float32, copy=False)
