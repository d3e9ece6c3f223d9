"""The pretrained extractor: its restricted weights reader, the missing-extra message, gray
input, ImageNet predictions that make sense, and the feature cache serving it. The sklearn
contract is tested with every other extractor in test_extractors.py."""

import os
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest

from clustering import data as datasets
from clustering import pipeline
from clustering.cache import FeatureCache
from clustering.cli import main
from clustering.errors import BenchError
from clustering.extractors import EXTRACTORS, efficientnet
from clustering.extractors.state_dict import LEGACY_MAGIC, LEGACY_PROTOCOL, read_state_dict

# ImageNet-1k class indices of watercraft: aircraft carrier, canoe, catamaran, container ship,
# fireboat, gondola, lifeboat, liner, pirate ship, schooner, speedboat, submarine, trimaran, yawl
WATERCRAFT = {403, 472, 484, 510, 554, 576, 625, 628, 724, 780, 814, 833, 871, 914}
CIFAR_SHIP = 8


# --- crafted legacy .pth files ---


def _torch_names(monkeypatch):
    """Stand-in modules named torch and torch._utils, so pickle can name their globals while
    a test writes a file (the reader never imports them)."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__ = utils.__name__
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "LongStorage"):
        storage = type(name, (), {"__module__": "torch"})
        setattr(torch, name, storage)
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


def _legacy_file(path, state, storages: dict[str, np.ndarray]) -> None:
    """Write `state` (a pickled object) as a legacy .pth, then each storage's count and bytes."""
    with open(path, "wb") as stream:
        for header in (LEGACY_MAGIC, LEGACY_PROTOCOL, {"little_endian": True}):
            pickle.dump(header, stream, protocol=2)
        _Pid(stream).dump(state)
        pickle.dump(list(storages), stream, protocol=2)
        for data in storages.values():
            stream.write(np.int64(data.size).tobytes() + data.tobytes())


class _Pid(pickle.Pickler):
    """Protocol 2; a _StorageRef pickles as its persistent id, as torch.save writes storages."""

    def __init__(self, stream):
        super().__init__(stream, protocol=2)

    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, _StorageRef) else None


class _StorageRef:
    def __init__(self, pid):
        self.pid = pid


class _RebuildTensor:
    """Pickles as torch._utils._rebuild_tensor_v2(storage, offset, shape, strides, False, {})."""

    def __init__(self, storage_pid, offset, shape, strides):
        self.args = (_StorageRef(storage_pid), offset, shape, strides, False, OrderedDict())

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, self.args


def test_reader_rebuilds_strided_tensors_and_scalars(tmp_path, monkeypatch):
    torch = _torch_names(monkeypatch)
    floats = np.arange(12, dtype="<f4")
    state = OrderedDict(
        # a (3, 4) array stored column-major, as converted checkpoints hold their kernels
        transposed=_RebuildTensor(
            ("storage", torch.FloatStorage, "0", "cpu", 12, None), 0, (3, 4), (1, 3)
        ),  # fmt: skip
        tail=_RebuildTensor(("storage", torch.FloatStorage, "0", "cpu", 12, None), 10, (2,), (1,)),
        count=_RebuildTensor(("storage", torch.LongStorage, "1", "cpu", 1, None), 0, (), ()),
    )
    path = tmp_path / "state.pth"
    _legacy_file(path, state, {"0": floats, "1": np.array([7], "<i8")})
    weights = read_state_dict(path)
    np.testing.assert_array_equal(weights["transposed"], floats.reshape(4, 3).T)
    assert weights["transposed"].flags.c_contiguous
    np.testing.assert_array_equal(weights["tail"], [10.0, 11.0])
    assert weights["count"].shape == () and weights["count"] == 7


class _RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_reader_refuses_a_file_naming_another_global_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    _legacy_file(path, OrderedDict(weight=_RunsACommand(marker)), {})
    with pytest.raises(BenchError, match=r"refuses to load global (posix|os|nt)\.system"):
        read_state_dict(path)
    assert not marker.exists()


