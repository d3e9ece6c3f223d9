"""One configuration end to end on arrays: extract features (cached), reduce them (cached),
cluster, score. Knows nothing of Optuna or MLflow; the study calls it once per trial."""

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clustering import metrics
from clustering.cache import CacheEntry, FeatureCache, cache_key, derived_key
from clustering.clusterers import CLUSTERERS
from clustering.extractors import EXTRACTORS
from clustering.extractors.keras_base import import_tensorflow
from clustering.reducers import REDUCERS

logger = logging.getLogger(__name__)

N_RECONSTRUCTIONS = 16


@dataclass
class Extraction:
    """Features (n, d) float32, reconstructions of the first images (or None), the fitted
    extractor (None on a cache hit), whether the cache answered, the seconds it saved, and the
    decoder kept by the cache (`.keras` bytes; None on a miss or when the model has none)."""

    features: np.ndarray
    reconstructions: np.ndarray | None
    extractor: object | None
    cache_hit: bool
    extract_seconds: float
    seconds_saved: float = 0.0
    decoder: bytes | None = None
    key: str = ""  # names these features in the cache, whether they were cached or not

    def decode_function(self):
        """codes (m, d) -> images (m, h, w, c), from the fitted extractor or the cached decoder;
        None when the extractor has no decoder (raw pixels, U-Net)."""
        if self.extractor is not None:
            return self.extractor.decode if self.extractor.decodes else None
        if self.decoder is None:
            return None
        model = load_decoder(self.decoder)
        return lambda codes: np.asarray(model(np.asarray(codes, np.float32), training=False))


@dataclass
class Reduction:
    """The embedding (n, n_components) float32 of the features, the fitted reducer (None on a
    cache hit), whether the cache answered, the seconds it took and those it saved."""

    embedding: np.ndarray
    reducer: object | None
    cache_hit: bool
    reduce_seconds: float
    seconds_saved: float = 0.0
    key: str = ""  # names this embedding in the cache, whether it was cached or not


@dataclass
class Clustering:
    """Labels (n,), the fitted clusterer, and the scores (dict of floats)."""

    labels: np.ndarray
    clusterer: object
    scores: dict


def extract(
    X: np.ndarray,
    extractor_name: str,
    params: dict,
    *,
    seed: int,
    digest: str,
    preprocessing: dict,
    cache: FeatureCache | None = None,
    epoch_callback=None,
    fit_X: np.ndarray | None = None,
) -> Extraction:
    """Fit the named extractor on images X (n, h, w, c) in [0, 1], or on other images fit_X
    (m, h, w, c) of the same dataset when given (`preprocessing` then names them), and
    transform X. The cache look-up and the fit share their locals; split, each half would need
    them all."""
    cls = EXTRACTORS.get(extractor_name)
    use_cache = cache is not None and (cls.learned or cls.cached)
    key = cache_key(digest, preprocessing, extractor_name, params, seed, cls.version)
    if use_cache:
        started = time.perf_counter()
        entry = cache.get(key)
        if entry is not None:
            elapsed = time.perf_counter() - started
            logger.info("feature cache hit for %s %s", extractor_name, params)
            return Extraction(
                features=entry.features,
                reconstructions=entry.reconstructions,
                extractor=None,
                cache_hit=True,
                extract_seconds=elapsed,
                seconds_saved=max(entry.extract_seconds - elapsed, 0.0),
                decoder=entry.decoder,
                key=key,
            )
    started = time.perf_counter()
    extractor = cls(**params, random_state=seed)
    features = np.asarray(_fit_transform(extractor, X, fit_X, epoch_callback), np.float32)
    reconstructions = None
    if cls.reconstructs:
        reconstructions = np.asarray(extractor.reconstruct(X[:N_RECONSTRUCTIONS]), np.float32)
    seconds = time.perf_counter() - started
    if not np.all(np.isfinite(features)):
        raise FloatingPointError(
            f"{extractor_name} produced NaN or infinite features; lower its learning rate"
        )
    if use_cache:
        decoder = save_decoder(extractor.decoder_) if cls.decodes else None
        cache.put(key, CacheEntry(features, reconstructions, seconds, decoder))
    return Extraction(
        features=features,
        reconstructions=reconstructions,
        extractor=extractor,
        cache_hit=False,
        extract_seconds=seconds,
        key=key,
    )


def _fit_transform(extractor, X: np.ndarray, fit_X: np.ndarray | None, epoch_callback):
    """The extractor fitted on fit_X (or X when None) and X's features (n, d)."""
    if fit_X is None:
        # one call: an extractor that encodes while it fits (patch_kmeans) encodes X once
        return extractor.fit_transform(X, epoch_callback=epoch_callback)
    return extractor.fit(fit_X, epoch_callback=epoch_callback).transform(X)


