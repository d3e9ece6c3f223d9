"""Fitted stages of a configuration kept beside the feature cache, so the cell's model can be
built when its study ends even where the cache answered a trial (and nothing was fitted in
memory). An extractor keeps what `transform` needs (a Keras extractor: its encoder, saved as a
`.keras` file); a reducer and a clusterer are pickled whole. Missing or unreadable ones are
fitted again with the trial's parameters and seed, and must give back the very features and
embedding of the trial (the clusterer: the same seed gives the same labels)."""

import copy
import logging
import pickle
from pathlib import Path

import numpy as np

from clustering import pipeline
from clustering.cache import FeatureCache, derived_key, write_atomically
from clustering.extractors import EXTRACTORS
from clustering.reducers import REDUCERS

logger = logging.getLogger(__name__)

KERAS_ATTRIBUTES = ("model_", "encoder_", "decoder_")  # a KerasExtractor's fitted models


def strip_extractor(extractor):
    """(a copy of the fitted extractor without Keras models, the encoder's `.keras` bytes or
    None): enough for `transform`, and picklable."""
    if getattr(extractor, "encoder_", None) is None:
        return extractor, None
    return without_keras(extractor), pipeline.save_decoder(extractor.encoder_)


def without_keras(extractor):
    """A shallow copy of the extractor with its Keras models set to None (picklable)."""
    stripped = copy.copy(extractor)
    for name in KERAS_ATTRIBUTES:
        if hasattr(stripped, name):
            setattr(stripped, name, None)
    return stripped


def attach_encoder(extractor, encoder):
    """The stripped extractor with its encoder (a Keras model, or `.keras` bytes) back."""
    if encoder is not None:
        extractor.encoder_ = (
            pipeline.load_decoder(encoder) if isinstance(encoder, bytes) else encoder
        )
    return extractor


def kept_extractor(cache: FeatureCache | None, key: str):
    """The fitted extractor a trial kept under its features' `key` (None when absent)."""
    kept = _read(cache, key)
    return attach_encoder(*kept) if kept else None


def keep(cache: FeatureCache | None, extraction, reduction) -> None:
    """Write the stages fitted in memory by a trial (a cache miss) beside their cache entries;
    a failure is logged, never raised (the cell's model then fits them again)."""
    _keep_extractor(cache, extraction.key, extraction.extractor)
    _keep_reducer(cache, reduction.key, reduction.reducer)


def keep_clusterer(cache: FeatureCache | None, reduction, spec, params: dict, clusterer) -> None:
    """Write a trial's fitted clusterer beside its embedding's cache entry (logged on failure)."""
    _keep(cache, _clusterer_key(reduction, spec, params), "clusterer", lambda: clusterer)


def _keep_extractor(cache: FeatureCache | None, key: str, extractor) -> None:
    """A learned or cached extractor, stripped of its Keras models (raw pixels keep nothing)."""
    cls = EXTRACTORS.get(extractor.name) if extractor is not None else None
    if cls is not None and (cls.learned or cls.cached):
        _keep(cache, key, "extractor", lambda: strip_extractor(extractor))


def _keep_reducer(cache: FeatureCache | None, key: str, reducer) -> None:
    """A reducer whose type is worth caching (not `none`)."""
    if reducer is not None and type(reducer).cached:
        _keep(cache, key, "reducer", lambda: reducer)


def _keep(cache: FeatureCache | None, key: str, what: str, fitted) -> None:
    """Write `fitted()` under `key` beside the cache entries when there is a cache; a failure is
    logged, never raised (the cell's model then fits the stage again)."""
    if cache is None:
        return
    try:
        _write(cache, key, fitted())
    except Exception as error:
        logger.warning("could not keep the fitted %s: %s: %s", what, type(error).__name__, error)


def fitted_clusterer(spec, params: dict, reduction, cache: FeatureCache | None = None):
    """(labels (n,), fitted clusterer) of the trial with `params` on `reduction`'s embedding:
    the clusterer the trial kept (its labels_), else fitted again with the spec's seed."""
    kept = _read(cache, _clusterer_key(reduction, spec, params))
    if kept is not None:
        return kept.labels_, kept
    embedding, name = reduction.embedding, spec.clusterer
    return pipeline.cluster(embedding, name, params["clusterer"], seed=spec.seed)


def _clusterer_key(reduction, spec, params: dict) -> str:
    return derived_key(reduction.key, f"clusterer:{spec.clusterer}", params["clusterer"], spec.seed)


def fitted_stages(cell_data, spec, params: dict, cache: FeatureCache | None = None):
    """(fitted extractor, fitted reducer, pipeline.Reduction) of `spec` on `cell_data` for
    `params` (the `__init__` keyword arguments by stage): what the cache kept, else fitted again
    with the same seed and kept for the next cell that needs it; ValueError if a refit does not
    give back the trial's features or embedding."""
    extraction, reduction = pipeline.embed(cell_data, spec, params, cache)
    extractor = extraction.extractor
    if extractor is None:
        kept = _read(cache, extraction.key)
        extractor = attach_encoder(*kept) if kept else None
    if extractor is None:
        logger.info("%s: fitting %s again for its model", spec.label, spec.extractor)
        again = pipeline.extract(
            cell_data.X,
            spec.extractor,
            params["extractor"],
            seed=spec.seed,
            digest=cell_data.digest,
            preprocessing=cell_data.preprocessing,
            fit_X=cell_data.X_fit,
        )
        _same(again.features, extraction.features, spec.extractor)
        extractor = again.extractor
        _keep_extractor(cache, extraction.key, extractor)
    reducer = reduction.reducer or _read(cache, reduction.key)
    if reducer is None:
        logger.info("%s: fitting %s again for its model", spec.label, spec.reducer)
        reducer = REDUCERS.get(spec.reducer)(**params["reducer"], random_state=spec.seed)
        _same(reducer.fit_transform(extraction.features), reduction.embedding, spec.reducer)
        _keep_reducer(cache, reduction.key, reducer)
    return extractor, reducer, reduction


def _same(refitted: np.ndarray, cached: np.ndarray, name: str) -> None:
    if not np.array_equal(refitted, cached):
        raise ValueError(
            f"{name} fitted again with the trial's seed gave other numbers than the cached "
            "ones; clear the feature cache (--cache-dir) and run the cell again"
        )


def _path(cache: FeatureCache, key: str) -> Path:
    return cache.folder / f"{key}.fitted.pkl"


def _write(cache: FeatureCache, key: str, value) -> None:
    write_atomically(
        _path(cache, key), lambda stream: pickle.dump(value, stream, pickle.HIGHEST_PROTOCOL)
    )


def _read(cache: FeatureCache | None, key: str):
    """The value kept under `key`, None when absent or unreadable (then removed)."""
    if cache is None or not key:
        return None
    path = _path(cache, key)
    if not path.exists():
        return None
    try:
        with open(path, "rb") as stream:
            return pickle.load(stream)
    except Exception as error:  # an unreadable entry is fitted again, never trusted
        logger.warning("fitted stage %s is unreadable (%s); fitting it again", path, error)
        path.unlink(missing_ok=True)
        return None
