"""`preprocess`: the one place images become model input (gray unless asked for colour, [0, 1])."""

import numpy as np

from clustering.errors import BenchError


def preprocess(images: np.ndarray, color: bool = False) -> np.ndarray:
    """uint8 images (n, h, w, c) -> float32 (n, h, w, c') in [0, 1].

    RGB (c = 3) becomes gray (c' = 1, 0.2989 R + 0.5870 G + 0.1140 B) unless `color`; gray input
    stays one channel either way.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise BenchError(
            f"preprocess needs uint8 images (n, h, w, c), got {images.shape} "
            f"{images.dtype}; pass Dataset.images"
        )
    if images.shape[-1] == 3 and not color:
        gray = images[..., 0].astype(np.float32) * np.float32(0.2989)
        gray += images[..., 1] * np.float32(0.5870)
        gray += images[..., 2] * np.float32(0.1140)
        out = gray[..., np.newaxis]
    else:
        out = images.astype(np.float32)
    out /= np.float32(255)
    return out
