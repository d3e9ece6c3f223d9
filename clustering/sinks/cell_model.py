"""A cell's model when its study ends: the best complete trial's pipeline logged on the cell
run (`model.log.log_cell_model`)."""

from clustering.model.log import log_cell_model
from clustering.study.events import CellEvent, StudyCallback
from clustering.tracking import Tracker


class CellModel(StudyCallback):
    """Logs the best trial's pipeline as the cell run's model once per best trial."""

    def __init__(self, tracker: Tracker):
        self.tracker = tracker

    def on_cell_end(self, event: CellEvent) -> None:
        best = event.best
        if event.status != "FINISHED" or best is None:
            return
        spec = event.spec
        params = spec.params_of_trial(best)
        log_cell_model(
            event.cell_data, spec, params, best.number, self.tracker, event.cell_run_id, event.cache
        )
