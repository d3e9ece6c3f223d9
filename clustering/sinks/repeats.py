"""Seeds as error bars: once a cell's study ends, its best configuration is run again with the
seeds seed, seed + 1, ..., seed + N - 1 (each stage, extractor training, reducer and clusterer,
with that seed; the cache answers every stage whose data, parameters and seed it has seen, so the
first repeat re-uses the best trial's fits and cells sharing an extractor share its repeats).
Each repeat is a run nested under the cell run; the cell run gets `<metric>_mean`, `_std`
(numpy's, ddof 0), `_min` and `_max` of every score over the repeats, and `repeats`."""

import dataclasses
import logging

import numpy as np

from clustering import pipeline
from clustering.study.events import CellEvent, StudyCallback
from clustering.study.objective import trial_scores
from clustering.tracking import (
    N_CLUSTERS_PARAM,
    REPEAT_SUFFIXES,
    REPEATS_TAG,
    STATE_TAG,
    Tracker,
)

logger = logging.getLogger(__name__)


class Repeats(StudyCallback):
    """Runs the best trial's configuration `n` times, once per best trial (tag REPEATS_TAG); a
    failure is logged (its repeat run FAILED, no aggregates), never raised."""

    def __init__(self, tracker: Tracker, n: int):
        self.tracker = tracker
        self.n = n

    def on_cell_end(self, event: CellEvent) -> None:
        best = event.best
        if event.status != "FINISHED" or best is None:
            return
        done = f"{best.number}x{self.n}"
        if self.tracker.tags(event.cell_run_id).get(REPEATS_TAG) == done:
            return
        seeds = [event.spec.seed + offset for offset in range(self.n)]
        try:
            scores = [self.repeat(event, best, seed) for seed in seeds]
        except Exception as error:
            logger.warning(
                "repeats of %s (trial %d) failed: %s: %s",
                event.spec.label,
                best.number,
                type(error).__name__,
                error,
            )
            return
        self.tracker.log(event.cell_run_id, metrics={**aggregate(scores), "repeats": len(scores)})
        self.tracker.log(event.cell_run_id, tags={REPEATS_TAG: done})

    def repeat(self, event: CellEvent, best, seed: int) -> dict:
        """The scores of the best configuration with every stage's seed `seed`, logged on a
        run nested under the cell run."""
        spec = dataclasses.replace(event.spec, seed=seed)
        params = spec.params_of_trial(best)
        logged = {**best.params, N_CLUSTERS_PARAM: params["clusterer"]["n_clusters"]}
        run_id = self.tracker.start_repeat_run(event.cell_run_id, spec.study_name, seed, logged)
        try:
            extraction, reduction = pipeline.embed(event.cell_data, spec, params, event.cache)
            clustering = pipeline.cluster_cell(event.cell_data, spec, params, reduction.embedding)
            scores, tags = trial_scores(clustering.scores, extraction, reduction)
        except BaseException as error:
            interrupted = isinstance(error, KeyboardInterrupt | SystemExit)
            self.tracker.finish(run_id, "KILLED" if interrupted else "FAILED")
            raise
        self.tracker.log(run_id, metrics=scores, tags={**tags, STATE_TAG: "COMPLETE"})
        self.tracker.finish(run_id)
        logger.info(
            "[%s] repeat with seed %d: hungarian_accuracy=%.4f",
            event.spec.label,
            seed,
            scores["hungarian_accuracy"],
        )
        return scores


def aggregate(scores: list[dict]) -> dict:
    """`<name>_mean`, `_std` (ddof 0), `_min`, `_max` of each score present in every repeat."""
    names = [name for name in scores[0] if all(name in s for s in scores)]
    aggregated = {}
    for name in names:
        values = np.asarray([s[name] for s in scores], dtype=np.float64)
        for suffix, value in zip(
            REPEAT_SUFFIXES, (values.mean(), values.std(), values.min(), values.max()), strict=True
        ):
            aggregated[f"{name}_{suffix}"] = float(value)
    return aggregated
