"""Workers on real services: three workers on PostgreSQL + an MLflow server and on a journal file,
one killed with SIGKILL mid-trial, others stopped with SIGTERM; an outage mid-run; unreachable
stores at start. The counts in Optuna and MLflow must agree with what was asked."""

import functools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from clustering import data
from clustering.cache import FeatureCache
from clustering.cli import main
from clustering.reference import cached_reference_embedding
from clustering.study.storage import make_storage
from clustering.tracking import ROLE_TAG, STUDY_TAG, WORKER_TAG
from tests.services import free_port

pytestmark = pytest.mark.slow  # see pyproject.toml's markers

CLI = [sys.executable, "-m", "clustering.cli"]
FAST_FAULTS = ["--heartbeat-interval", "1", "--grace-period", "5", "--retries", "2"]


def mnist_cell(large_mnist, trials: int) -> list[str]:
    """raw x kmeans on 3,000 MNIST images (of tests/conftest.py's large_mnist: the 1,000 real
    ones and shifted, noisy copies): trials of 1 to 5 s, long enough to kill one midway. The
    cache folder holds the data's reference embedding, so no process spends time on it."""
    data = ["--dataset", "mnist", "--data-dir", str(large_mnist), "--limit", "3000"]
    cell = ["--extractors", "raw", "--reducers", "none", "--clusterers", "kmeans"]
    cache = ["--cache-dir", str(reference_cache(large_mnist))]
    return [*data, *cell, "--trials", str(trials), *cache]


@functools.cache
def reference_cache(large_mnist: Path) -> Path:
    """A cache folder beside the images holding the reference embedding of mnist_cell's 3,000
    images (computed once per session, as a run computes it)."""
    folder = large_mnist.parent / "reference-cache"
    dataset = data.load("mnist", data_dir=large_mnist, limit=3000, seed=0)
    cached_reference_embedding(
        data.preprocess(dataset.images),
        digest=dataset.digest,
        preprocessing={"split": "test", "limit": 3000, "color": False},
        random_state=0,
        cache=FeatureCache(folder),
    )
    return folder


def start(command: list[str], folder, name: str) -> subprocess.Popen:
    """A CLI process in its own session, its output in folder/name.log."""
    with open(folder / f"{name}.log", "w") as log:
        return subprocess.Popen(
            command,
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )


def end(processes) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def runs(client: MlflowClient, role: str = "trial", study: str | None = None) -> list:
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    query = f"tags.`{ROLE_TAG}` = '{role}'"
    if study:
        query += f" and tags.`{STUDY_TAG}` = '{study}'"
    return client.search_runs(experiments, filter_string=query, max_results=1000)


