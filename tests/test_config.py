"""Run configuration: validation, defaults, YAML suite files."""

import pytest

from clustering.config import RunConfig, default_storage, resolve_tracking_uri
from clustering.errors import BenchError


def test_all_expands_to_every_registered_name():
    config = RunConfig(tracking_uri="sqlite:////tmp/x/mlflow.db").validate()
    assert config.extractors[0] == "raw" and "vae" in config.extractors
    assert config.clusterers == ["kmeans", "minibatch_kmeans"]
    assert config.storage == "sqlite:////tmp/x/optuna.db"


def test_tracking_uri_from_flag_then_environment_then_default(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_tracking_uri(None) == "http://127.0.0.1:5000"
    assert resolve_tracking_uri("sqlite:////a/b.db") == "sqlite:////a/b.db"
    assert default_storage("http://127.0.0.1:5000") == f"sqlite:///{tmp_path / 'optuna.db'}"


def test_yaml_suite_file_with_flag_overrides(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("dataset: mnist\nextractors: raw,vae\nn_clusters: 10\ntrials: 7\n")
    config = RunConfig.from_yaml(suite, trials=2)
    assert config.dataset == "mnist"
    assert config.extractors == ["raw", "vae"]
    assert config.n_clusters == [10]
    assert config.trials == 2


def test_yaml_suite_file_with_unknown_key_names_it(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("epochs: 3\n")
    with pytest.raises(BenchError, match="unknown option.*epochs"):
        RunConfig.from_yaml(suite)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"objective": "loss"}, "unknown objective 'loss'"),
        ({"split": "val"}, "unknown split 'val'"),
        ({"trials": 0}, "--trials must be at least 1"),
        ({"n_clusters": [10, 1]}, "--n-clusters must be integers of at least 2"),
        ({"extractors": ["raw", "pca"]}, "unknown extractor 'pca'"),
    ],
)
def test_invalid_fields_raise_with_the_fix(changes, message):
    with pytest.raises(BenchError, match=message):
        RunConfig(tracking_uri="sqlite:////tmp/mlflow.db", **changes).validate()
