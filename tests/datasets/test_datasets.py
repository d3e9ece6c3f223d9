"""Datasets: real files load to the documented content, layouts agree, bad input fails helpfully."""

import gzip
import hashlib
import os
import pickle
import shutil

import numpy as np
import pytest
from PIL import Image

from clustering import data as datasets
from clustering.data import Dataset, describe_sources, load, preprocess
from clustering.errors import BenchError

MNIST_TRAIN_FIRST = (5, 0, 4, 1, 9, 2, 1, 3, 1, 4)  # the official train labels' first ten
MNIST_COUNTS = [85, 126, 116, 107, 110, 87, 87, 99, 89, 94]  # the first 1,000 test images
CIFAR_SHA256 = "a89b9ebe0d96c93c590fffbc09251cd3bbc7d13e7d3068cb3f6b8ca9c10dd323"  # first 200
DIGITS_DIGEST = "bbe74ba6220a"  # prefix; changing the digest formula invalidates feature caches


@pytest.fixture(autouse=True)
def empty_keras_home(tmp_path, monkeypatch):
    """Every test sees an empty Keras cache, so files in the real ~/.keras cannot leak in."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    return datasets.keras_datasets_dir()


@pytest.fixture(scope="module")
def mnist(test_data) -> Dataset:
    return load("mnist", data_dir=test_data / "mnist")


@pytest.fixture
def cifar_root(test_data):
    return test_data / "cifar10"


def raises_one_line(match: str, *args, **kwargs) -> str:
    """load(*args, **kwargs) raises BenchError matching `match` on a single line."""
    with pytest.raises(BenchError, match=match) as info:
        load(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- digits


def test_digits_loads_bundled_set_as_uint8_with_stable_digest():
    ds = load()
    assert ds.name == "digits" and len(ds) == 1797
    assert ds.images.shape == (1797, 8, 8, 1) and ds.images.dtype == np.uint8
    assert ds.images.min() == 0 and ds.images.max() == 255  # 16 -> 255
    assert ds.labels.dtype == np.int64 and set(ds.labels) == set(range(10))
    assert ds.class_names == [str(i) for i in range(10)]
    assert ds.digest.startswith(DIGITS_DIGEST) and len(ds.digest) == 64
    assert load("digits", split="all").digest == ds.digest
    assert not ds.images.flags.writeable and not ds.labels.flags.writeable


def test_digits_has_no_train_split():
    raises_one_line("digits has no train split.*'test' or 'all'", "digits", split="train")


# ---------------------------------------------------------------- MNIST


def test_mnist_official_test_set(mnist):
    """tests/data holds the official test set's first 1,000 images and labels."""
    assert mnist.images.shape == (1000, 28, 28, 1) and mnist.images.dtype == np.uint8
    assert mnist.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(mnist.labels).tolist() == MNIST_COUNTS


def test_mnist_parent_folder_finds_mnist_subfolder(test_data, mnist):
    assert load("mnist", data_dir=test_data).digest == mnist.digest