def fresh_running_trial(client: MlflowClient, pids, watch=(), timeout: float = 240):
    """(pid, run) of a trial run RUNNING in one of `pids` that started under 0.6 s ago with
    kmeans.n_init >= 3 (a second or more of clustering), so most of it is still ahead.
    Fails at once if a process in `watch` ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ended = [process.args for process in watch if process.poll() is not None]
        assert not ended, f"ended before a trial could be interrupted: {ended}"
        try:
            found = runs(client)
        except Exception:  # the store is being created or is busy
            found = []
        for run in found:
            pid = int(run.data.tags.get(WORKER_TAG, ":0").rpartition(":")[2])
            fresh = time.time() * 1000 - run.info.start_time < 600
            slow = int(run.data.params.get("kmeans.n_init", 0)) >= 3
            if run.info.status == "RUNNING" and pid in pids and fresh and slow:
                return pid, run
        time.sleep(0.1)
    raise AssertionError(f"no fresh trial of {pids} within {timeout} s")


class ChildrenOf:
    """The processes whose parent is `pid` (read from /proc when asked)."""

    def __init__(self, pid: int):
        self.pid = pid

    def __contains__(self, pid: int) -> bool:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return int(stat.rsplit(")", 1)[1].split()[1]) == self.pid

    def __repr__(self) -> str:
        return f"the children of {self.pid}"


def load(storage_url: str) -> optuna.Study:
    storage = make_storage(storage_url)
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage)


def study_trials(storage_url: str) -> list:
    return load(storage_url).get_trials()


def state_of(storage_url: str, number: int) -> TrialState:
    return next(t.state for t in study_trials(storage_url) if t.number == number)


def check_counts(storage_url: str, client: MlflowClient, trials: int) -> Counter:
    """Exactly `trials` complete in Optuna and finished in MLflow, nothing left running, every
    Optuna failure a failed or killed MLflow run. Returns the Optuna state counts."""
    study = load(storage_url)
    states = Counter(t.state for t in study.get_trials())
    statuses = Counter(run.info.status for run in runs(client, study=study.study_name))
    assert states[TrialState.COMPLETE] == trials, states
    assert states[TrialState.RUNNING] == states[TrialState.WAITING] == 0, states
    assert statuses["FINISHED"] == trials, statuses
    assert statuses["RUNNING"] == 0, statuses
    assert statuses["FAILED"] + statuses["KILLED"] == states[TrialState.FAIL], (states, statuses)
    (cell,) = runs(client, "cell", study.study_name)
    assert cell.info.status == "FINISHED"
    assert cell.data.metrics["trials_complete"] == trials
    return states


def assert_retried(storage_url: str, number: int, completed: bool = True) -> None:
    """Trial `number` failed and was queued again with the same parameters (and completed)."""
    trials = {t.number: t for t in study_trials(storage_url)}
    assert trials[number].state == TrialState.FAIL
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == number]
    assert retries and retries[-1].params == trials[number].params
    if completed:
        assert retries[-1].state == TrialState.COMPLETE


def test_three_workers_on_postgresql_and_mlflow_server_survive_a_sigkill(
    postgres, mlflow_server, large_mnist, tmp_path
):
    storage, trials = postgres.create_database("sigkill"), 6
    client = MlflowClient(mlflow_server.uri)
    command = [
        *CLI,
        "run",
        "--workers",
        "3",
        *mnist_cell(large_mnist, trials),
        "--storage",
        storage,
        "--tracking-uri",
        mlflow_server.uri,
        *FAST_FAULTS,
    ]
    run = start(command, tmp_path, "run")
    try:
        pid, victim = fresh_running_trial(client, ChildrenOf(run.pid), [run])
        os.kill(pid, signal.SIGKILL)
        number = int(victim.data.tags["optuna.trial_number"])
        assert state_of(storage, number) == TrialState.RUNNING  # killed mid-trial
        code = run.wait(timeout=300)
    finally:
        end([run])
    log = (tmp_path / "run.log").read_text()
    assert code == 0, log[-3000:]
    states = check_counts(storage, client, trials)
    assert_retried(storage, number)
    lost = client.get_run(victim.info.run_id)
    assert lost.info.status == "FAILED"
    assert lost.data.tags["error"].startswith("stale")
    assert "lost its worker" in log
    print(f"postgresql kill test: optuna {dict(states)}")


def test_journal_workers_survive_sigkill_and_sigterm_and_the_same_command_resumes(
    large_mnist, tmp_path
):
    storage, trials = f"journal:{tmp_path / 'optuna.log'}", 6
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking)
    command = [
        *CLI,
        "worker",
        *mnist_cell(large_mnist, trials),
        "--storage",
        storage,
        "--tracking-uri",
        tracking,
        *FAST_FAULTS,
    ]
    workers = {}
    try:
        for name in ("a", "b", "c"):  # all at once: the study and cell run are created once
            process = start(command, tmp_path, name)
            workers[process.pid] = process
        victims = {}
        for sig in (signal.SIGKILL, signal.SIGTERM):
            alive = {pid for pid in workers if pid not in victims}
            pid, run = fresh_running_trial(client, alive, [workers[pid] for pid in alive])
            os.kill(pid, sig)
            victims[pid] = (sig, int(run.data.tags["optuna.trial_number"]), run.info.run_id)
        codes = {
            victims.get(pid, ("last",))[0]: process.wait(timeout=240)
            for pid, process in workers.items()
        }
    finally:
        end(workers.values())
    logs = "".join(path.read_text() for path in tmp_path.glob("?.log"))
    assert codes == {
        signal.SIGKILL: -signal.SIGKILL,
        signal.SIGTERM: 128 + signal.SIGTERM,
        "last": 0,
    }, (codes, logs)
    states = check_counts(storage, client, trials)  # the last worker completed the study
    assert states[TrialState.FAIL] >= 2
    for sig, number, run_id in victims.values():
        if sig == signal.SIGKILL:  # failed by the heartbeat, re-run by the last worker
            assert_retried(storage, number)
            assert client.get_run(run_id).info.status == "FAILED"
        else:  # failed cleanly by the worker itself, its run closed as KILLED
            assert state_of(storage, number) == TrialState.FAIL, logs
            assert client.get_run(run_id).info.status == "KILLED"
    assert "interrupted by SIGTERM" in logs
    assert main(command[len(CLI) :]) == 0  # the same command again: nothing left to run
    assert check_counts(storage, client, trials) == states
    print(f"journal kill test: optuna {dict(states)}")


def test_storage_lost_mid_run_retries_then_stops_and_nothing_counts_twice(
    postgres, mlflow_server, large_mnist, tmp_path
):
    storage, trials = postgres.create_database("outage"), 4
    client = MlflowClient(mlflow_server.uri)
    command = [
        *CLI,
        "worker",
        *mnist_cell(large_mnist, trials),
        "--seed",
        "1",
        "--storage",
        storage,
        "--tracking-uri",
        mlflow_server.uri,
        *FAST_FAULTS,
    ]
    worker = start(command, tmp_path, "worker")
    try:
        _, victim = fresh_running_trial(client, {worker.pid}, [worker])
        postgres.stop("immediate")
        try:
            code = worker.wait(timeout=120)
        finally:
            postgres.start()
    finally:
        end([worker])
    last = (tmp_path / "worker.log").read_text().strip().splitlines()[-1]
    assert code == 2, last
    assert last.startswith("clustering-bench: error: gave up after 2 retries")
    assert f"the Optuna storage {storage} is unreachable" in last
    failed = client.get_run(victim.info.run_id)
    assert failed.info.status == "FAILED" and failed.data.tags["error"]
    assert main(command[len(CLI) :]) == 0  # the same command again, in this process
    check_counts(storage, client, trials)


@pytest.mark.parametrize("down", ["storage", "tracking"])
@pytest.mark.parametrize("command", [["run", "--workers", "2"], ["worker"]])
def test_a_store_unreachable_at_start_is_one_line_naming_it_and_exit_2(
    down, command, tmp_path, capsys
):
    url = f"http://127.0.0.1:{free_port()}"
    storage = f"journal:{tmp_path / 'optuna.log'}"
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    if down == "storage":
        url = storage = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/optuna"
    else:
        tracking = url
    code = main(
        [
            "--quiet",
            *command,
            "--limit",
            "200",
            "--extractors",
            "raw",
            "--reducers",
            "none",
            "--clusterers",
            "kmeans",
            "--storage",
            storage,
            "--tracking-uri",
            tracking,
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and url in err, err
