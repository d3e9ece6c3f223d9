"""Each trial's cluster labels as a small artifact of its MLflow run (labels.npy), read back by
the report: logged by the Tracker, written by a real `run`, absent from older runs."""

import subprocess
import sys

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from clustering import data
from clustering.metrics import hungarian_accuracy
from clustering.report.labels import trial_labels
from clustering.tracking import LABELS_ARTIFACT, ROLE_TAG, Tracker


def test_logged_labels_read_back_equal_in_the_smallest_integer_type(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri)
    experiment = tracker.client.create_experiment("e", artifact_location=str(tmp_path / "art"))
    with_labels = tracker.client.create_run(experiment).info.run_id
    without = tracker.client.create_run(experiment).info.run_id
    many = np.arange(40000) % 33000  # beyond int16
    tracker.log_labels(with_labels, np.array([2, 0, 1, 1]))
    tracker.log_labels(without, many)
    stored = np.load(tracker.client.download_artifacts(with_labels, LABELS_ARTIFACT, str(tmp_path)))
    assert stored.dtype == np.int16
    assert trial_labels(uri, [with_labels])[with_labels].tolist() == [2, 0, 1, 1]
    assert np.array_equal(trial_labels(uri, [without])[without], many)
    bare = tracker.client.create_run(experiment).info.run_id
    assert trial_labels(uri, [bare, with_labels]).keys() == {with_labels}


@pytest.mark.slow
def test_every_trial_of_a_run_keeps_the_labels_its_accuracy_was_scored_on(tmp_path):
    command = [sys.executable, "-m", "clustering.cli", "--quiet", "run", "--limit", "300"]
    cell = ["--extractors", "raw", "--reducers", "none", "--clusterers", "kmeans", "--trials", "2"]
    done = subprocess.run(
        [*command, *cell], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "digits"]
    runs = client.search_runs([experiment.experiment_id], f"tags.`{ROLE_TAG}` = 'trial'")
    labels = trial_labels(uri, [run.info.run_id for run in runs])
    assert len(runs) == 2 and labels.keys() == {run.info.run_id for run in runs}
    y_true = data.load("digits", limit=300, seed=0).labels
    for run in runs:
        logged = run.data.metrics["hungarian_accuracy"]
        assert hungarian_accuracy(y_true, labels[run.info.run_id]) == pytest.approx(logged)