def test_mnist_plain_idx_files_give_same_digest(test_data, mnist, tmp_path):
    for gz in (test_data / "mnist").glob("*.gz"):
        (tmp_path / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    assert load("mnist", data_dir=tmp_path).digest == mnist.digest


def test_mnist_keras_npz_in_keras_home_gives_same_digest(mnist, empty_keras_home):
    empty_keras_home.mkdir(parents=True)
    x, y = mnist.images[..., 0], mnist.labels.astype(np.uint8)
    # a stand-in train part: 10 test images labelled as the official train file begins
    train = [int(np.flatnonzero(y == label)[i]) for i, label in enumerate(MNIST_TRAIN_FIRST)]
    np.savez(empty_keras_home / "mnist.npz", x_train=x[train], y_train=y[train], x_test=x, y_test=y)
    assert load("mnist").digest == mnist.digest
    both = load("mnist", split="all")
    assert len(both) == 1010 and both.labels[:10].tolist() == list(MNIST_TRAIN_FIRST)


def test_mnist_missing_file_names_file_and_fix(tmp_path):
    message = raises_one_line("t10k-images-idx3-ubyte", "mnist", data_dir=tmp_path)
    assert str(tmp_path) in message and "--data-dir" in message


def test_mnist_missing_train_split_names_train_file(test_data):
    raises_one_line(
        "file train-images-idx3-ubyte", "mnist", data_dir=test_data / "mnist", split="train"
    )


def test_idx_truncated_file_is_named(test_data, tmp_path):
    shutil.copy(test_data / "mnist" / "t10k-labels-idx1-ubyte.gz", tmp_path)
    raw = gzip.decompress((test_data / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(raw[:100_000])
    raises_one_line("t10k-images-idx3-ubyte: truncated IDX file", "mnist", data_dir=tmp_path)


def test_idx_truncated_gzip_is_named(test_data, tmp_path):
    shutil.copy(test_data / "mnist" / "t10k-labels-idx1-ubyte.gz", tmp_path)
    cut = (test_data / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes()[:50_000]
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(cut)
    raises_one_line("images-idx3-ubyte.gz: truncated or corrupt gzip", "mnist", data_dir=tmp_path)


def test_idx_wrong_magic_is_refused(test_data, tmp_path):
    labels = test_data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    shutil.copy(labels, tmp_path)
    shutil.copy(labels, tmp_path / "t10k-images-idx3-ubyte.gz")  # a labels file posing as images
    raises_one_line("magic number 2049, expected 2051", "mnist", data_dir=tmp_path)


def test_idx_image_and_label_counts_must_match(test_data, tmp_path):
    shutil.copy(test_data / "mnist" / "t10k-images-idx3-ubyte.gz", tmp_path)
    five = (2049).to_bytes(4, "big") + (5).to_bytes(4, "big") + bytes([7, 2, 1, 0, 4])
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(five)
    raises_one_line("1000 images but .* holds 5 labels", "mnist", data_dir=tmp_path)


# ---------------------------------------------------------------- CIFAR-10


@pytest.mark.parametrize("layout", ["", "cifar-10-batches-py", "cifar-10-batches-bin"])
def test_cifar10_layouts_and_data_dirs_agree_with_readme(cifar_root, layout):
    ds = load("cifar10", data_dir=cifar_root / layout)
    assert ds.images.shape == (200, 32, 32, 3) and ds.images.dtype == np.uint8
    assert hashlib.sha256(ds.images.tobytes()).hexdigest() == CIFAR_SHA256
    assert ds.labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert ds.class_names[:4] == ["airplane", "automobile", "bird", "cat"]


def test_cifar10_pickle_and_binary_give_same_digest(cifar_root):
    py = load("cifar10", data_dir=cifar_root / "cifar-10-batches-py")
    binary = load("cifar10", data_dir=cifar_root / "cifar-10-batches-bin")
    assert py.digest == binary.digest
    assert np.array_equal(py.labels, binary.labels)


def test_cifar10_found_in_keras3_cache(cifar_root, empty_keras_home):
    folder = empty_keras_home / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    shutil.copytree(cifar_root / "cifar-10-batches-py", folder)
    expected = load("cifar10", data_dir=cifar_root).digest
    assert load("cifar10").digest == expected


class _RunsShell:
    """Unpickling this calls os.system, which would create the marker file."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_cifar10_pickle_with_malicious_global_is_refused_unexecuted(tmp_path):
    marker = tmp_path / "executed"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    payload = {b"data": _RunsShell(f"touch {marker}"), b"labels": [0]}
    (folder / "test_batch").write_bytes(pickle.dumps(payload, protocol=4))
    raises_one_line(r"refuses to load global (posix|os|nt)\.system", "cifar10", data_dir=tmp_path)
    assert not marker.exists()


def test_cifar10_pickle_without_cifar_fields_is_refused(tmp_path):
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"images": [1, 2]}, protocol=4))
    raises_one_line("not a CIFAR python batch.*b'images'", "cifar10", data_dir=tmp_path)


def test_cifar10_truncated_binary_batch_is_named(cifar_root, tmp_path):
    data = (cifar_root / "cifar-10-batches-bin" / "test_batch.bin").read_bytes()
    (tmp_path / "test_batch.bin").write_bytes(data[:-100])
    raises_one_line("test_batch.bin: truncated CIFAR binary batch", "cifar10", data_dir=tmp_path)


def test_cifar10_missing_split_file_is_named(cifar_root):
    raises_one_line("file data_batch_1 not found", "cifar10", data_dir=cifar_root, split="train")


def test_cifar10_training_cut_of_the_first_batch_is_read_with_a_warning(
    cifar_root, tmp_path, caplog
):
    batch = (cifar_root / "cifar-10-batches-py" / "test_batch").read_bytes()
    (tmp_path / "data_batch_1").write_bytes(batch)
    dataset = load("cifar10", data_dir=tmp_path, split="train")
    test = load("cifar10", data_dir=cifar_root, split="test")
    np.testing.assert_array_equal(dataset.images, test.images)
    assert "data_batch_2, data_batch_3, data_batch_4, data_batch_5 not found" in caplog.text
    (tmp_path / "data_batch_1").rename(tmp_path / "data_batch_2")
    raises_one_line("file data_batch_1 not found", "cifar10", data_dir=tmp_path, split="train")


def test_describe_sources_reports_what_is_found(cifar_root):
    rows = {row["name"]: row for row in describe_sources(cifar_root)}
    assert list(rows) == datasets.DATASETS.names()
    assert rows["digits"]["found"] and rows["cifar10"]["found"]
    assert not rows["mnist"]["found"] and str(cifar_root) in rows["mnist"]["where"]


# ---------------------------------------------------------------- preprocess


def test_preprocess_gray_weights_and_range(cifar_root):
    rgb = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], dtype=np.uint8)
    gray = preprocess(rgb.reshape(4, 1, 1, 3))
    assert gray.dtype == np.float32 and gray.shape == (4, 1, 1, 1)
    np.testing.assert_allclose(gray.ravel(), [0.2989, 0.5870, 0.1140, 0.9999], atol=1e-6)
    images = load("cifar10", data_dir=cifar_root).images
    for color, channels in [(False, 1), (True, 3)]:
        out = preprocess(images, color=color)
        assert out.shape == (200, 32, 32, channels) and 0 <= out.min() and out.max() <= 1


def test_preprocess_keeps_gray_single_channel_with_color():
    out = preprocess(load().images, color=True)
    assert out.shape == (1797, 8, 8, 1) and out.max() == 1.0


# ---------------------------------------------------------------- limit


def test_limit_is_stratified_deterministic_and_ordered():
    full = load()
    part = load(limit=100)
    share = 100 * np.bincount(full.labels) / len(full)
    assert len(part) == 100
    assert np.all(np.abs(np.bincount(part.labels) - share) < 1)
    assert load(limit=100).digest == part.digest != load(limit=100, seed=1).digest
    assert part.digest != full.digest and load(limit=1797).digest == full.digest
    keep = datasets.stratified_subset(full.labels, 100, 0, "digits")
    assert np.all(np.diff(keep) > 0) and np.array_equal(full.images[keep], part.images)


@pytest.mark.parametrize("limit", [5, 1798])
def test_limit_outside_classes_to_size_is_refused(limit):
    raises_one_line(rf"limit {limit} must be between .*\(10\).*\(1797\)", "digits", limit=limit)


def test_unknown_name_and_split_list_the_choices():
    raises_one_line(
        "unknown dataset 'x'; choose from: digits, mnist, fashion_mnist, cifar10, "
        "npz:PATH, folder:PATH",
        "x",
    )
    raises_one_line("unknown split 'val'; choose from: test, train, all", split="val")


# ---------------------------------------------------------------- npz: and folder:


def test_npz_round_trip_gray_and_float(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(12, 5, 6), dtype=np.uint8)
    y = np.arange(12) % 3
    np.savez(tmp_path / "a.npz", x=x, y=y)
    ds = load(f"npz:{tmp_path / 'a.npz'}")
    assert ds.images.shape == (12, 5, 6, 1) and np.array_equal(ds.images[..., 0], x)
    assert ds.labels.tolist() == y.tolist() and ds.class_names == ["0", "1", "2"]
    np.savez(tmp_path / "f.npz", x=x[..., None] / 255.0, y=y)
    assert load(f"npz:{tmp_path / 'f.npz'}").digest == ds.digest


def test_npz_keras_keys_and_splits(tmp_path):
    x = np.zeros((4, 2, 2, 3), dtype=np.uint8)
    np.savez(tmp_path / "k.npz", x_train=x, y_train=[0, 1, 0, 1], x_test=x[:2] + 1, y_test=[1, 0])
    name = f"npz:{tmp_path / 'k.npz'}"
    assert load(name).labels.tolist() == [1, 0]
    assert load(name, split="all").labels.tolist() == [0, 1, 0, 1, 1, 0]
    np.savez(tmp_path / "bad.npz", x=np.full((2, 2, 2), 3.0), y=[0, 1])
    raises_one_line("float in \\[0, 1\\]", f"npz:{tmp_path / 'bad.npz'}")


def _png(path, size, mode="L", value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, 0, 0)).save(path)


def test_folder_round_trip_gray_and_mixed_modes(tmp_path):
    _png(tmp_path / "gray" / "b" / "1.png", (4, 3), value=10)
    _png(tmp_path / "gray" / "a" / "1.png", (4, 3), value=20)
    _png(tmp_path / "gray" / "a" / "2.png", (4, 3), value=30)
    ds = load(f"folder:{tmp_path / 'gray'}")
    assert ds.class_names == ["a", "b"] and ds.labels.tolist() == [0, 0, 1]
    assert ds.images.shape == (3, 3, 4, 1) and ds.images[:, 0, 0, 0].tolist() == [20, 30, 10]
    _png(tmp_path / "gray" / "b" / "2.jpg", (4, 3), mode="RGB", value=200)
    mixed = load(f"folder:{tmp_path / 'gray'}")
    assert mixed.images.shape == (4, 3, 4, 3)
    assert mixed.images[0, 0, 0].tolist() == [20, 20, 20]


def test_folder_mixed_sizes_names_both_files(tmp_path):
    _png(tmp_path / "a" / "small.png", (4, 4))
    _png(tmp_path / "b" / "large.png", (5, 4))
    message = raises_one_line("images differ in size", f"folder:{tmp_path}")
    assert "small.png is 4x4" in message and "large.png is 5x4" in message


GOOD_X = np.zeros((4, 3, 3), np.uint8)
GOOD_Y = np.array([0, 1, 0, 1])


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"x": np.array([GOOD_X[0], np.zeros((2, 2))], dtype=object)}, r"\[x\].*Python objects"),
        ({"y": np.array([0, None, 1, 0], dtype=object)}, r"\[y\].*Python objects"),
        ({"x": np.full((4, 3, 3), "a")}, "images of dtype <U1 must be uint8"),
        ({"x": np.zeros((4, 3, 3), complex)}, "images of dtype complex128"),
        ({"x": np.zeros((4, 3, 3), "datetime64[s]")}, r"images of dtype datetime64\[s\]"),
        ({"x": np.zeros((4, 3, 3), bool)}, "images of dtype bool"),
        ({"x": np.full((4, 3, 3), np.nan)}, "images of dtype float64 must be"),
        ({"x": np.zeros(4, np.uint8)}, r"images must have shape .* got \(4,\)"),
        ({"x": np.uint8(3)}, r"images must have shape .* got \(\)"),
        ({"x": np.zeros((4, 0, 3), np.uint8)}, r"n, h, w > 0, got \(4, 0, 3, 1\)"),
        ({"x": np.zeros((4, 3, 3, 2), np.uint8)}, "c 1 or 3"),
        ({"y": np.array([0, 1])}, r"expected 4 labels, one per image, got shape \(2,\)"),
        ({"y": np.int64(1)}, r"expected 4 labels, one per image, got shape \(\)"),
        ({"y": np.array(["a", "b", "a", "b"])}, "labels must be non-negative integers"),
        ({"y": np.array([0, np.nan, 1, 0])}, "labels must be non-negative integers"),
        ({"y": np.array([0, -1, 1, 0])}, "labels must be non-negative integers"),
        ({"y": np.array([0, 2**62, 1, 0])}, "not a class index below 65536"),
    ],
)
def test_npz_of_unusable_arrays_is_refused_on_one_line(tmp_path, arrays, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **{"x": GOOD_X, "y": GOOD_Y, **arrays})
    raises_one_line(match, f"npz:{path}")


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True])
def test_seed_outside_numpy_range_is_refused(seed):
    raises_one_line(
        rf"^seed={seed!r} must be a whole number from 0 to 4294967295$", "digits", seed=seed
    )
