"""The Optuna objective of one cell: each call is one trial and one MLflow child run that
ends FINISHED (complete), FAILED (raised) or KILLED (interrupted)."""

import logging

import numpy as np
import optuna

from clustering import pipeline
from clustering.cache import FeatureCache
from clustering.clusterers import CLUSTERERS
from clustering.extractors import EXTRACTORS
from clustering.model import fitted
from clustering.reducers import REDUCERS
from clustering.study.cell import Cell
from clustering.tracking import WORKER_TAG, Tracker

logger = logging.getLogger(__name__)


class Objective:
    """The Optuna objective of one cell: each call is one trial and one MLflow child run."""

    def __init__(
        self,
        cell: Cell,
        tracker: Tracker,
        experiment_id: str,
        cell_run_id: str,
        cache: FeatureCache | None,
        worker: str | None = None,
    ):
        self.cell = cell
        self.tracker = tracker
        self.experiment_id = experiment_id
        self.cell_run_id = cell_run_id
        self.cache = cache
        self.worker = worker  # "host:pid", tagged on each trial run (None: untagged)

    def suggest(self, trial) -> dict[str, dict]:
        """Each stage's `__init__` keyword arguments for `trial` (an Optuna trial, or a
        FixedTrial of a finished trial's parameters), by stage: extractor, reducer, clusterer."""
        cell = self.cell
        if len(cell.n_clusters) > 1:
            n_clusters = trial.suggest_categorical("n_clusters", cell.n_clusters)
        else:
            n_clusters = cell.n_clusters[0]
        return {
            "extractor": EXTRACTORS.get(cell.extractor).search_space(trial),
            "reducer": REDUCERS.get(cell.reducer).search_space(trial, n_clusters=n_clusters),
            "clusterer": CLUSTERERS.get(cell.clusterer).search_space(trial, n_clusters=n_clusters),
        }

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        """Run the trial; its MLflow run ends FINISHED, FAILED (error tag) or KILLED."""
        cell = self.cell
        params = self.suggest(trial)
        run_id = self.tracker.start_trial_run(
            self.experiment_id,
            self.cell_run_id,
            cell.study_name,
            trial.number,
            {**trial.params, "n_clusters": params["clusterer"]["n_clusters"]},
            tags={WORKER_TAG: self.worker} if self.worker else None,
        )
        label = f"[{cell.label}] trial {trial.number}"
        try:
            trial.set_user_attr("mlflow_run_id", run_id)  # a storage write: interruptible
            self.tracker.log_dataset(run_id, dataset_description(cell))
            value = self._evaluate(run_id, params, label)
            trial.set_user_attr("metrics", self.scores)
        except BaseException as error:
            interrupted = isinstance(error, KeyboardInterrupt | SystemExit)
            reason = f"{type(error).__name__}: {error}".strip()
            self.tracker.log(run_id, tags={"optuna.state": "FAIL", "error": reason})
            self.tracker.finish(run_id, "KILLED" if interrupted else "FAILED")
            if not interrupted:
                logger.warning("%s failed: %s", label, reason)
            raise
        self.tracker.log(run_id, tags={"optuna.state": "COMPLETE"})
        self.tracker.finish(run_id, "FINISHED")
        return value

    def _evaluate(self, run_id: str, params: dict, label: str) -> float | list[float]:
        """Extract and reduce (cached), cluster and score; log the scores on the trial run and
        return the objective's value (a list of them for several). `self.scores` keeps every
        score for the trial."""
        cell = self.cell
        extraction, reduction = self._embed(run_id, params, label)
        clustering = pipeline.cluster_and_score(
            reduction.embedding,
            cell.y_true,
            cell.clusterer,
            params["clusterer"],
            seed=cell.seed,
            reference=cell.reference,
            metric_sample_size=cell.metric_sample_size,
            progress=_metric_progress(label),
        )
        fitted.keep_clusterer(self.cache, reduction, cell, params, clustering.clusterer)
        scores, tags = _trial_scores(clustering.scores, extraction, reduction)
        if cell.metric_sample_size is not None:
            tags["metric_sample_size"] = cell.metric_sample_size
            tags["metric_random_state"] = cell.seed
        self.tracker.log(run_id, metrics=scores, tags=tags)
        self.tracker.log_labels(run_id, clustering.labels)
        self.scores = scores
        values = [scores[name] for name in cell.objectives]
        for name, value in zip(cell.objectives, values, strict=True):
            if not np.isfinite(value):
                raise FloatingPointError(f"objective {name} is {value}")
        shown = dict.fromkeys([*cell.objectives, "hungarian_accuracy"])
        logger.info(
            "%s: %s (%.1f s)",
            label,
            " ".join(f"{name}={scores[name]:.4f}" for name in shown),
            scores["fit_seconds"] + scores["metric_seconds"],
        )
        return float(values[0]) if len(values) == 1 else [float(value) for value in values]

    def _embed(self, run_id: str, params: dict, label: str):
        """The trial's features and their embedding (pipeline.Extraction, pipeline.Reduction),
        each from the cache when it holds them; training epochs are logged on the trial run."""
        cell = self.cell

        def on_epoch(epoch: int, logs: dict) -> None:
            numbers = {key: float(value) for key, value in logs.items()}
            self.tracker.log(run_id, metrics=numbers, step=epoch)
            logger.info("%s epoch %d: %s", label, epoch + 1, _format(numbers))

        extraction, reduction = cell.embed(params, self.cache, on_epoch)
        fitted.keep(self.cache, extraction, reduction)  # for the cell's model, when best
        return extraction, reduction


def dataset_description(cell: Cell) -> dict:
    """What Tracker.log_dataset logs of the cell's data: name, digest, source, stored image
    shape (h, w, c), number of images and preprocessing (split, limit, color)."""
    return {
        "name": cell.dataset_name,
        "digest": cell.digest,
        "source": cell.source,
        "shape": list(cell.images.shape[1:] if cell.images is not None else cell.X.shape[1:]),
        "n_images": len(cell.X),
        "preprocessing": cell.preprocessing,
    }


def _trial_scores(scores: dict, extraction, reduction) -> tuple[dict, dict]:
    """The clustering's scores plus each stage's seconds and sizes, and the cache tags. The
    training time of features and embedding counts even when the cache served them, so cells
    compare fairly; the seconds the cache saved are logged on every trial (0 on a miss)."""
    scores = dict(scores)
    saved = extraction.seconds_saved + reduction.seconds_saved
    scores["extract_seconds"] = extraction.extract_seconds
    scores["reduce_seconds"] = reduction.reduce_seconds
    scores["fit_seconds"] = (
        extraction.extract_seconds + reduction.reduce_seconds + saved + scores["cluster_seconds"]
    )
    scores["cache_seconds_saved"] = saved
    scores["n_features"] = float(extraction.features.shape[1])
    scores["n_components"] = float(reduction.embedding.shape[1])
    tags = {
        "feature_cache": "hit" if extraction.cache_hit else "miss",
        "embedding_cache": "hit" if reduction.cache_hit else "miss",
    }
    return scores, tags


def _metric_progress(label: str):
    """A progress callback that logs every tenth of the metric blocks (large n only)."""
    last = [-1]

    def report(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if total >= 20 and tenth != last[0]:
            last[0] = tenth
            logger.info("%s metrics: %d/%d blocks", label, done, total)

    return report


def _format(numbers: dict) -> str:
    return " ".join(f"{key}={value:.4g}" for key, value in sorted(numbers.items()))
