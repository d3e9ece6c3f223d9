"""Seeds as error bars: once a cell's study ends, its best configuration is run again with each
of the repeats' seeds (`--seeds`, or seed, seed + 1, ..., seed + N - 1 for `--repeats N`). The
stages of `--repeat-stages` (default all: extractor training, reducer, clusterer and the metric
sample) take the repeat's seed, the others keep the study's; the cache answers every stage whose
data, parameters and seed it has seen, so cells sharing an extractor share its repeats, and with
`reducer,clusterer` every repeat reads the best trial's features. The repeat whose seed is the
study's for every stage is the best trial itself: it carries the trial's own scores and fits
nothing. Each repeat is a run nested under the cell run; the cell run gets `<metric>_mean`,
`_std` (numpy's, ddof 0), `_min` and `_max` of every score over the repeats, and `repeats`."""

import dataclasses
import logging

import numpy as np

from clustering import pipeline
from clustering.config import STAGES
from clustering.study.cell import trial_metrics
from clustering.study.events import CellEvent, StudyCallback
from clustering.study.objective import trial_scores
from clustering.tracking import (
    N_CLUSTERS_PARAM,
    REPEAT_REUSED_TAG,
    REPEAT_STAGES_TAG,
    REPEAT_SUFFIXES,
    REPEATS_TAG,
    STATE_TAG,
    Tracker,
)

logger = logging.getLogger(__name__)


class Repeats(StudyCallback):
    """Runs the best trial's configuration once per seed of `seeds`, re-seeding `stages` (the
    others keep the study's seed), once per best trial, seeds and stages (tag REPEATS_TAG); a
    failure is logged (its repeat run FAILED, no aggregates), never raised."""

    def __init__(self, tracker: Tracker, seeds: list[int], stages=STAGES):
        self.tracker = tracker
        self.seeds = list(seeds)
        self.stages = tuple(stages)

    def done_tag(self, event: CellEvent, best) -> str:
        """REPEATS_TAG's value once these repeats of `best` are logged: "3x5" for `--repeats 5`
        of trial 3 with every stage re-seeded, with the seeds and stages appended otherwise."""
        done = f"{best.number}x{len(self.seeds)}"
        default = [event.spec.seed + offset for offset in range(len(self.seeds))]
        if self.seeds != default or self.stages != STAGES:
            done += f":{','.join(map(str, self.seeds))}:{','.join(self.stages)}"
        return done

    def on_cell_end(self, event: CellEvent) -> None:
        best = event.best
        if event.status != "FINISHED" or best is None:
            return
        done = self.done_tag(event, best)
        if self.tracker.tags(event.cell_run_id).get(REPEATS_TAG) == done:
            return
        try:
            scores = [self.repeat(event, best, seed) for seed in self.seeds]
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
        """The scores of the best configuration with the seed `seed` for `stages`, logged on a
        run nested under the cell run."""
        spec = event.spec
        params = spec.params_of_trial(best)
        logged = {**best.params, N_CLUSTERS_PARAM: params["clusterer"]["n_clusters"]}
        run_id = self.tracker.start_repeat_run(event.cell_run_id, spec.study_name, seed, logged)
        seeds = {stage: seed if stage in self.stages else spec.seed for stage in STAGES}
        reused = trial_metrics(best) if set(seeds.values()) == {spec.seed} else {}
        try:
            if reused:
                scores, tags = reused, {REPEAT_REUSED_TAG: str(best.number)}
            else:
                scores, tags = self.scores(event, params, seeds)
        except BaseException as error:
            interrupted = isinstance(error, KeyboardInterrupt | SystemExit)
            self.tracker.finish(run_id, "KILLED" if interrupted else "FAILED")
            raise
        tags = {**tags, STATE_TAG: "COMPLETE", REPEAT_STAGES_TAG: ",".join(self.stages)}
        self.tracker.log(run_id, metrics=scores, tags=tags)
        self.tracker.finish(run_id)
        logger.info(
            "[%s] repeat with seed %d: hungarian_accuracy=%.4f%s",
            event.spec.label,
            seed,
            scores["hungarian_accuracy"],
            f" (trial {best.number}'s own scores)" if reused else "",
        )
        return scores

    @staticmethod
    def scores(event: CellEvent, params: dict, seeds: dict) -> tuple[dict, dict]:
        """The trial scores and cache tags of the cell's pipeline with `params` and each stage's
        seed from `seeds` (stage -> seed)."""
        data = event.cell_data
        extraction, reduction = pipeline.embed(data, event.spec, params, event.cache, seeds=seeds)
        spec = dataclasses.replace(event.spec, seed=seeds["clusterer"])
        clustering = pipeline.cluster_cell(data, spec, params, reduction.embedding)
        return trial_scores(clustering.scores, extraction, reduction)


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
