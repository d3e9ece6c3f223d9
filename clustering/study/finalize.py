"""Before and after a cell's trials: its MLflow cell run opened (or found again) with its dataset
as input, and at the end the two stores made to agree, the best trial copied onto the cell run,
its pictures drawn and its pipeline logged as a model."""

import logging
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from clustering.cache import FeatureCache
from clustering.model.log import log_cell_model
from clustering.report import figures, pictures
from clustering.study.cell import (
    CellData,
    CellSpec,
    CellSummary,
    best_trial,
    count_states,
    open_study,
)
from clustering.study.storage import fail_stale_trials, storage_lock
from clustering.tracking import PARETO_TAG, Tracker

logger = logging.getLogger(__name__)

PICTURES_TAG = "pictures.trial_number"  # on the cell run: the trial its pictures/ show
SUMMARY_ATTR = "clustering_bench.summarized"  # the trial counts the cell run last got
CELL_RUN_ATTR = "mlflow_cell_run_id"


@dataclass
class PreparedCell:
    """A cell's spec with its study and the MLflow ids of its cell run, ready for the trial
    loop."""

    spec: CellSpec
    study: optuna.Study
    experiment_id: str
    cell_run_id: str
    trials: int  # complete trials the study is asked for


def prepare_cell(
    cell_data: CellData,
    spec: CellSpec,
    storage,
    tracker: Tracker,
    experiment_id: str,
    trials: int,
    parent_run_id: str | None = None,
) -> PreparedCell:
    """The cell's study and its MLflow cell run, each created if missing (one process at a
    time: creating them from several at once races). A resumed study finds its cell run again
    by the id it noted, in whatever experiment that run lives."""
    study = open_study(spec, storage, trials)
    cell_run_id = tracker.reopen_run(study.user_attrs.get(CELL_RUN_ATTR))
    if cell_run_id is None:
        cell_run_id = open_cell_run(cell_data, spec, tracker, experiment_id, parent_run_id)
        study.set_user_attr(CELL_RUN_ATTR, cell_run_id)
    experiment_id = tracker.client.get_run(cell_run_id).info.experiment_id
    return PreparedCell(spec, study, experiment_id, cell_run_id, trials)


def open_cell_run(
    cell_data: CellData, spec: CellSpec, tracker: Tracker, experiment_id: str, parent_run_id
) -> str:
    cell = spec
    params = {
        "dataset": cell.dataset,
        "extractor": cell.extractor,
        "reducer": cell.reducer,
        "clusterer": cell.clusterer,
        "objective": cell.objective,
        "seed": cell.seed,
        "n_clusters": ",".join(map(str, cell.n_clusters)),
        **{f"preprocessing.{key}": value for key, value in cell.preprocessing.items()},
    }
    tags = {
        "dataset": cell.dataset,
        "extractor": cell.extractor,
        "reducer": cell.reducer,
        "clusterer": cell.clusterer,
        "objective": cell.objective,
        "study_name": cell.study_name,
        "seed": cell.seed,
        "dataset_digest": cell.digest,
    }
    run_id = tracker.open_cell_run(
        experiment_id,
        cell.study_name,
        cell.label,
        params,
        tags,
        parent_run_id,
    )
    tracker.log_dataset(run_id, cell_data.description())
    return run_id


def stale_trial_handler(tracker: Tracker):
    """For make_storage's `on_stale`: mark the MLflow run of a trial failed by the heartbeat."""

    def on_stale(study, trial) -> None:
        # by number first: a re-queued trial carries its predecessor's user attributes, and a
        # worker may die between creating the run and noting its id on the trial
        cell_run_id = study.user_attrs.get(CELL_RUN_ATTR)
        run_id = tracker.find_trial_run(cell_run_id, trial.number) if cell_run_id else None
        run_id = run_id or trial.user_attrs.get("mlflow_run_id")
        if run_id:
            tracker.mark_lost(
                run_id,
                f"stale: trial {trial.number} had no heartbeat within the grace period (its "
                "worker was killed or lost); Optuna failed it and queued it again",
            )

    return on_stale


