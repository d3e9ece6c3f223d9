"""End to end through the CLI on real stores: run, resume, report, failures, bad input."""

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from clustering.cli import _int_list, _whole_number, build_parser, main
from clustering.clusterers import CLUSTERERS
from clustering.config import DEFAULT_OBJECTIVE
from clustering.tracking import ROLE_TAG

REPO_ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "clustering.cli"]


def stores(folder: Path) -> list[str]:
    return [
        "--tracking-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--storage",
        f"sqlite:///{folder / 'optuna.db'}",
        "--cache-dir",
        str(folder / "cache"),
    ]


def runs_by_role(client: MlflowClient, role: str) -> list:
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, filter_string=f"tags.`{ROLE_TAG}` = '{role}'")


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """raw x the two K-means clusterers on 300 digits, 2 trials per cell, in fresh stores."""
    folder = tmp_path_factory.mktemp("digits_run")
    args = [
        "run",
        "--limit",
        "300",
        "--extractors",
        "raw",
        "--reducers",
        "none",
        "--clusterers",
        "kmeans,minibatch_kmeans",
        "--trials",
        "2",
        *stores(folder),
    ]
    assert main(args) == 0
    return folder, args


@pytest.mark.slow
def test_run_creates_one_cell_run_per_pair_with_nested_trial_runs(digits_run):
    folder, _ = digits_run
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    cells = runs_by_role(client, "cell")
    assert sorted(run.data.tags["clusterer"] for run in cells) == ["kmeans", "minibatch_kmeans"]
    experiment = client.get_experiment_by_name("digits")
    assert experiment is not None
    for cell in cells:
        assert cell.info.status == "FINISHED"
        assert cell.info.experiment_id == experiment.experiment_id
        for tag in (
            "dataset",
            "extractor",
            "clusterer",
            "objective",
            "study_name",
            "seed",
            "dataset_digest",
        ):
            assert cell.data.tags[tag]
        children = client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{cell.info.run_id}'",
        )
        assert len(children) == 2
        for child in children:
            assert child.info.status == "FINISHED"
            for key in (
                "asc",
                "dunn",
                "majority_accuracy",
                "hungarian_accuracy",
                "nmi",
                "ari",
                "fit_seconds",
                "metric_seconds",
                "trial_number",
            ):
                assert key in child.data.metrics
        children.sort(key=lambda run: run.data.metrics["trial_number"])
        objective = cell.data.tags["objective"]
        best = max(children, key=lambda run: run.data.metrics[objective])  # ties: the first
        assert cell.data.metrics[objective] == pytest.approx(best.data.metrics[objective])
        assert cell.data.metrics["trials_complete"] == 2
        for name, value in best.data.params.items():
            if name != "n_clusters":
                assert cell.data.tags["best." + name] == value


@pytest.mark.slow
def test_run_records_complete_trials_in_the_optuna_study(digits_run):
    folder, _ = digits_run
    storage = f"sqlite:///{folder / 'optuna.db'}"
    summaries = optuna.get_all_study_summaries(storage)
    assert len(summaries) == 2
    for summary in summaries:
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        states = [trial.state for trial in study.trials]
        assert states == [optuna.trial.TrialState.COMPLETE] * 2
        clusterer = summary.study_name.split(".")[3]
        assert study.trials[0].params == CLUSTERERS.get(clusterer).default_params(n_clusters=10)


@pytest.mark.slow
def test_same_command_resumes_and_runs_only_the_missing_trials(digits_run):
    folder, args = digits_run
    more = [arg if arg != "2" else "3" for arg in args]
    assert main(more) == 0
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    cells = runs_by_role(client, "cell")
    assert len(cells) == 2
    trials = runs_by_role(client, "trial")
    assert len(trials) == 6
    numbers = sorted(int(run.data.tags["optuna.trial_number"]) for run in trials)
    assert numbers == [0, 0, 1, 1, 2, 2]
    assert main(more) == 0
    assert len(runs_by_role(client, "trial")) == 6


