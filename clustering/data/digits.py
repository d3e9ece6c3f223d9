"""The `digits` source: scikit-learn's bundled 1,797 8x8 digits (no file to find)."""

import logging

import numpy as np

from clustering.data.registry import DATASETS, DatasetSource, Loaded
from clustering.errors import BenchError

logger = logging.getLogger(__name__)


def load_digits(name: str, data_dir, split: str) -> Loaded:
    """scikit-learn's 1,797 8x8 digits, values 0..16 rescaled to 0..255 uint8, (n, 8, 8, 1)."""
    if split == "train":
        raise BenchError(
            "digits has no train split (scikit-learn ships one set of 1,797 "
            "images); use split 'test' or 'all'"
        )
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = np.round(bunch.images * 255 / 16).astype(np.uint8)[..., np.newaxis]
    logger.debug("loaded scikit-learn digits: %s", images.shape)
    labels = bunch.target.astype(np.int64)
    return Loaded(images, labels, [str(i) for i in range(10)], name, "sklearn.datasets.load_digits")


DATASETS.register(
    DatasetSource(
        "digits",
        load_digits,
        "scikit-learn's handwritten digits, 8x8 gray, 10 classes (1,797 images, one set)",
        where=lambda data_dir: ["scikit-learn (bundled, no file)"],
        found=lambda data_dir: True,
    )
)