def test_reader_refuses_a_tensor_reaching_past_its_storage(tmp_path, monkeypatch):
    torch = _torch_names(monkeypatch)
    pid = ("storage", torch.FloatStorage, "0", "cpu", 4, None)
    path = tmp_path / "short.pth"
    _legacy_file(path, OrderedDict(w=_RebuildTensor(pid, 0, (3, 3), (3, 1))), {"0": np.zeros(4)})
    with pytest.raises(BenchError, match="outside its storage"):
        read_state_dict(path)


def test_reader_names_a_file_of_another_format(tmp_path):
    path = tmp_path / "archive.pth"
    path.write_bytes(b"PK\x03\x04 a zip archive")
    with pytest.raises(BenchError, match="not a legacy PyTorch state dict"):
        read_state_dict(path)


# --- the missing extra ---


def test_without_the_weights_naming_the_extractor_names_the_extra_and_opens_no_run(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(efficientnet, "WEIGHTS_PACKAGE", "no_such_weights_package")
    stores = ["--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
              "--storage", f"sqlite:///{tmp_path / 'optuna.db'}"]  # fmt: skip
    code = main(["--quiet", "run", "--extractors", "raw,efficientnet", *stores])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert 'pip install "clustering-bench[pretrained]"' in err
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "optuna.db").exists()


# --- the network (slow: TensorFlow runs EfficientNet-Lite0 at 224x224) ---


@pytest.fixture(scope="module")
def cifar(test_data) -> tuple[np.ndarray, np.ndarray]:
    """The 200 shipped CIFAR-10 test images, RGB (200, 32, 32, 3) in [0, 1], and labels."""
    loaded = datasets.load("cifar10", data_dir=test_data / "cifar10")
    return datasets.preprocess(loaded.images, color=True), loaded.labels


@pytest.mark.slow
def test_imagenet_predictions_of_cifar_ships_are_watercraft(cifar):
    X, y = cifar
    ships = X[y == CIFAR_SHIP][:12]
    weights = read_state_dict(efficientnet.weights_path())
    model = efficientnet.build_efficientnet(weights, X.shape[1:], 224, include_top=True)
    top1 = np.asarray(model.predict_on_batch(ships)).argmax(axis=1)
    assert np.mean([label in WATERCRAFT for label in top1]) >= 0.5, top1


@pytest.mark.slow
def test_gray_images_give_the_features_of_their_rgb_repetition(cifar):
    gray = datasets.preprocess((cifar[0][:4] * 255).round().astype(np.uint8))  # (4, 32, 32, 1)
    extractor = EXTRACTORS.get("efficientnet")(image_size=160)
    features = extractor.fit(gray).transform(gray)
    rgb = np.repeat(gray, 3, axis=-1)
    expected = EXTRACTORS.get("efficientnet")(image_size=160).fit(rgb).transform(rgb)
    assert features.shape == (4, 1280) and features.dtype == np.float32
    np.testing.assert_allclose(features, expected, rtol=0, atol=1e-5)


def test_images_of_two_channels_are_refused():
    with pytest.raises(BenchError, match="1 or 3 channels"):
        EXTRACTORS.get("efficientnet")().fit(np.zeros((2, 32, 32, 2), np.float32))


@pytest.mark.slow
def test_the_feature_cache_serves_the_second_extraction(cifar, tmp_path):
    X = cifar[0][:8]
    cache = FeatureCache(tmp_path / "cache")
    common = dict(seed=0, digest="d", preprocessing={"color": True}, cache=cache)
    first = pipeline.extract(X, "efficientnet", {"image_size": 160}, **common)
    again = pipeline.extract(X, "efficientnet", {"image_size": 160}, **common)
    assert not first.cache_hit and again.cache_hit
    np.testing.assert_array_equal(again.features, first.features)
