"""clustering.data's registry: load dispatches through it, choices and help derive from it, and
npz:/folder: datasets are named by their file or folder while keeping the full path as source."""

import numpy as np
import pytest
from PIL import Image

from clustering import data
from clustering.data import registry
from clustering.data.registry import DatasetRegistry, DatasetSource, Loaded
from clustering.errors import BenchError

CHOICES = ["digits", "mnist", "fashion_mnist", "cifar10", "npz:PATH", "folder:PATH"]


@pytest.fixture(autouse=True)
def empty_keras_home(tmp_path, monkeypatch):
    """Files in the real ~/.keras cannot leak in."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))


def test_every_source_is_registered_with_a_description_and_places():
    assert data.DATASETS.choices() == CHOICES
    assert data.DATASETS.names() == CHOICES[:4]
    for source in data.DATASETS:
        assert source.description and source.where(None), source.name
    rows = data.describe_sources()
    assert [row["name"] for row in rows] == CHOICES[:4]
    assert all(row["description"] for row in rows)


def test_npz_dataset_is_named_by_its_file_and_keeps_its_path(tmp_path):
    folder = tmp_path / "x" / "y"
    folder.mkdir(parents=True)
    np.savez(folder / "faces.npz", x=np.zeros((4, 3, 3), np.uint8), y=[0, 1, 0, 1])
    dataset = data.load(f"npz:{folder / 'faces.npz'}")
    assert dataset.name == "faces"
    assert dataset.source == str((folder / "faces.npz").resolve())
    assert data.DATASETS.short_name(f"npz:{folder / 'faces.npz'}") == "faces"


def test_folder_dataset_is_named_by_its_folder_even_relative_or_with_a_slash(tmp_path, monkeypatch):
    for name in ("a", "b"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        Image.new("L", (4, 4)).save(tmp_path / "photos" / name / "1.png")
    monkeypatch.chdir(tmp_path)
    for spec in (f"folder:{tmp_path / 'photos'}", "folder:photos/", "folder:./photos"):
        dataset = data.load(spec)
        assert (dataset.name, dataset.source) == ("photos", str(tmp_path.resolve() / "photos"))
        assert data.DATASETS.short_name(spec) == "photos"


def test_named_datasets_keep_their_name_and_say_where_they_were_read(test_data):
    mnist = data.load("mnist", data_dir=test_data, limit=50)
    assert mnist.name == "mnist" and mnist.source == str(test_data / "mnist")
    assert data.DATASETS.short_name("cifar10") == "cifar10"
    assert data.load("digits").source


def test_prefix_without_path_and_unknown_names_list_the_usage():
    with pytest.raises(BenchError, match="'npz:' lacks its path; write it as npz:PATH"):
        data.load("npz:")
    with pytest.raises(BenchError, match="choose from: " + ", ".join(CHOICES)):
        data.DATASETS.short_name("imagenet")


def test_load_dispatches_through_the_registry(monkeypatch):
    """A registered source is loadable by name and by prefix, with no other change."""
    fresh = DatasetRegistry()
    images = np.zeros((6, 2, 2, 1), np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2])

    def load_toy(argument, data_dir, split):
        return Loaded(images, labels, ["a", "b", "c"], f"toy-{argument}", "memory")

    fresh.register(DatasetSource("toy", load_toy, "three classes", lambda d: ["memory"], bool))
    fresh.register(
        DatasetSource("toy:", load_toy, "by size", lambda d: ["memory"], name_of=str.upper)
    )
    monkeypatch.setattr(registry, "DATASETS", fresh)
    assert data.load("toy", limit=3).name == "toy-toy"
    assert data.load("toy:big").name == "toy-big" and fresh.short_name("toy:big") == "BIG"
    assert fresh.choices() == ["toy", "toy:PATH"]
    with pytest.raises(ValueError, match="registered twice"):
        fresh.register(DatasetSource("toy", load_toy, "again", lambda d: [], bool))
    with pytest.raises(ValueError, match="needs `name_of`"):
        fresh.register(DatasetSource("other:", load_toy, "no name", lambda d: []))


def test_cli_help_lists_every_dataset_and_objective():
    from clustering.cli import build_parser
    from clustering.metrics import METRICS

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    text = " ".join(run.format_help().split())
    assert ", ".join(CHOICES) in text
    assert ", ".join(METRICS.objectives()) in text


def test_every_registry_has_the_one_shape_and_choose_from_error():
    from clustering.clusterers import CLUSTERERS
    from clustering.extractors import EXTRACTORS
    from clustering.metrics import METRICS
    from clustering.reducers import REDUCERS
    from clustering.registry import Registry

    for found in (EXTRACTORS, REDUCERS, CLUSTERERS, data.DATASETS, METRICS):
        assert isinstance(found, Registry) and len(found) == len(list(found))
        assert all(name in found for name in found.names())
        with pytest.raises(BenchError) as info:
            found.get("nope")
        assert str(info.value) == (
            f"unknown {found.kind} 'nope'; choose from: {', '.join(found.choices())}"
        )
    assert data.DATASETS.get("mnist").name == "mnist" and METRICS.get("nmi").name == "nmi"
