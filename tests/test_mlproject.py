"""`mlflow run mlproject` offline: the cell runs nest under the run MLflow opened; the
MLproject's parameters are the run options the configuration marks for it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from clustering.cli import build_parser
from clustering.config import mlproject_main
from clustering.tracking import ROLE_TAG

PROJECT = Path(__file__).resolve().parent.parent / "mlproject"


def test_the_main_entry_point_is_the_one_the_run_options_declare():
    """mlproject/MLproject's `main` holds what clustering.config declares (to change it, change
    the option there and copy this test's expected entry into the file)."""
    main = yaml.safe_load((PROJECT / "MLproject").read_text())["entry_points"]["main"]
    expected = mlproject_main()
    assert main == expected, "MLproject main should be:\n" + yaml.safe_dump(expected)


def test_the_main_command_parses_with_its_defaults():
    command = mlproject_main()["command"]
    defaults = {n: p["default"] for n, p in mlproject_main()["parameters"].items()}
    argv = command.format(**defaults).split(" && ")[1].split()[1:]
    args = build_parser().parse_args(argv)
    assert args.command == "run" and args.trials == 3 and args.seed == 0
    assert args.extractors == ["raw", "dense_ae"] and args.search == [
        "extractor",
        "reducer",
        "clusterer",
    ]


@pytest.mark.slow
def test_mlflow_run_logs_cells_under_the_project_run(tmp_path):
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(
        [
            mlflow,
            "run",
            str(PROJECT),
            "--env-manager",
            "local",
            "--experiment-name",
            "digits",
            "-P",
            "dataset=digits",
            "-P",
            "trials=2",
            "-P",
            "extractors=raw",
            "-P",
            "reducers=none",
            "-P",
            "clusterers=kmeans,minibatch_kmeans",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("digits")
    runs = client.search_runs([experiment.experiment_id])
    top = [run for run in runs if "mlflow.parentRunId" not in run.data.tags]
    assert len(top) == 1, "exactly one top-level run: the one mlflow run opened"
    (project_run,) = top
    assert project_run.info.status == "FINISHED"
    assert project_run.data.tags.get("mlflow.project.entryPoint") == "main"
    cells = [run for run in runs if run.data.tags.get(ROLE_TAG) == "cell"]
    assert len(cells) == 2
    assert {run.data.tags["mlflow.parentRunId"] for run in cells} == {project_run.info.run_id}
    trials = [run for run in runs if run.data.tags.get(ROLE_TAG) == "trial"]
    assert len(trials) == 4
    cell_ids = {run.info.run_id for run in cells}
    assert all(run.data.tags["mlflow.parentRunId"] in cell_ids for run in trials)


@pytest.mark.slow
def test_mlflow_run_after_a_plain_run_resumes_its_cells_in_the_folder_it_was_started_from(
    tmp_path,
):
    """A plain `run`, then `mlflow run` from the same folder with no store given: both use
    that folder's stores and cache, the project run resumes the same study and cell run in
    the dataset's experiment, and nothing is written inside the project folder."""
    bin_dir = Path(sys.executable).parent
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    cell = ["--extractors", "raw", "--reducers", "none", "--clusterers", "kmeans"]
    plain = subprocess.run(
        [str(bin_dir / "clustering-bench"), "--quiet", "run", *cell, "--trials", "2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert plain.returncode == 0, plain.stderr[-2000:]
    before = sorted(path.name for path in PROJECT.iterdir())
    mlflow = shutil.which("mlflow", path=str(bin_dir)) or "mlflow"
    project = subprocess.run(
        [
            mlflow,
            "run",
            str(PROJECT),
            "--env-manager",
            "local",
            "--experiment-name",
            "digits",
            "-P",
            "extractors=raw",
            "-P",
            "reducers=none",
            "-P",
            "clusterers=kmeans",
            "-P",
            "trials=3",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert project.returncode == 0, project.stderr[-2000:]
    assert sorted(path.name for path in PROJECT.iterdir()) == before
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("digits")
    runs = client.search_runs([experiment.experiment_id])
    cells = [run for run in runs if run.data.tags.get(ROLE_TAG) == "cell"]
    trials = [run for run in runs if run.data.tags.get(ROLE_TAG) == "trial"]
    assert len(cells) == 1 and cells[0].data.metrics["trials_complete"] == 3
    assert sorted(int(run.data.tags["optuna.trial_number"]) for run in trials) == [0, 1, 2]
    assert {run.data.tags["mlflow.parentRunId"] for run in trials} == {cells[0].info.run_id}
    assert (tmp_path / ".feature-cache").is_dir()
