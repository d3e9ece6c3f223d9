"""A dataset name loads only that dataset's records: MNIST's files asked for as Fashion-MNIST
(same file names) are refused in one line naming the file, its md5 and what was expected."""

import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from clustering import data as datasets
from clustering.cli import main
from clustering.data import describe_sources, load
from clustering.data.identity import OFFICIAL, idx_md5
from clustering.errors import BenchError

TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"


@pytest.fixture(autouse=True)
def empty_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    return datasets.keras_datasets_dir()


def mnist_copy(test_data, folder: Path) -> Path:
    """tests/data/mnist's two files (a 1,000-record cut of MNIST's test files) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in (test_data / "mnist").iterdir():
        shutil.copy(path, folder)
    return folder


def write_idx(path: Path, records: np.ndarray) -> None:
    magic = 2051 if records.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in records.shape)
    path.write_bytes(header + records.astype(np.uint8).tobytes())


def refusal(*args, **kwargs) -> str:
    with pytest.raises(BenchError) as info:
        load(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("layout", ["", "fashion-mnist"])
def test_an_mnist_cut_is_refused_as_fashion_mnist_in_any_folder(test_data, tmp_path, layout):
    folder = mnist_copy(test_data, tmp_path / layout)
    message = refusal("fashion_mnist", data_dir=tmp_path)
    labels = gzip.decompress((folder / f"{TEST_LABELS}.gz").read_bytes())
    assert str(folder / f"{TEST_LABELS}.gz") in message
    assert hashlib.md5(labels).hexdigest() in message
    assert "labels beginning 7, 2, 1, 0, 4" in message and "begin 9, 2, 1, 1, 6" in message
    assert "these are MNIST's" in message
    assert load("mnist", data_dir=folder).labels[:5].tolist() == [7, 2, 1, 0, 4]


def test_cli_run_exits_2_in_one_line_and_datasets_lists_it_missing(test_data, tmp_path, capsys):
    folder = mnist_copy(test_data, tmp_path / "data")
    stores = ["--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]
    stores += ["--storage", f"sqlite:///{tmp_path / 'optuna.db'}"]
    run = ["--quiet", "run", "--dataset", "fashion_mnist", "--data-dir", str(folder), *stores]
    assert main(run) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not Fashion-MNIST's t10k-labels" in err
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "optuna.db").exists()
    found = {row["name"]: row["found"] for row in describe_sources(folder)}
    assert found["mnist"] and not found["fashion_mnist"]
    assert main(["--quiet", "datasets", "--data-dir", str(folder)]) == 0
    listing = capsys.readouterr().out
    assert "fashion_mnist    missing" in listing and "mnist            found" in listing
    assert "npz:PATH" in listing and "folder:PATH" in listing
    assert f"--dataset mnist --data-dir {test_data / 'mnist'}" in listing


def test_a_cut_whose_labels_do_not_begin_as_the_official_file_is_refused(test_data, tmp_path):
    folder = mnist_copy(test_data, tmp_path)
    labels = load("mnist", data_dir=folder).labels
    (folder / f"{TEST_LABELS}.gz").unlink()
    write_idx(folder / TEST_LABELS, labels[::-1])
    message = refusal("mnist", data_dir=folder)
    assert "is not MNIST's t10k-labels-idx1-ubyte" in message
    assert "expected a cut of it, whose labels begin 7, 2, 1, 0, 4" in message


def test_a_full_size_file_must_have_the_official_md5(tmp_path):
    rng = np.random.default_rng(0)
    write_idx(tmp_path / TEST_IMAGES, rng.integers(0, 256, (10_000, 28, 28)))
    write_idx(tmp_path / TEST_LABELS, rng.integers(0, 10, 10_000))
    message = refusal("mnist", data_dir=tmp_path)
    assert f"{tmp_path / TEST_IMAGES} is not MNIST's {TEST_IMAGES}" in message
    assert f"expected md5 {OFFICIAL['mnist'][TEST_IMAGES].md5}" in message


def test_more_records_than_the_official_file_are_refused(test_data, tmp_path):
    mnist = load("mnist", data_dir=test_data / "mnist")
    images = np.tile(mnist.images[..., 0], (11, 1, 1))
    write_idx(tmp_path / TEST_IMAGES, images)
    write_idx(tmp_path / TEST_LABELS, np.tile(mnist.labels, 11))
    assert "expected at most 10000 records" in refusal("mnist", data_dir=tmp_path)


def test_the_md5_of_records_is_the_md5_of_their_uncompressed_idx_file(test_data):
    mnist = load("mnist", data_dir=test_data / "mnist")
    raw = gzip.decompress((test_data / "mnist" / f"{TEST_IMAGES}.gz").read_bytes())
    assert idx_md5(mnist.images[..., 0]) == hashlib.md5(raw).hexdigest()
