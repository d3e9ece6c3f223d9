"""Run configuration: validation, defaults, YAML suite files."""

import re

import pytest

from clustering.clusterers import CLUSTERERS
from clustering.config import (
    OPTIONS,
    RunConfig,
    default_storage,
    flag_of,
    help_of,
    resolve_tracking_uri,
)
from clustering.errors import BenchError
from clustering.extractors import EXTRACTORS
from clustering.reducers import REDUCERS


def test_all_expands_to_every_registered_name():
    config = RunConfig(
        extractors=["all"], reducers=["all"], clusterers=["all"],
        tracking_uri="sqlite:////tmp/mlflow.db",
    ).validate()  # fmt: skip
    assert config.extractors == EXTRACTORS.names() and config.extractors[0] == "raw"
    assert config.reducers == REDUCERS.names() and config.reducers[0] == "none"
    assert config.clusterers == CLUSTERERS.names() and config.clusterers[0] == "kmeans"
    assert config.storage == "sqlite:////tmp/optuna.db"


def test_the_default_grid_is_raw_and_the_autoencoder_with_and_without_umap():
    config = RunConfig(tracking_uri="sqlite:////tmp/mlflow.db").validate()
    assert (config.extractors, config.reducers, config.clusterers) == (
        ["raw", "dense_ae"], ["none", "umap"], ["kmeans", "gmm"]
    )  # fmt: skip
    assert config.objective == "faithful_or_stable_asc" and config.trials == 3


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
        ({"trials": 0}, "--trials=0 must be a whole number of at least 1"),
        ({"n_clusters": [10, 1]}, "--n-clusters=1 must be a whole number of at least 2"),
        ({"extractors": ["raw", "pca"]}, "unknown extractor 'pca'"),
        ({"seed": -1}, "--seed=-1 must be a whole number from 0 to 4294967295"),
        ({"seed": 2**32}, "--seed=4294967296 must be a whole number from 0 to 4294967295"),
    ],
)
def test_invalid_fields_raise_with_the_fix(changes, message):
    with pytest.raises(BenchError, match=message):
        RunConfig(tracking_uri="sqlite:////tmp/mlflow.db", **changes).validate()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("trials: abc", "option trials must be a whole number, got 'abc' \\(str\\)"),
        ("extractors: 5", "option extractors must be a list of strings, got 5 \\(int\\)"),
        ("extractors: [raw, 5]", "option extractors must be a list of strings, got \\['raw', 5\\]"),
        ("limit: [1]", "option limit must be a whole number or null \\(empty\\), got \\[1\\]"),
        ("seed: 1.5", "option seed must be a whole number, got 1.5 \\(float\\)"),
        ('color: "yes"', "option color must be true or false, got 'yes' \\(str\\)"),
        ("workers: true", "option workers must be a whole number, got True \\(bool\\)"),
        ("n_clusters: [10, ten]", "option n_clusters must be a list of whole numbers or null"),
        ("n_clusters: true", "option n_clusters must be .*, got True \\(bool\\)"),
        ("data_dir: 3", "option data_dir must be a string or null \\(empty\\), got 3 \\(int\\)"),
        ("dataset: {mnist: 1}", "option dataset must be a string, got \\{'mnist': 1\\} \\(dict\\)"),
    ],
)
def test_yaml_value_of_the_wrong_type_names_option_value_and_type(tmp_path, line, message):
    suite = tmp_path / "suite.yaml"
    suite.write_text(line + "\n")
    with pytest.raises(BenchError, match=f"^suite file {re.escape(str(suite))}: {message}") as info:
        RunConfig.from_yaml(suite)
    assert "\n" not in str(info.value)


def test_yaml_values_of_the_right_types_pass(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text("color: yes\nlimit: null\nn_clusters: [8, 10]\nextractors: [raw]\nseed: 3\n")
    config = RunConfig.from_yaml(suite, tracking_uri="sqlite:////tmp/mlflow.db").validate()
    assert config.color is True and config.limit is None and config.n_clusters == [8, 10]


def test_validate_checks_types_of_fields_set_in_python():
    with pytest.raises(BenchError, match="^option trials must be a whole number, got '3'"):
        RunConfig(trials="3", tracking_uri="sqlite:////tmp/mlflow.db").validate()


def test_every_option_is_a_flag_of_its_commands_with_its_help_and_default():
    from clustering.cli import build_parser

    (commands,) = build_parser()._subparsers._group_actions
    for command in ("run", "worker"):
        actions = {a.dest: a for a in commands.choices[command]._actions}
        for name, how in OPTIONS.items():
            if command not in how.commands:
                assert name not in actions
                continue
            action = actions[name]
            assert flag_of(name) in action.option_strings and action.help == help_of(name)
    assert help_of("trials") == "complete trials per cell (default 3)"
    assert help_of("extractors").endswith("(default raw,dense_ae)")


@pytest.mark.parametrize("name", [name for name, how in OPTIONS.items() if how.low is not None])
def test_every_whole_number_below_its_range_is_refused_naming_its_flag(name):
    low = OPTIONS[name].low
    value = [low - 1] if name in ("n_clusters", "seeds") else low - 1  # the lists of whole numbers
    with pytest.raises(
        BenchError,
        match=f"^{flag_of(name)}={low - 1} must be a whole number (of at least|from) {low}",
    ):
        RunConfig(tracking_uri="sqlite:////tmp/mlflow.db", **{name: value}).validate()


def test_flags_parse_into_the_config_they_name():
    from clustering.cli import build_parser, config_from_args

    args = build_parser().parse_args(
        [
            "run",
            "--n-clusters",
            "8,10",
            "--no-cache",
            "--color",
            "--extractor",
            "raw",
            "--seed",
            "7",
        ]
    )
    config = config_from_args(args)
    assert config.n_clusters == [8, 10] and config.use_cache is False and config.color is True
    assert config.extractors == ["raw"] and config.seed == 7 and config.trials == 3


def test_a_validated_config_written_as_yaml_reads_back_the_same(tmp_path):
    from dataclasses import asdict

    import yaml

    config = RunConfig(n_clusters=[8, 10], seed=2**32 - 1, use_cache=False, limit=500)
    config.tracking_uri = "sqlite:////tmp/mlflow.db"
    config.validate()
    suite = tmp_path / "worker.yaml"
    suite.write_text(yaml.safe_dump(asdict(config)))
    assert RunConfig.from_yaml(suite).validate() == config
