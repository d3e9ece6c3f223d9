"""Each trial's cluster labels, read back from its MLflow run's `labels.npy` artifact (logged by
the run since labels were kept; older runs have none), for the criteria computed after the fact
over all the trials of a dataset (the consensus)."""

import logging

import numpy as np
import pandas as pd

from clustering.metrics import consensus
from clustering.tracking import Tracker

logger = logging.getLogger(__name__)


def trial_labels(tracking_uri: str, run_ids) -> dict[str, np.ndarray]:
    """run id -> that run's cluster labels (n,) int64, for each of `run_ids` whose run logged
    them; runs without the artifact are left out."""
    tracker = Tracker(tracking_uri)
    run_ids = list(run_ids)
    read = {run_id: tracker.read_labels(run_id) for run_id in run_ids}
    found = {run_id: labels for run_id, labels in read.items() if labels is not None}
    logger.debug("read the labels of %d of %d trial runs", len(found), len(run_ids))
    return found


def with_consensus(trials: pd.DataFrame, labels: dict[str, np.ndarray]) -> pd.DataFrame:
    """`trials` (the trials table) with its `consensus` column computed after the fact: each
    complete trial's mean NMI to every other complete trial clustering the same number of
    images, from `labels` (run id -> labels (n,), trial_labels), rounded to 12 decimals so that
    copies of one clustering tie; NaN for a trial without labels or without another to compare
    with."""
    trials = trials.copy()
    trials["consensus"] = np.nan
    done = trials[(trials["state"] == "COMPLETE") & trials["run_id"].isin(labels.keys())]
    sizes = done["run_id"].map(lambda run_id: len(labels[run_id]))
    for _, group in done.groupby(sizes):
        if len(group) >= 2:
            stacked = np.stack([labels[run_id] for run_id in group["run_id"]])
            trials.loc[group.index, "consensus"] = np.round(consensus(stacked), 12)
    return trials


def trials_with_consensus(tracking_uri: str, trials: pd.DataFrame) -> pd.DataFrame:
    """`trials` with its consensus column, from the labels kept on the complete trials' runs."""
    done = trials.loc[trials["state"] == "COMPLETE", "run_id"]
    return with_consensus(trials, trial_labels(tracking_uri, list(done)))
