"""clustering.study.loop with one process per command on the default SQLite stores: a run
killed mid-trial is reclaimed by the next, and runs started together share one trial count."""

import os
import signal
import subprocess
import time

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.study.test_workers import (
    CLI,
    FAST_FAULTS,
    assert_retried,
    check_counts,
    end,
    fresh_running_trial,
    mnist_cell,
    start,
    state_of,
)

pytestmark = pytest.mark.slow  # see pyproject.toml's markers


def run_one_cell(tmp_path, cell: str, trials: int, *options) -> None:
    """`run` one "extractor:reducer:clusterer" cell on 300 digits in tmp_path with `options`;
    it must exit 0."""
    extractor, reducer, clusterer = cell.split(":")
    stages = ["--extractors", extractor, "--reducers", reducer, "--clusterers", clusterer]
    command = [*CLI, "--quiet", "run", "--limit", "300", *stages, "--trials", str(trials)]
    done = subprocess.run(
        [*command, *options], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]


def only_study(storage) -> optuna.Study:
    """The one study in `storage`."""
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage)


def test_a_sigkilled_run_is_closed_and_completed_by_the_next_run(tmp_path, large_mnist):
    """SIGKILL leaves the trial RUNNING in both stores; the same command, past the grace
    period, fails it (FAILED in MLflow, with the reason), runs it again and completes the study."""
    command = [*CLI, "run", *mnist_cell(large_mnist, 4), *FAST_FAULTS]
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = start(command, tmp_path, "first")
    try:
        _, killed = fresh_running_trial(client, {first.pid}, watch=[first])
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        end([first])
    number = int(killed.data.tags["optuna.trial_number"])
    assert state_of(storage, number) == TrialState.RUNNING
    time.sleep(6)  # past the 5 s grace period
    second = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    check_counts(storage, client, 4)
    assert_retried(storage, number)
    run = client.get_run(killed.info.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["error"].startswith("stale: ")


def test_two_runs_started_together_on_a_fresh_folder_share_the_trial_count(tmp_path):
    """Both create the SQLite stores at the same moment (one at a time, under a lock), both
    exit 0, and the study ends with --trials complete trials, not twice as many."""
    command = [
        *CLI,
        "--quiet",
        "run",
        "--extractors",
        "raw",
        "--reducers",
        "none",
        "--clusterers",
        "kmeans",
        "--trials",
        "4",
    ]
    processes = [start(command, tmp_path, name) for name in ("a", "b")]
    try:
        codes = [process.wait(timeout=300) for process in processes]
    finally:
        end(processes)
    logs = {name: (tmp_path / f"{name}.log").read_text()[-2000:] for name in ("a", "b")}
    assert codes == [0, 0], logs
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    check_counts(f"sqlite:///{tmp_path / 'optuna.db'}", client, 4)


def test_a_multi_objective_study_names_its_objectives_and_keeps_its_pareto_set(tmp_path):
    """--objective asc,dunn: two directions, both names stored on the study (what
    optuna-dashboard shows), and the cell run carries the Pareto-optimal trial numbers."""
    run_one_cell(tmp_path, "raw:none:kmeans", 4, "--objective", "asc,dunn")
    study = only_study(f"sqlite:///{tmp_path / 'optuna.db'}")
    assert study.metric_names == ["asc", "dunn"]
    assert len(study.directions) == 2
    pareto = sorted(trial.number for trial in study.best_trials)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (cell,) = client.search_runs(
        [client.get_experiment_by_name("digits").experiment_id],
        filter_string="tags.`clustering_bench.role` = 'cell'",
    )
    assert cell.data.tags["pareto_trials"] == ",".join(map(str, pareto))
    for trial in study.best_trials:
        dominated = [
            other
            for other in study.trials
            if other.values[0] > trial.values[0] and other.values[1] > trial.values[1]
        ]
        assert not dominated


def test_a_multi_objective_study_refuses_criteria_that_need_the_labels(tmp_path):
    command = [*CLI, "--quiet", "run", "--extractors", "raw", "--objective", "asc,nmi"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "label-free criteria only, and nmi needs the labels" in done.stderr


def test_searching_the_clusterer_only_fits_each_extractor_configuration_once(tmp_path):
    """--search clusterer: after the queued configurations, every trial keeps the best trial's
    extractor parameters (so the cache serves its features) and the sampler draws the
    clusterer's."""
    run_one_cell(tmp_path, "dense_ae:none:kmeans", 5, "--search", "clusterer")
    study = only_study(f"sqlite:///{tmp_path / 'optuna.db'}")
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 5

    def extractor_params(trial):
        return {k: v for k, v in trial.params.items() if k.startswith("dense_ae.")}

    queued = 3  # the original configuration, the n2d preset, scikit-learn's K-means
    for trial in trials[queued:]:
        earlier = [t for t in trials if t.number < trial.number]
        best = max(earlier, key=lambda t: t.value)
        assert extractor_params(trial) == extractor_params(best)
        assert {"kmeans.init", "kmeans.n_init"} <= set(trial.params)
    distinct = {tuple(sorted(extractor_params(t).items())) for t in trials}
    assert len(distinct) == 2  # the default and the n2d preset, each fitted once
    features = list((tmp_path / ".feature-cache").glob("*.npz"))
    assert len(features) == 3  # the reference embedding and the two extractor fits


def test_search_names_stages(tmp_path):
    command = [*CLI, "--quiet", "run", "--search", "encoder,clusterer"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "--search encoder,clusterer: choose one or more of extractor, reducer, clusterer" in (
        done.stderr
    )
    assert not (tmp_path / "mlflow.db").exists()


def test_two_workers_searching_the_clusterer_only_share_the_extractor_fits(tmp_path):
    """--workers 2 --search clusterer on a journal storage: the held extractor parameters are
    queued under the storage's lock, so the study still ends with --trials complete trials and
    no worker draws an extractor configuration of its own."""
    journal = tmp_path / "optuna.log"
    options = ["--workers", "2", "--storage", f"journal:{journal}"]
    run_one_cell(tmp_path, "dense_ae:none:gmm", 6, "--search", "clusterer", *options)
    backend = optuna.storages.journal.JournalFileBackend(str(journal))
    study = only_study(optuna.storages.JournalStorage(backend))
    trials = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(trials) == 6
    configurations = {
        tuple(sorted((k, v) for k, v in t.params.items() if k.startswith("dense_ae.")))
        for t in trials
    }
    assert len(configurations) == 2  # the default and the n2d preset, queued first
    assert len({tuple(sorted(t.params.items())) for t in trials}) > 2  # the mixture was searched
