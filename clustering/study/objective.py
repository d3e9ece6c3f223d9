"""The Optuna objective of one cell: each call is one trial, told to the callbacks as it
starts, trains, and ends complete, failed (raised) or interrupted."""

import logging

import numpy as np
import optuna

from clustering import interrupts, pipeline
from clustering.model import fitted
from clustering.study.cell import set_metric_attrs
from clustering.study.events import CellEvent, StudyCallback, TrialEvent
from clustering.tracking import (
    EMBEDDING_CACHE_TAG,
    FEATURE_CACHE_TAG,
    SAMPLE_SEED_TAG,
    SAMPLE_SIZE_TAG,
)

logger = logging.getLogger(__name__)


class Objective:
    """The Optuna objective of one cell (`cell`: its data, spec, runs, worker and cache)."""

    def __init__(self, cell: CellEvent, callbacks: StudyCallback):
        self.cell = cell
        self.callbacks = callbacks

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        """Run the trial; the callbacks hear its start, its epochs and its end (with the
        error, re-raised, when it fails or is interrupted)."""
        event = TrialEvent(self.cell, trial, self.cell.spec.params_of(trial))
        try:
            self.callbacks.on_trial_start(event)
            value = self._evaluate(event)
            interrupts.check()  # an interrupt swallowed during the trial fails it still
            set_metric_attrs(trial, event.scores)
        except BaseException as error:
            event.error = error
            self.callbacks.on_trial_end(event)
            raise
        self.callbacks.on_trial_end(event)
        return value

    def _evaluate(self, event: TrialEvent) -> float | list[float]:
        """Extract and reduce (cached), cluster and score; `event.scores` and `event.tags`
        hold every score and the cache tags; returns the objective's value (a list of them
        for several)."""
        cell_data, spec, cache = self.cell.cell_data, self.cell.spec, self.cell.cache
        params = event.params
        extraction, reduction = pipeline.embed(
            cell_data,
            spec,
            params,
            cache,
            lambda epoch, logs: self.callbacks.on_epoch(event, epoch, logs),
        )
        interrupts.check()
        fitted.keep(cache, extraction, reduction)  # for the cell's model, when best
        clustering = pipeline.cluster_cell(
            cell_data, spec, params, reduction.embedding, _metric_progress(event.label)
        )
        fitted.keep_clusterer(cache, reduction, spec, params, clustering.clusterer)
        event.scores, event.tags = trial_scores(clustering.scores, extraction, reduction)
        event.labels = clustering.labels
        if spec.metric_sample_size is not None:
            event.tags[SAMPLE_SIZE_TAG] = spec.metric_sample_size
            event.tags[SAMPLE_SEED_TAG] = spec.seed
        values = [event.scores[name] for name in spec.objectives]
        for name, value in zip(spec.objectives, values, strict=True):
            if not np.isfinite(value):
                raise FloatingPointError(f"objective {name} is {value}")
        return float(values[0]) if len(values) == 1 else [float(value) for value in values]


def trial_scores(scores: dict, extraction, reduction) -> tuple[dict, dict]:
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
        FEATURE_CACHE_TAG: "hit" if extraction.cache_hit else "miss",
        EMBEDDING_CACHE_TAG: "hit" if reduction.cache_hit else "miss",
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
