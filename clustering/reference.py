"""The reference space: one embedding of a dataset's preprocessed pixels, shared by every cell.

Label-free scores computed in each cell's own feature space are not comparable across cells (a
collapsed embedding of a few tight blobs has a silhouette near 1 whatever it groups). Measured
in one space that every cell of a dataset shares, they are (Lowe et al. 2024): PCA of the
pixels to at most 50 dimensions, then UMAP to 10 (n_neighbors 15, min_dist 0). The same images
and seed give the same embedding. `reference_key` names it in the feature cache and
`cached_reference_embedding` gets it from there or computes and stores it.
"""

import hashlib
import json
import logging
import numbers
import time
import warnings

import numpy as np
from sklearn.decomposition import PCA

from clustering.cache import CacheEntry, FeatureCache
from clustering.errors import BenchError
from clustering.extractors.base import check_images
from clustering.extractors.keras_base import import_tensorflow
from clustering.reducers.portable import compile_for_any_cpu

logger = logging.getLogger(__name__)

PCA_COMPONENTS = 50
UMAP_COMPONENTS = 10
UMAP_NEIGHBORS = 15
MIN_SAMPLES = 4  # UMAP's spectral initialisation needs n_components <= n_samples - 2 >= 2


def reference_embedding(images, random_state: int = 0) -> np.ndarray:
    """The reference embedding of preprocessed images, (n, 10) float32.

    images: (n, h, w, c) float32 in [0, 1] (`clustering.data.preprocess` output), n >= 4.
    random_state: an int seed; the same images and seed give the same embedding (umap-learn then
    runs on one thread). PCA keeps min(50, n, h*w*c) components; UMAP's neighbours are clipped to
    n - 1 and its dimensions to n - 2 on tiny inputs.
    """
    X = _check_images(images)
    _check_seed(random_state)
    start = time.perf_counter()
    embedding = _umap(_pca(X, random_state), random_state)
    logger.info("reference embedding of %d images in %.1f s", len(X), time.perf_counter() - start)
    return embedding


def reference_key(digest: str, preprocessing: dict, seed: int) -> str:
    """A hex key for the reference embedding of one (data, preprocessing, seed) combination;
    it never equals a `clustering.cache.cache_key` (the payloads differ)."""
    payload = json.dumps(
        {
            "kind": "reference",
            "format": 2,  # bump when reference_embedding's recipe changes (2: portable numba)
            "pca": PCA_COMPONENTS,
            "umap": [UMAP_COMPONENTS, UMAP_NEIGHBORS, 0.0],
            "digest": digest,
            "preprocessing": preprocessing,
            "seed": seed,
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def cached_reference_embedding(
    images,
    *,
    digest: str,
    preprocessing: dict,
    random_state: int = 0,
    cache: FeatureCache | None = None,
) -> np.ndarray:
    """`reference_embedding(images, random_state)` (n, 10) float32, read from `cache` when it
    holds it under `reference_key(digest, preprocessing, random_state)`, else computed and
    stored there (atomically, by FeatureCache.put). Without a cache it is always computed."""
    if cache is None:
        return reference_embedding(images, random_state)
    key = reference_key(digest, preprocessing, random_state)
    entry = cache.get(key)
    if entry is not None and entry.features.shape[0] == len(images):
        logger.info("reference embedding read from the cache (%s)", key)
        return entry.features
    start = time.perf_counter()
    embedding = reference_embedding(images, random_state)
    cache.put(key, CacheEntry(embedding, None, time.perf_counter() - start))
    return embedding


# --- private steps: assume valid input ---------------------------------------------------------


def _pca(X: np.ndarray, random_state: int) -> np.ndarray:
    n_components = min(PCA_COMPONENTS, *X.shape)
    return PCA(n_components, random_state=random_state).fit_transform(X).astype(np.float32)


def _umap(X: np.ndarray, random_state: int) -> np.ndarray:
    import_tensorflow()  # umap-learn imports it (for ParametricUMAP): quietly, once
    compile_for_any_cpu()  # the same embedding on every x86-64 machine
    import umap  # imported on first use: umap-learn pulls in numba (seconds)

    model = umap.UMAP(
        n_components=min(UMAP_COMPONENTS, len(X) - 2),
        n_neighbors=min(UMAP_NEIGHBORS, len(X) - 1),
        min_dist=0.0,
        random_state=random_state,
        n_jobs=1,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        return np.asarray(model.fit_transform(X), dtype=np.float32)


def _check_images(images) -> np.ndarray:
    """images (n, h, w, c) float in [0, 1] -> X (n, h*w*c) float32; the pixel checks are the
    extractors' (`check_images`), the shape and dtype are asked of `preprocess` output."""
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype.kind != "f":
        raise BenchError(
            f"reference_embedding needs float images (n, h, w, c) in [0, 1], got "
            f"{images.dtype} of shape {images.shape}; pass "
            "clustering.data.preprocess(dataset.images)"
        )
    if len(images) < MIN_SAMPLES:
        raise BenchError(
            f"reference_embedding needs at least {MIN_SAMPLES} images, got {len(images)}"
        )
    X = check_images(images, "reference_embedding")
    return X.reshape(len(X), -1)


def _check_seed(random_state) -> None:
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise BenchError(
            f"random_state must be an int seed (the embedding is cached by it), got "
            f"{random_state!r}"
        )
