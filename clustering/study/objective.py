"""The Optuna objective of one cell: each call is one trial and one MLflow child run that
ends FINISHED (complete), FAILED (raised) or KILLED (interrupted)."""

import logging

import numpy as np
import optuna

from clustering import pipeline
from clustering.cache import FeatureCache
from clustering.model import fitted
from clustering.study.cell import CellData, CellSpec
from clustering.tracking import WORKER_TAG, Tracker

logger = logging.getLogger(__name__)


class Objective:
    """The Optuna objective of one cell: each call is one trial and one MLflow child run."""

    def __init__(
        self,
        cell_data: CellData,
        spec: CellSpec,
        tracker: Tracker,
        experiment_id: str,
        cell_run_id: str,
        cache: FeatureCache | None,
        worker: str | None = None,
    ):
        self.data = cell_data
        self.spec = spec
        self.tracker = tracker
        self.experiment_id = experiment_id
        self.cell_run_id = cell_run_id
        self.cache = cache
        self.worker = worker  # "host:pid", tagged on each trial run (None: untagged)

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        """Run the trial; its MLflow run ends FINISHED, FAILED (error tag) or KILLED."""
        spec = self.spec
        params = spec.params_of(trial)
        run_id = self.tracker.start_trial_run(
            self.experiment_id,
            self.cell_run_id,
            spec.study_name,
            trial.number,
            {**trial.params, "n_clusters": params["clusterer"]["n_clusters"]},
            tags={WORKER_TAG: self.worker} if self.worker else None,
        )
        label = f"[{spec.label}] trial {trial.number}"
        try:
            trial.set_user_attr("mlflow_run_id", run_id)  # a storage write: interruptible
            self.tracker.log_dataset(run_id, self.data.description())
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
        spec = self.spec
        extraction, reduction = self._embed(run_id, params, label)
        clustering = pipeline.cluster_cell(
            self.data, spec, params, reduction.embedding, _metric_progress(label)
        )
        fitted.keep_clusterer(self.cache, reduction, spec, params, clustering.clusterer)
        scores, tags = _trial_scores(clustering.scores, extraction, reduction)
        if spec.metric_sample_size is not None:
            tags["metric_sample_size"] = spec.metric_sample_size
            tags["metric_random_state"] = spec.seed
        self.tracker.log(run_id, metrics=scores, tags=tags)
        self.scores = scores
        values = [scores[name] for name in spec.objectives]
        for name, value in zip(spec.objectives, values, strict=True):
            if not np.isfinite(value):
                raise FloatingPointError(f"objective {name} is {value}")
        shown = dict.fromkeys([*spec.objectives, "hungarian_accuracy"])
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

        def on_epoch(epoch: int, logs: dict) -> None:
            numbers = {key: float(value) for key, value in logs.items()}
            self.tracker.log(run_id, metrics=numbers, step=epoch)
            logger.info("%s epoch %d: %s", label, epoch + 1, _format(numbers))

        extraction, reduction = pipeline.embed(self.data, self.spec, params, self.cache, on_epoch)
        fitted.keep(self.cache, extraction, reduction)  # for the cell's model, when best
        return extraction, reduction


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
