"""The dataset's winner in the MLflow Model Registry: among the dataset's cell runs that logged a
model, the one whose best trial scores best by a criterion (a metric copied onto the cell runs)
becomes a version of `clustering-bench-<dataset>`, with the criterion and its value as tags; a
winner already registered as the latest version is not registered again."""

import logging
import math
from dataclasses import dataclass

from clustering.errors import BenchError
from clustering.metrics import METRICS
from clustering.tracking import (
    CELL_TAG,
    CRITERION_TAG,
    MODEL_TAG,
    MODEL_URI_TAG,
    VALUE_TAG,
    VERSION_RUN_TAG,
    VERSION_TRIAL_TAG,
    Tracker,
)

logger = logging.getLogger(__name__)

SAME_WINNER = (CRITERION_TAG, VERSION_RUN_TAG, VERSION_TRIAL_TAG)  # tags equal: the same winner


def model_name(dataset: str) -> str:
    """The registered model's name for `dataset`."""
    return f"clustering-bench-{dataset}"


@dataclass
class Registration:
    """The version registered (or found already registered) and what chose it."""

    name: str
    version: str
    cell: str
    run_id: str
    model_uri: str
    criterion: str
    value: float
    new: bool


def best_cell(tracker: Tracker, dataset: str, criterion: str):
    """The cell run of `dataset`'s experiment with a logged model whose `criterion` metric is
    best (highest, or lowest for a lower-is-better metric); BenchError naming the fix when the
    experiment, the criterion or any cell with a model and that metric is missing."""
    if criterion not in METRICS.names():
        raise BenchError(
            f"unknown criterion {criterion!r}; pass --by one of {', '.join(METRICS.names())}"
        )
    experiment = tracker.experiment_by_name(dataset)
    if experiment is None:
        raise BenchError(
            f"no experiment {dataset!r} in {tracker.tracking_uri}; run `clustering-bench run "
            f"--dataset {dataset}` first or pass the --tracking-uri it used"
        )
    runs = [
        run
        for run in tracker.cell_runs(experiment.experiment_id, status="FINISHED")
        if run.data.tags.get(MODEL_URI_TAG) and _finite(run.data.metrics.get(criterion))
    ]
    if not runs:
        raise BenchError(
            f"no finished cell of {dataset!r} has a logged model and a {criterion} value; run "
            "the study to its end (or pass another --by)"
        )
    sign = 1.0 if METRICS.get(criterion).higher_is_better else -1.0
    return max(runs, key=lambda run: sign * run.data.metrics[criterion])  # ties: the first


def register_best(tracker: Tracker, dataset: str, criterion: str) -> Registration:
    """Register the best cell's model as a new version of `model_name(dataset)` unless the
    latest version is that model already."""
    run = best_cell(tracker, dataset, criterion)
    name, model_uri = model_name(dataset), run.data.tags[MODEL_URI_TAG]
    value = float(run.data.metrics[criterion])
    latest = tracker.latest_model_version(name)
    found = dict(
        name=name,
        cell=run.info.run_name,
        run_id=run.info.run_id,
        model_uri=model_uri,
        criterion=criterion,
        value=value,
    )
    tags = {
        CRITERION_TAG: criterion,
        VALUE_TAG: f"{value:.6g}",
        CELL_TAG: run.info.run_name,
        VERSION_TRIAL_TAG: run.data.tags.get(MODEL_TAG, ""),
        VERSION_RUN_TAG: run.info.run_id,
    }
    if latest is not None and all(latest.tags.get(key) == tags[key] for key in SAME_WINNER):
        return Registration(version=latest.version, new=False, **found)
    version = tracker.register_model_version(
        name,
        model_uri,
        run.info.run_id,
        tags=tags,
        description=f"{run.info.run_name}: best cell of {dataset} by {criterion} = {value:.4f}",
        model_description=f"clustering-bench: the best cell model of {dataset}",
    )
    logger.info("registered %s version %s (%s)", name, version.version, run.info.run_name)
    return Registration(version=version.version, new=True, **found)


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)
