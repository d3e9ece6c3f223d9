"""`run --dataset a,b`: the same grid on each dataset in turn (each dataset's files in its own
subfolder of --data-dir), one experiment and cell runs per dataset, then `report --dataset a,b`
writes the cross-dataset page from them."""

from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from clustering.cli import main
from clustering.config import RunConfig
from clustering.tracking import ROLE_TAG

DATA = Path(__file__).parents[1] / "data"


def test_each_dataset_reads_its_own_subfolder_of_the_data_dir(tmp_path):
    (tmp_path / "mnist").mkdir()
    config = RunConfig(dataset="digits, mnist,cifar10", data_dir=str(tmp_path))
    configs = config.per_dataset()
    assert [c.dataset for c in configs] == ["digits", "mnist", "cifar10"]
    assert [c.data_dir for c in configs] == [str(tmp_path), str(tmp_path / "mnist"), str(tmp_path)]
    assert {c.trials for c in configs} == {config.trials}


@pytest.mark.parametrize(
    "dataset, message",
    [("digits,digits", "several distinct ones"), ("digits,nope", "nope")],
)
def test_datasets_that_repeat_or_are_unknown_exit_2_before_any_run(dataset, message, capsys):
    assert main(["run", "--dataset", dataset]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1


def test_a_suite_file_may_list_its_datasets(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("dataset: [digits, mnist]\ndata_dir: tests/data\n")
    assert RunConfig.from_yaml(suite).datasets() == ["digits", "mnist"]


@pytest.mark.slow
def test_one_run_over_two_datasets_then_the_cross_dataset_page(tmp_path, capsys):
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["run", "--dataset", "digits,mnist", "--data-dir", str(DATA), "--limit", "100"]
    args += ["--extractors", "raw", "--reducers", "none", "--clusterers", "kmeans"]
    args += ["--trials", "1", "--tracking-uri", store, "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "digits: raw x none x kmeans" in printed and "mnist: raw x none x kmeans" in printed
    assert "report --dataset digits,mnist" in printed
    client = MlflowClient(store)
    experiments = {e.name: e.experiment_id for e in client.search_experiments()}
    for name in ("digits", "mnist"):
        (cell,) = client.search_runs([experiments[name]], f"tags.`{ROLE_TAG}` = 'cell'")
        assert cell.data.tags["dataset"] == name and cell.data.metrics["trials_complete"] == 1
    out = tmp_path / "out"
    report = ["--quiet", "report", "--dataset", "digits,mnist", "--tracking-uri", store]
    assert main([*report, "--out", str(out)]) == 0
    cells = pd.read_csv(out / "across_datasets" / "cells.csv")
    assert list(cells.columns) == ["cell", "digits", "mnist", "average_rank"]
    assert cells["cell"].tolist() == ["raw x none x kmeans"]
