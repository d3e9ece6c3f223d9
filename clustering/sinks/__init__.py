"""The sinks a run registers on its studies (`study.events.StudyCallback`): MLflow trial runs,
progress lines, the cell's pictures and the cell's model, in the order they are called."""

from clustering.sinks.cell_model import CellModel
from clustering.sinks.cell_pictures import CellPictures
from clustering.sinks.progress import ProgressLines
from clustering.sinks.trial_runs import TrialRuns
from clustering.tracking import Tracker


def run_sinks(tracking_uri: str) -> list:
    """The sinks of `clustering-bench run` and `worker`, writing to `tracking_uri`."""
    tracker = Tracker(tracking_uri)
    return [TrialRuns(tracker), ProgressLines(), CellPictures(tracker), CellModel(tracker)]


__all__ = ["CellModel", "CellPictures", "ProgressLines", "TrialRuns", "run_sinks"]