def reduce(
    features: np.ndarray,
    reducer_name: str,
    params: dict,
    *,
    seed: int,
    features_key: str,
    cache: FeatureCache | None = None,
) -> Reduction:
    """Fit the named reducer on features (n, d) and embed them; a costly embedding is cached
    under the features' key plus the reducer's name, parameters and seed."""
    cls = REDUCERS.get(reducer_name)
    use_cache = cache is not None and cls.cached
    stage = f"reducer:{reducer_name}" + (f":v{cls.version}" if cls.version != 1 else "")
    key = derived_key(features_key, stage, params, seed)
    started = time.perf_counter()
    entry = cache.get(key) if use_cache else None
    if entry is not None:
        elapsed = time.perf_counter() - started
        logger.info("embedding cache hit for %s %s", reducer_name, params)
        return Reduction(
            entry.features, None, True, elapsed, max(entry.extract_seconds - elapsed, 0.0), key
        )
    reducer = cls(**params, random_state=seed)
    embedding = reducer.fit_transform(features)
    seconds = time.perf_counter() - started
    if not np.all(np.isfinite(embedding)):
        raise FloatingPointError(f"{reducer_name} produced NaN or infinite coordinates")
    if use_cache:
        cache.put(key, CacheEntry(embedding, None, seconds))
    return Reduction(embedding, reducer, False, seconds, key=key)


def cluster_and_score(
    features: np.ndarray,
    y_true: np.ndarray,
    clusterer_name: str,
    params: dict,
    *,
    seed: int,
    reference: np.ndarray | None = None,
    metric_sample_size: int | None = None,
    progress=None,
) -> Clustering:
    """Cluster features (n, d) and score the labels against y_true (n,) and, label-free, in
    the dataset's reference embedding (n, d_ref) when given; times in seconds."""
    started = time.perf_counter()
    labels, clusterer = cluster(features, clusterer_name, params, seed=seed)
    cluster_seconds = time.perf_counter() - started

    def refit(X_subset: np.ndarray, refit_seed: int) -> np.ndarray:
        return cluster(X_subset, clusterer_name, params, seed=refit_seed)[0]

    scores = metrics.evaluate(
        features,
        labels,
        y_true,
        reference=reference,
        refit=refit,
        sample_size=metric_sample_size,
        random_state=seed,
        progress=progress,
    )
    scores.update(
        cluster_seconds=cluster_seconds,
        inertia=float(clusterer.inertia_),
        n_iter=float(clusterer.n_iter_),
        n_clusters_found=float(len(np.unique(labels))),
    )
    return Clustering(labels=labels, clusterer=clusterer, scores=scores)


def embed(
    cell_data,
    spec,
    params: dict,
    cache: FeatureCache | None = None,
    epoch_callback=None,
    seeds: dict | None = None,
):
    """The first two stages of `spec` (a study.cell.CellSpec) on `cell_data` (its CellData) for
    `params` (keyword arguments by stage): (Extraction, Reduction), each from the cache when it
    holds them. `seeds` (stage -> seed) overrides the spec's seed stage by stage."""
    seeds = {"extractor": spec.seed, "reducer": spec.seed, **(seeds or {})}
    extraction = extract(
        cell_data.X,
        spec.extractor,
        params["extractor"],
        seed=seeds["extractor"],
        digest=cell_data.digest,
        preprocessing=cell_data.preprocessing,
        cache=cache,
        epoch_callback=epoch_callback,
        fit_X=cell_data.X_fit,
    )
    reduction = reduce(
        extraction.features,
        spec.reducer,
        params["reducer"],
        seed=seeds["reducer"],
        features_key=extraction.key,
        cache=cache,
    )
    return extraction, reduction


def cluster_cell(cell_data, spec, params: dict, embedding: np.ndarray, progress=None):
    """The last stage of `spec` on `embedding` (n, d) of `cell_data`, scored against its labels
    and reference embedding (`cluster_and_score` with the spec's seed and sample size)."""
    return cluster_and_score(
        embedding,
        cell_data.y_true,
        spec.clusterer,
        params["clusterer"],
        seed=spec.seed,
        reference=cell_data.reference,
        metric_sample_size=spec.metric_sample_size,
        progress=progress,
    )


def cluster(features: np.ndarray, clusterer_name: str, params: dict, *, seed: int):
    """Fit the named clusterer on features (n, d); returns (labels (n,), fitted clusterer)."""
    clusterer = CLUSTERERS.get(clusterer_name)(**params, random_state=seed)
    labels = clusterer.fit_predict(features)
    return labels, clusterer


def save_decoder(model) -> bytes:
    """A Keras model as the bytes of a `.keras` file (for the feature cache)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "decoder.keras"
        model.save(path)
        return path.read_bytes()


def load_decoder(data: bytes):
    """The Keras model saved by `save_decoder` (not compiled: inference only)."""
    import_tensorflow()
    import keras

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "decoder.keras"
        path.write_bytes(data)
        return keras.saving.load_model(path, compile=False)
