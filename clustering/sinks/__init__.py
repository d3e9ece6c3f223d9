"""The sinks a run registers on its studies (`study.events.StudyCallback`): MLflow trial runs,
progress lines, the cell's pictures and the cell's model, in the order they are called."""

from clustering.sinks.cell_model import CellModel
from clustering.sinks.cell_pictures import CellPictures
from clustering.sinks.progress import ProgressLines
from clustering.sinks.repeats import Repeats
from clustering.sinks.trial_runs import TrialRuns
from clustering.tracking import Tracker


def run_sinks(config) -> list:
    """The sinks of `clustering-bench run` and `worker` for `config` (a validated RunConfig),
    writing to its tracking store; Repeats when it asks for repeats."""
    tracker = Tracker(config.tracking_uri)
    sinks = [TrialRuns(tracker), ProgressLines(), CellPictures(tracker), CellModel(tracker)]
    if config.repeat_seeds():
        sinks.append(Repeats(tracker, config.repeat_seeds(), config.repeat_stages))
    return sinks


__all__ = ["CellModel", "CellPictures", "ProgressLines", "Repeats", "TrialRuns", "run_sinks"]