@pytest.mark.slow
def test_report_writes_one_row_per_cell(digits_run, tmp_path, capsys):
    folder, _ = digits_run
    out = tmp_path / "results"
    code = main(
        [
            "report",
            "--dataset",
            "digits",
            "--tracking-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    table = pd.read_csv(out / "digits" / "comparison.csv")
    assert list(table.columns) == [
        "extractor",
        "reducer",
        "clusterer",
        "objective",
        "trials",
        "asc",
        "dunn",
        "majority_accuracy",
        "hungarian_accuracy",
        "nmi",
        "ari",
        "fit_seconds",
    ]
    assert sorted(table["clusterer"]) == ["kmeans", "minibatch_kmeans"]
    assert (table["hungarian_accuracy"] > 0.5).all()
    printed = capsys.readouterr().out
    assert f"| raw | none | kmeans | {DEFAULT_OBJECTIVE} |" in printed
    assert "Choosing without labels" in printed
    assert (out / "digits" / "comparison.md").read_text() in printed


@pytest.mark.slow
def test_trial_that_raises_is_failed_in_both_stores_and_the_study_goes_on(tmp_path):
    same = np.zeros((30, 4, 4), dtype=np.uint8)
    np.savez(tmp_path / "flat.npz", x=same, y=np.arange(30) % 2)
    code = main(
        [
            "run",
            "--dataset",
            f"npz:{tmp_path / 'flat.npz'}",
            "--extractors",
            "raw",
            "--reducers",
            "none",
            "--clusterers",
            "kmeans",
            "--trials",
            "2",
            *stores(tmp_path),
        ]
    )
    assert code == 0
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    trials = runs_by_role(client, "trial")
    assert len(trials) == 2
    assert all(run.info.status == "FAILED" for run in trials)
    assert all("cluster" in run.data.tags["error"] for run in trials)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    (cell,) = runs_by_role(client, "cell")
    assert cell.info.status == "FINISHED"
    assert cell.data.metrics["trials_failed"] == 2


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--dataset", "nope"], "unknown dataset 'nope'"),
        (["--extractors", "pixels"], "unknown extractor 'pixels'; choose from: raw"),
        (["--clusterers", "dbscan"], "unknown clusterer 'dbscan'; choose from: kmeans"),
        (["--objective", "speed"], "unknown objective 'speed'; choose from: asc"),
        (["--trials", "0"], "--trials=0 must be a whole number of at least 1"),
        (["--n-clusters", "1"], "--n-clusters=1 must be a whole number of at least 2"),
        (["--n-clusters", "5000"], "above the number of images (1797)"),
        (["--dataset", "mnist", "--data-dir", "EMPTY"], "t10k-images-idx3-ubyte"),
        (["--cache-dir", "A_FILE"], "as the feature cache folder"),
        (["--dataset", "npz:ONE_CLASS"], "a single class"),
        (["--dataset", "npz:OBJECTS"], "[x]: the array holds Python objects (dtype object)"),
        (["--seed", "-1"], "--seed=-1 must be a whole number from 0 to 4294967295"),
        (["--seed", str(2**32)], "--seed=4294967296 must be a whole number from 0 to 4294967295"),
        (["--limit", "1"], "--limit=1 must be a whole number of at least 2"),
        (
            ["--metric-sample-size", "2"],
            "--metric-sample-size=2 must be a whole number of at least 3",
        ),
        (
            ["--heartbeat-interval", "0"],
            "--heartbeat-interval=0 must be a whole number of at least 1",
        ),
        (["--retries", "-1"], "--retries=-1 must be a whole number of at least 0"),
        (["--storage", "sqlite:///NO_FOLDER/optuna.db"], "NO_FOLDER does not exist; create it"),
        (["--storage", "journal:NO_FOLDER/optuna.log"], "(mkdir -p NO_FOLDER) or pass another"),
        (["--tracking-uri", "sqlite:///NO_FOLDER/m.db"], "pass another --tracking-uri"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(flags, expected, tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    one_class = tmp_path / "one-class.npz"
    rng = np.random.default_rng(0)
    np.savez(one_class, x=rng.integers(0, 256, (20, 8, 8), np.uint8), y=np.zeros(20, np.int64))
    objects = tmp_path / "objects.npz"
    np.savez(objects, x=np.array([np.zeros((8, 8)), np.zeros((4, 4))], dtype=object), y=[0, 1])
    names = {
        "EMPTY": str(tmp_path),
        "A_FILE": str(a_file),
        "npz:ONE_CLASS": f"npz:{one_class}",
        "npz:OBJECTS": f"npz:{objects}",
    }
    flags = [names.get(flag, flag).replace("NO_FOLDER", str(tmp_path / "no")) for flag in flags]
    expected = expected.replace("NO_FOLDER", str(tmp_path / "no"))
    code = main(["--quiet", "run", "--extractors", "raw", *stores(tmp_path), *flags])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert expected in err
    assert "Traceback" not in err
    assert not (tmp_path / "no").exists()
    database = tmp_path / "mlflow.db"
    if database.exists():
        with sqlite3.connect(database) as connection:
            assert connection.execute(
                "select count(*) from runs where status = 'RUNNING'"
            ).fetchone() == (0,)


def _numeric_flags(command: str) -> list[str]:
    """Every flag of `command` that takes a number or a comma list of numbers."""
    (commands,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    parser = commands.choices[command]
    return [
        action.option_strings[0]
        for action in parser._actions
        if action.type in (_whole_number, _int_list)
    ]


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (command, flag)
        for command in ("run", "worker", "predict")
        for flag in _numeric_flags(command)
    ],
)
@pytest.mark.parametrize("value", ["abc", "10,abc", "1.5"])
def test_mistyped_number_gives_one_line_and_exit_2(command, flag, value, capsys):
    with pytest.raises(SystemExit) as info:
        main(
            [command, "--model", "m", flag, value]
            if command == "predict"
            else [command, flag, value]
        )
    assert info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"clustering-bench {command}: error: argument {flag}")
    assert f"got {value!r}; see clustering-bench {command} --help" in line


def test_numeric_flags_are_found():
    assert {"--trials", "--n-clusters", "--seed", "--limit", "--workers"} <= set(
        _numeric_flags("run")
    )
    assert {"--limit", "--seed"} <= set(_numeric_flags("predict"))


@pytest.mark.slow
@pytest.mark.parametrize("extractor, quiet_last", [("raw", False), ("dense_ae", True)])
def test_quiet_run_prints_nothing_on_fresh_stores(tmp_path, extractor, quiet_last):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MLFLOW_LOGGING_LEVEL", "TF_CPP_MIN_LOG_LEVEL")
    }
    command = [
        *CLI,
        *(["run", "--quiet"] if quiet_last else ["--quiet", "run"]),
        "--limit",
        "200",
        "--extractors",
        extractor,
        "--reducers",
        "none",
        "--clusterers",
        "kmeans",
        "--trials",
        "1",
        *stores(tmp_path),
    ]
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")
    assert (tmp_path / "mlflow.db").exists()  # the tables were created, silently


@pytest.mark.slow
def test_ctrl_c_leaves_no_run_running_and_resume_continues(tmp_path, large_mnist):
    """4,000 of the 6,000 images of tests/conftest.py's large_mnist (the 1,000 real ones and
    shifted, noisy copies): trials long enough to be interrupted midway."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    data = ["--dataset", "mnist", "--data-dir", str(large_mnist), "--limit", "4000"]
    cell = ["--extractors", "raw", "--reducers", "none", "--clusterers", "kmeans", "--trials", "40"]
    command = [*CLI, "run", *data, *cell, *stores(tmp_path)]
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    database = tmp_path / "mlflow.db"
    deadline = time.monotonic() + 120
    running = 0
    while time.monotonic() < deadline and running == 0:
        time.sleep(0.5)
        if database.exists():
            try:
                with sqlite3.connect(database) as connection:
                    running = connection.execute(
                        "select count(*) from runs r join tags t on r.run_uuid = t.run_uuid "
                        "where r.status = 'RUNNING' and t.key = ? and t.value = 'trial'",
                        (ROLE_TAG,),
                    ).fetchone()[0]
            except sqlite3.OperationalError:
                running = 0
    assert running, "no trial run started within 120 s"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted by SIGINT during cell raw x none x kmeans" in err.splitlines()[-1]
    assert "Traceback" not in err
    with sqlite3.connect(database) as connection:
        statuses = dict(connection.execute("select status, count(*) from runs group by status"))
    assert "RUNNING" not in statuses
    assert statuses.get("KILLED", 0) >= 2
