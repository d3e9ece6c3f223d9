"""The MLflow side of a study's trials: one child run per trial nested under its cell run, with
its parameters, dataset input, training epochs, scores and how it ended; runs of trials Optuna
failed without their worker saying so marked FAILED, so both stores count alike."""

import logging

from optuna.trial import TrialState

from clustering.study.events import CellEvent, StudyCallback, TrialEvent, TrialLost
from clustering.tracking import (
    ERROR_TAG,
    N_CLUSTERS_PARAM,
    STATE_TAG,
    TRIAL_NUMBER_TAG,
    WORKER_TAG,
    Tracker,
)

logger = logging.getLogger(__name__)

RUN_ID_ATTR = "mlflow_run_id"  # the Optuna user attribute naming a trial's MLflow run


class TrialRuns(StudyCallback):
    """Writes each trial as an MLflow run through `tracker`."""

    def __init__(self, tracker: Tracker):
        self.tracker = tracker
        self.run_ids: dict[tuple[str, int], str] = {}  # (study, trial number) -> its open run

    def on_trial_start(self, event: TrialEvent) -> None:
        """Open the trial's run (parameters, worker tag), note its id on the trial and log the
        dataset as its input (failing or interrupted meanwhile, `on_trial_end` closes it)."""
        cell, trial = event.cell, event.trial
        run_id = self.tracker.start_trial_run(
            cell.experiment_id,
            cell.cell_run_id,
            cell.spec.study_name,
            trial.number,
            {**trial.params, N_CLUSTERS_PARAM: event.params["clusterer"]["n_clusters"]},
            tags={WORKER_TAG: cell.worker} if cell.worker else None,
        )
        self.run_ids[cell.spec.study_name, trial.number] = run_id
        trial.set_user_attr(RUN_ID_ATTR, run_id)  # a storage write: interruptible
        self.tracker.log_dataset(run_id, cell.cell_data.description())

    def on_epoch(self, event: TrialEvent, epoch: int, logs: dict) -> None:
        numbers = {key: float(value) for key, value in logs.items()}
        self.tracker.log(self._run_id(event), metrics=numbers, step=epoch)

    def on_trial_end(self, event: TrialEvent) -> None:
        """The trial's scores and cache tags, its Optuna state, and the run ended FINISHED,
        FAILED (with the error as a tag) or KILLED; nothing when the run was never opened (its
        start failed, and `Tracker.start_trial_run` ended what it had made)."""
        run_id = self.run_ids.pop((event.cell.spec.study_name, event.trial.number), None)
        if run_id is None:
            return
        if event.scores is not None:
            self.tracker.log(run_id, metrics=event.scores, tags=event.tags)
        if event.labels is not None:
            self.tracker.log_labels(run_id, event.labels)
        if event.error is None:
            self.tracker.log(run_id, tags={STATE_TAG: "COMPLETE"})
            self.tracker.finish(run_id, "FINISHED")
            return
        reason = f"{type(event.error).__name__}: {event.error}".strip()
        self.tracker.log(run_id, tags={STATE_TAG: "FAIL", ERROR_TAG: reason})
        self.tracker.finish(run_id, "KILLED" if event.interrupted else "FAILED")

    def on_trial_lost(self, event: TrialLost) -> None:
        """Mark the lost trial's run FAILED: found by number under its cell run first (a
        re-queued trial carries its predecessor's user attributes, and a worker may die
        between creating the run and noting its id on the trial), else by the id it noted."""
        run_id = None
        if event.cell_run_id:
            run_id = self.tracker.find_trial_run(event.cell_run_id, event.trial.number)
        run_id = run_id or event.trial.user_attrs.get(RUN_ID_ATTR)
        if run_id:
            self.tracker.mark_lost(run_id, event.reason)

    def on_cell_interrupted(self, event: CellEvent) -> None:
        """Close as KILLED this worker's trial runs still RUNNING: an interrupt between creating
        a run and handling the trial's end would leave one (other workers' runs go on)."""
        for run in self.tracker.trial_runs(event.experiment_id, event.spec.study_name):
            if run.info.status == "RUNNING" and run.data.tags.get(WORKER_TAG) == event.worker:
                self.tracker.finish(run.info.run_id, "KILLED")

    def on_cell_closing(self, event: CellEvent) -> None:
        """Mark FAILED every trial run still RUNNING or FINISHED whose Optuna trial failed (its
        worker was lost, or recorded the run but not the trial)."""
        study = event.study
        states = {trial.number: trial.state for trial in study.get_trials(deepcopy=False)}
        for run in self.tracker.trial_runs(event.experiment_id, study.study_name):
            number = int(run.data.tags.get(TRIAL_NUMBER_TAG, -1))
            if states.get(number) == TrialState.FAIL and run.info.status in ("RUNNING", "FINISHED"):
                self.tracker.mark_lost(
                    run.info.run_id,
                    f"lost: trial {number} failed in Optuna without its worker closing this run",
                )

    def _run_id(self, event: TrialEvent) -> str:
        return self.run_ids[event.cell.spec.study_name, event.trial.number]