def finalize(
    cell_data: CellData,
    prepared: PreparedCell,
    tracker: Tracker,
    storage,
    seconds: float,
    status: str = "FINISHED",
    cache: FeatureCache | None = None,
) -> CellSummary:
    """If no trial of the cell is running or queued to be run (the last worker out; a known
    configuration still queued when the study has its trials is not run): make the trial runs
    agree with Optuna, copy the best trial and the counts onto the cell run (once per set of
    counts), end the cell run with `status`, draw the best trial's pictures and log its
    pipeline as the cell run's model. Returns the cell's summary either way."""
    study, cell = prepared.study, prepared.spec
    with storage_lock(storage):
        fail_stale_trials(study)
        counts = count_states(study)
        best = best_trial(study)
        summary = CellSummary(
            label=cell.label,
            complete=counts[TrialState.COMPLETE],
            failed=counts[TrialState.FAIL],
            best_value=None if best is None else best.values[0],
            seconds=seconds,
        )
        # queued trials still to run: another worker will finalize, unless this one is leaving
        # interrupted (KILLED), when nobody may come back to them
        queued = counts[TrialState.WAITING] and summary.complete < prepared.trials
        if counts[TrialState.RUNNING] or (queued and status == "FINISHED"):
            return summary
        key = [summary.complete, summary.failed]
        writes = study.user_attrs.get(SUMMARY_ATTR) != key
        if writes:
            reconcile(study, tracker, prepared.experiment_id)
            summarize(study, tracker, prepared.cell_run_id)
            study.set_user_attr(SUMMARY_ATTR, key)
        tracker.finish(prepared.cell_run_id, status)
    if writes and status == "FINISHED":
        log_cell_pictures(study, cell_data, cell, tracker, prepared.cell_run_id, cache)
        log_best_model(study, cell_data, cell, tracker, prepared.cell_run_id, cache)
    return summary


def reconcile(study: optuna.Study, tracker: Tracker, experiment_id: str) -> None:
    """Mark FAILED every trial run still RUNNING or FINISHED whose Optuna trial failed (its
    worker was lost, or recorded the run but not the trial), so both stores count alike."""
    states = {trial.number: trial.state for trial in study.get_trials(deepcopy=False)}
    for run in tracker.trial_runs(experiment_id, study.study_name):
        number = int(run.data.tags.get("optuna.trial_number", -1))
        if states.get(number) == TrialState.FAIL and run.info.status in ("RUNNING", "FINISHED"):
            tracker.mark_lost(
                run.info.run_id,
                f"lost: trial {number} failed in Optuna without its worker closing this run",
            )


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
        metrics = {**best.user_attrs.get("metrics", {}), "best_trial_number": best.number}
        tracker.log_best(cell_run_id, best.params, metrics, step=counts[TrialState.COMPLETE])
    if len(study.directions) > 1:
        pareto = sorted(trial.number for trial in study.best_trials)
        tracker.log(
            cell_run_id,
            metrics={"pareto_size": len(pareto)},
            tags={PARETO_TAG: ",".join(map(str, pareto))},
        )


def log_cell_pictures(study, cell_data, spec, tracker, cell_run_id, cache=None) -> None:
    """Draw the best complete trial's pictures (report.pictures.draw) onto the cell run under
    `pictures/`, once per best trial (tag PICTURES_TAG); a failure is logged, never raised."""
    best = best_trial(study)
    if best is None:
        return
    if tracker.client.get_run(cell_run_id).data.tags.get(PICTURES_TAG) == str(best.number):
        return
    try:
        drawn = pictures.draw(cell_data, spec, spec.params_of_trial(best), cache)
        for name, figure in drawn.items():
            tracker.log_figure(cell_run_id, figure, name, "pictures")
            figures.close(figure)
    except Exception as error:
        logger.warning(
            "pictures of %s (trial %d) failed: %s: %s",
            spec.label,
            best.number,
            type(error).__name__,
            error,
        )
        return
    tracker.log(cell_run_id, tags={PICTURES_TAG: best.number})


def log_best_model(study, cell_data, spec, tracker, cell_run_id, cache=None) -> None:
    """Log the best complete trial's pipeline as the cell run's model (model.log)."""
    best = best_trial(study)
    if best is None:
        return
    params = spec.params_of_trial(best)
    log_cell_model(cell_data, spec, params, best.number, tracker, cell_run_id, cache)


def prepare(
    cell_data: CellData, cells: list[CellSpec], services, parent_run_id: str | None = None
) -> list[PreparedCell]:
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
                tracker,
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
    parent_experiment = tracker.client.get_run(parent_run_id).info.experiment_id
    if parent_experiment == experiment_id:
        return True
    tracker.log(parent_run_id, tags={"clustering_bench.experiment": cell.dataset})
    logger.warning(
        "run %s is in another experiment than %r: its cell runs go to %r, not nested; pass "
        "--experiment-name %s to `mlflow run` to nest them",
        parent_run_id,
        cell.dataset,
        cell.dataset,
        cell.dataset,
    )
    return False
