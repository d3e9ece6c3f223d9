"""What a study tells the outside while it runs, the way Optuna's `optimize(callbacks=...)` does:
a trial started, trained an epoch, ended (with its scores, or the error that ended it) or was
lost; a cell's worker was interrupted; a cell's study ended with its best trial. The sinks that
act on them (MLflow trial runs, cell pictures, the cell's model, progress lines) subclass
`StudyCallback`, live outside `study/` and are handed to the run by the command."""

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import optuna

from clustering.cache import FeatureCache
from clustering.study.cell import CellData, CellSpec, best_trial


@dataclass
class CellEvent:
    """A cell as its events see it: the data and spec, its study, the MLflow ids of its cell
    run ("" until its trials start), this worker ("host:pid", None when untagged), the feature
    cache, how the cell run ends (FINISHED, FAILED or KILLED) when the event is its end, and
    the run its cell run nests under (None: none)."""

    cell_data: CellData
    spec: CellSpec
    study: optuna.Study
    experiment_id: str
    cell_run_id: str
    worker: str | None = None
    cache: FeatureCache | None = None
    status: str = "FINISHED"
    parent_run_id: str | None = None

    @property
    def best(self) -> optuna.trial.FrozenTrial | None:
        """The study's best complete trial (`cell.best_trial`), None when none is complete."""
        return best_trial(self.study)


@dataclass
class TrialEvent:
    """One trial of a cell: the Optuna trial, its parameters by stage (`CellSpec.params_of`),
    and once it ended, its scores and tags (also when an objective that is not finite failed
    it), its cluster labels ((n,) int) and the error that ended it (None when it completed)."""

    cell: CellEvent
    trial: optuna.Trial
    params: dict
    scores: dict | None = None
    tags: dict = field(default_factory=dict)
    labels: np.ndarray | None = None
    error: BaseException | None = None

    @property
    def label(self) -> str:
        return f"[{self.cell.spec.label}] trial {self.trial.number}"

    @property
    def interrupted(self) -> bool:
        return isinstance(self.error, KeyboardInterrupt | SystemExit)


@dataclass
class TrialLost:
    """A trial that Optuna failed without its worker saying so: its study's name, the trial
    (frozen, or the live one a worker held), its cell run (None: look the trial up by what it
    noted only), and why."""

    study_name: str
    trial: optuna.trial.FrozenTrial | optuna.Trial
    cell_run_id: str | None
    reason: str


class StudyCallback:
    """The hooks a study calls; a sink overrides those it needs (each is a no-op here). A hook
    that raises in `on_trial_start` fails the trial; the others' errors go on as they are."""

    def on_trial_start(self, event: TrialEvent) -> None:
        """Before the trial's pipeline runs."""

    def on_epoch(self, event: TrialEvent, epoch: int, logs: dict) -> None:
        """After each training epoch of the trial's extractor (`logs`: Keras' numbers)."""

    def on_trial_end(self, event: TrialEvent) -> None:
        """After the trial, complete (`event.error` None) or not."""

    def on_trial_lost(self, event: TrialLost) -> None:
        """When a trial was failed by the heartbeat or by another worker."""

    def on_cell_interrupted(self, event: CellEvent) -> None:
        """When this worker leaves the cell on Ctrl-C or SIGTERM, before the cell ends."""

    def on_cell_closing(self, event: CellEvent) -> None:
        """Once per set of trial counts, by the last worker out of the cell, under the storage
        lock before the best trial is copied onto the cell run: make what the sink wrote agree
        with the study (a trial lost meanwhile)."""

    def on_cell_end(self, event: CellEvent) -> None:
        """After `on_cell_closing`, outside the lock, once the cell run has ended."""


class Callbacks(StudyCallback):
    """Several callbacks called in turn, in the order given."""

    def __init__(self, callbacks: Sequence[StudyCallback] = ()):
        self.callbacks = list(callbacks)

    def on_trial_start(self, event: TrialEvent) -> None:
        for callback in self.callbacks:
            callback.on_trial_start(event)

    def on_epoch(self, event: TrialEvent, epoch: int, logs: dict) -> None:
        for callback in self.callbacks:
            callback.on_epoch(event, epoch, logs)

    def on_trial_end(self, event: TrialEvent) -> None:
        for callback in self.callbacks:
            callback.on_trial_end(event)

    def on_trial_lost(self, event: TrialLost) -> None:
        for callback in self.callbacks:
            callback.on_trial_lost(event)

    def on_cell_interrupted(self, event: CellEvent) -> None:
        for callback in self.callbacks:
            callback.on_cell_interrupted(event)

    def on_cell_closing(self, event: CellEvent) -> None:
        for callback in self.callbacks:
            callback.on_cell_closing(event)

    def on_cell_end(self, event: CellEvent) -> None:
        for callback in self.callbacks:
            callback.on_cell_end(event)
