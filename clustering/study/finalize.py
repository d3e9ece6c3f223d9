"""Before and after a cell's trials: its MLflow cell run opened (or found again) with its dataset
as input, and at the end the callbacks told the cell is closing (the trial runs made to agree
with Optuna), the best trial copied onto the cell run, and the callbacks told it ended (its
pictures, its model)."""

import dataclasses
import logging

import optuna
from optuna.trial import TrialState

from clustering.study.cell import (
    CellData,
    CellSpec,
    CellSummary,
    best_trial,
    count_states,
    open_study,
    trial_metrics,
)
from clustering.study.events import CellEvent, StudyCallback, TrialLost
from clustering.study.storage import fail_stale_trials, storage_lock
from clustering.tracking import EXPERIMENT_TAG, PARETO_TAG, Tracker

logger = logging.getLogger(__name__)

SUMMARY_ATTR = "clustering_bench.summarized"  # the trial counts the cell run last got
CELL_RUN_ATTR = "mlflow_cell_run_id"


def prepare_cell(
    cell_data: CellData,
    spec: CellSpec,
    storage,
    experiment_id: str,
    trials: int,
    parent_run_id: str | None = None,
) -> CellEvent:
    """The cell's study, created if missing (one process at a time: creating it from several
    at once races); its cell run is opened when its trials start (`start_cell`)."""
    study = open_study(spec, storage, trials)
    return CellEvent(cell_data, spec, study, experiment_id, "", parent_run_id=parent_run_id)


def start_cell(cell: CellEvent, services) -> CellEvent:
    """The cell with its MLflow cell run, opened now, under the storage lock, so that the run
    starts when the cell's trials do (`open_cell_run`)."""
    with storage_lock(services.storage):
        return open_cell_run(cell, services.tracker)


def open_cell_run(cell: CellEvent, tracker: Tracker) -> CellEvent:
    """The cell with its cell run: the one its study noted (set RUNNING again, in whatever
    experiment it lives), else a new one with the dataset as its input."""
    study = cell.study
    cell_run_id = tracker.reopen_run(study.user_attrs.get(CELL_RUN_ATTR))
    if cell_run_id is None:
        cell_run_id = tracker.open_cell_run(cell.experiment_id, cell.spec, cell.parent_run_id)
        tracker.log_dataset(cell_run_id, cell.cell_data.description())
        study.set_user_attr(CELL_RUN_ATTR, cell_run_id)
    experiment_id = tracker.experiment_of(cell_run_id)
    return dataclasses.replace(cell, cell_run_id=cell_run_id, experiment_id=experiment_id)


def stale_trial_handler(callbacks: StudyCallback):
    """For make_storage's `on_stale`: tell the callbacks a trial was failed by the heartbeat."""

    def on_stale(study, trial) -> None:
        lost = TrialLost(
            study.study_name,
            trial,
            study.user_attrs.get(CELL_RUN_ATTR),
            f"stale: trial {trial.number} had no heartbeat within the grace period (its "
            "worker was killed or lost); Optuna failed it and queued it again",
        )
        callbacks.on_trial_lost(lost)

    return on_stale


def finalize(cell: CellEvent, services, seconds: float) -> CellSummary:
    """If no trial of the cell is running or queued to be run (the last worker out; a known
    configuration still queued when the study has its `trials` is not run): once per set of
    counts, tell the callbacks the cell is closing, copy the best trial and the counts onto the
    cell run, end it with `cell.status` and tell them it ended. Returns the cell's summary
    either way."""
    study, status, trials = cell.study, cell.status, services.config.trials
    tracker, callbacks = services.tracker, services.callbacks
    with storage_lock(services.storage):
        fail_stale_trials(study)
        counts = count_states(study)
        best = best_trial(study)
        summary = CellSummary(
            label=cell.spec.label,
            complete=counts[TrialState.COMPLETE],
            failed=counts[TrialState.FAIL],
            best_value=None if best is None else best.values[0],
            seconds=seconds,
            experiment_id=cell.experiment_id,
        )
        # queued trials still to run: another worker will finalize, unless this one is leaving
        # interrupted (KILLED), when nobody may come back to them
        queued = counts[TrialState.WAITING] and summary.complete < trials
        if counts[TrialState.RUNNING] or (queued and status == "FINISHED"):
            return summary
        if not cell.cell_run_id:  # opened by another process (`run --workers N`), or none
            if not summary.complete + summary.failed:
                return summary
            cell = open_cell_run(cell, tracker)
        key = [summary.complete, summary.failed]
        writes = study.user_attrs.get(SUMMARY_ATTR) != key
        if writes:
            callbacks.on_cell_closing(cell)
            summarize(study, tracker, cell.cell_run_id)
            study.set_user_attr(SUMMARY_ATTR, key)
        tracker.finish(cell.cell_run_id, status)
    if writes:
        callbacks.on_cell_end(cell)
    return summary


def summarize(study: optuna.Study, tracker: Tracker, cell_run_id: str) -> None:
    """Copy the best complete trial's params and metrics and the trial counts onto the cell run."""
    counts = count_states(study)
    tracker.log(
        cell_run_id,
        metrics={
            "trials_complete": counts[TrialState.COMPLETE],
            "trials_failed": counts[TrialState.FAIL],
        },
    )
    best = best_trial(study)
    if best is not None:
        metrics = {**trial_metrics(best), "best_trial_number": best.number}
        tracker.log_best(cell_run_id, best.params, metrics, step=counts[TrialState.COMPLETE])
    if len(study.directions) > 1:
        pareto = sorted(trial.number for trial in study.best_trials)
        tracker.log(
            cell_run_id,
            metrics={"pareto_size": len(pareto)},
            tags={PARETO_TAG: ",".join(map(str, pareto))},
        )


def prepare(
    cell_data: CellData, cells: list[CellSpec], services, parent_run_id: str | None = None
) -> list[CellEvent]:
    """Create (or load) each cell's study, the experiment and each cell run, one process at a
    time (under the storage lock: creating them from several processes at once races)."""
    tracker = services.tracker
    with storage_lock(services.storage):
        experiment_id = tracker.experiment_id(cell_data.name)
        if parent_run_id and not _nests(tracker, parent_run_id, experiment_id, cells[0]):
            parent_run_id = None
        return [
            prepare_cell(
                cell_data,
                cell,
                services.storage,
                experiment_id,
                services.config.trials,
                parent_run_id,
            )
            for cell in cells
        ]


def _nests(tracker: Tracker, parent_run_id: str, experiment_id: str, cell: CellSpec) -> bool:
    """Whether the cell runs can nest under `parent_run_id` (the run `mlflow run` opened): only
    in the dataset's own experiment, where the README sends users; else they go there unnested
    and the parent run is tagged with where they went."""
    if tracker.experiment_of(parent_run_id) == experiment_id:
        return True
    tracker.log(parent_run_id, tags={EXPERIMENT_TAG: cell.dataset})
    logger.warning(
        "run %s is in another experiment than %r: its cell runs go to %r, not nested; pass "
        "--experiment-name %s to `mlflow run` to nest them",
        parent_run_id,
        cell.dataset,
        cell.dataset,
        cell.dataset,
    )
    return False
