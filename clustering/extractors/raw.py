"""`raw`: the preprocessed pixels, flattened."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from clustering.extractors.base import EXTRACTORS, Extractor, check_images


@EXTRACTORS.register("raw")
class RawPixels(Extractor):
    """Images (n, h, w, c) in [0, 1] -> (n, h * w * c) float32; nothing to learn.

    `decode` reshapes features back into images, so pixel-space cluster centres are drawn as
    images. `random_state` is accepted for the common contract and ignored.
    """

    decodes = True

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y=None, epoch_callback=None):
        """Record the image shape of X (n, h, w, c); returns self."""
        X = check_images(X, f"{self.name}.fit")
        self.image_shape_ = tuple(int(s) for s in X.shape[1:])
        self.n_features_out_ = int(np.prod(self.image_shape_))
        return self

    def transform(self, X) -> np.ndarray:
        """The pixels (n, h * w * c) float32 (a view of float32 input, no copy)."""
        X = self._check_fitted_images(X, "transform")
        return X.reshape(len(X), -1)

    def decode(self, codes) -> np.ndarray:
        """Pixel vectors (n, h * w * c) back to images (n, h, w, c) float32, clipped to [0, 1]."""
        check_is_fitted(self, "image_shape_")
        codes = np.asarray(codes, dtype=np.float32)
        if codes.ndim != 2 or codes.shape[1] != self.n_features_out_:
            raise ValueError(
                f"raw.decode expects codes of shape (n, {self.n_features_out_}), got {codes.shape}"
            )
        return np.clip(codes, 0.0, 1.0).reshape(len(codes), *self.image_shape_)
