"""The grid: load the dataset once, then run every (extractor, clusterer) cell's study."""

import logging

import numpy as np

from clustering import datasets
from clustering.cache import FeatureCache
from clustering.config import RunConfig
from clustering.errors import BenchError
from clustering.search import Cell, CellSummary, run_cell, stale_trial_handler
from clustering.storage import make_storage
from clustering.tracking import Tracker

logger = logging.getLogger(__name__)


def build_cells(config: RunConfig) -> list[Cell]:
    """Load and preprocess the data once; one Cell per (extractor, clusterer), extractor-major
    so the feature cache serves the second clusterer of each extractor."""
    dataset = datasets.load(
        config.dataset, data_dir=config.data_dir, split=config.split, limit=config.limit,
        seed=config.seed,
    )
    X = datasets.preprocess(dataset.images, color=config.color)
    n_images = len(dataset.labels)
    n_clusters = config.n_clusters or [len(np.unique(dataset.labels))]
    too_many = [k for k in n_clusters if k > n_images]
    if too_many:
        raise BenchError(
            f"--n-clusters {too_many[0]} is above the number of images ({n_images}); "
            f"choose 2..{n_images}"
        )
    logger.info(
        "dataset %s: %d images of %s, %d classes, digest %s",
        dataset.name, n_images, "x".join(map(str, X.shape[1:])), len(dataset.class_names),
        dataset.digest[:12],
    )
    preprocessing = {"split": config.split, "limit": config.limit, "color": config.color}
    return [
        Cell(
            dataset_name=dataset.name,
            digest=dataset.digest,
            preprocessing=preprocessing,
            X=X,
            y_true=dataset.labels,
            extractor=extractor,
            clusterer=clusterer,
            n_clusters=list(n_clusters),
            objective=config.objective,
            seed=config.seed,
            metric_sample_size=config.metric_sample_size,
        )
        for extractor in config.extractors
        for clusterer in config.clusterers
    ]


def run_benchmark(config: RunConfig, parent_run_id: str | None = None) -> list[CellSummary]:
    """Run the validated config's grid. `parent_run_id` (e.g. the run `mlflow run` opened)
    becomes the parent of every cell run, and its experiment is used."""
    cells = build_cells(config)
    tracker = Tracker(config.tracking_uri)
    tracker.check_reachable()
    storage = make_storage(
        config.storage,
        heartbeat_interval=config.heartbeat_interval,
        grace_period=config.grace_period,
        on_stale=stale_trial_handler(tracker),
    )
    if parent_run_id:
        experiment_id = tracker.client.get_run(parent_run_id).info.experiment_id
    else:
        experiment_id = tracker.experiment_id(cells[0].dataset_name)
    cache = FeatureCache(config.cache_dir) if config.use_cache else None
    summaries = []
    for index, cell in enumerate(cells, start=1):
        logger.info("cell %d/%d: %s x %s", index, len(cells), cell.extractor, cell.clusterer)
        summaries.append(
            run_cell(
                cell,
                trials=config.trials,
                storage=storage,
                tracker=tracker,
                experiment_id=experiment_id,
                parent_run_id=parent_run_id,
                cache=cache,
            )
        )
    return summaries
