"""NumPy .npz files: the reader (x, y or Keras's x_train, y_train, x_test, y_test) and the
`npz:PATH` dataset source, named by the file's name (`npz:/data/faces.npz` is `faces`)."""

import logging
from pathlib import Path

import numpy as np

from clustering.data.registry import DATASETS, DatasetSource, Loaded
from clustering.errors import BenchError

logger = logging.getLogger(__name__)

MAX_CLASSES = 2**16  # labels are class indices 0..MAX_CLASSES - 1, each named by its number


def to_uint8_images(x: np.ndarray, source: str) -> np.ndarray:
    """Images (n, h, w) or (n, h, w, c), uint8 / integers in 0..255 / floats in [0, 1] ->
    (n, h, w, c) uint8 with c in {1, 3}."""
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or 0 in x.shape:
        raise BenchError(
            f"{source}: images must have shape (n, h, w) or (n, h, w, c) with c 1 or 3 and n, h, "
            "w > 0, "
            f"got {x.shape}; reshape them before saving"
        )
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if x.dtype.kind in "iu" and x.min() >= 0 and x.max() <= 255:
        return x.astype(np.uint8)
    if x.dtype.kind == "f" and np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1:
        return np.round(x * 255).astype(np.uint8)
    raise BenchError(
        f"{source}: images of dtype {x.dtype} must be uint8 (0..255) or float in [0, 1]; "
        "rescale them before saving"
    )


def to_labels(y: np.ndarray, n: int, source: str) -> np.ndarray:
    """Labels (n,) or (n, 1) of non-negative integers -> (n,) int64."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n,):
        raise BenchError(f"{source}: expected {n} labels, one per image, got shape {y.shape}")
    if y.dtype.kind == "f" and np.array_equal(y, np.round(y)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu" or (n and y.min() < 0):
        raise BenchError(
            f"{source}: labels must be non-negative integers (class indices), got dtype {y.dtype}"
        )
    if n and y.max() >= MAX_CLASSES:
        raise BenchError(
            f"{source}: label {y.max()} is not a class index below {MAX_CLASSES}; number the "
            "classes 0, 1, ... (np.unique(y, return_inverse=True)[1])"
        )
    return y.astype(np.int64)


def read_array(npz, key: str, source: str) -> np.ndarray:
    """The array `key` of an open .npz; BenchError when it holds Python objects (dtype object),
    which load only by unpickling, never done here."""
    try:
        return npz[key]
    except ValueError:
        raise BenchError(
            f"{source} [{key}]: the array holds Python objects (dtype object), which are not "
            "loaded; save numbers, e.g. np.savez(path, x=np.stack(images).astype(np.uint8), y=...)"
        ) from None


def read_npz(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """An .npz with `x`, `y` (one set, split test/all) or Keras's `x_train`, `y_train`, `x_test`,
    `y_test` -> images (n, h, w, c) uint8, labels (n,) int64; split `all` is train then test."""
    source = f"npz:{path}"
    if not path.is_file():
        raise BenchError(f"{source}: file {path} not found; pass the path of an existing .npz file")
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise BenchError(
            f"{source}: cannot read {path} as .npz ({exc}); save it with np.savez"
        ) from None
    with npz:
        keys = set(npz.files)
        if {"x", "y"} <= keys:
            if split == "train":
                raise BenchError(
                    f"{source}: arrays x and y form one set with no train split; use split "
                    "'test' or 'all', or save x_train/y_train/x_test/y_test"
                )
            parts = [("x", "y")]
        elif split in ("test", "train"):
            parts = [(f"x_{split}", f"y_{split}")]
        else:
            parts = [("x_train", "y_train"), ("x_test", "y_test")]
        missing = [key for pair in parts for key in pair if key not in keys]
        if missing:
            raise BenchError(
                f"{source}: arrays {', '.join(missing)} missing (found: "
                f"{', '.join(sorted(keys))}); save x and y, or x_train/y_train/x_test/y_test"
            )
        images, labels = [], []
        for xkey, ykey in parts:
            x = to_uint8_images(read_array(npz, xkey, source), f"{source} [{xkey}]")
            images.append(x)
            labels.append(to_labels(read_array(npz, ykey, source), len(x), f"{source} [{ykey}]"))
    if len({x.shape[1:] for x in images}) > 1:
        raise BenchError(f"{source}: train and test images differ in shape; use one split")
    logger.info("read %s: %s", path, [p[0] for p in parts])
    return np.concatenate(images), np.concatenate(labels)


def load_npz(argument: str, data_dir, split: str) -> Loaded:
    """The .npz file at PATH (data_dir is not used); class names are the label values."""
    path = Path(argument).expanduser()
    images, labels = read_npz(path, split)
    class_names = [str(i) for i in range(int(labels.max()) + 1)]
    return Loaded(images, labels, class_names, npz_name(argument), str(path.resolve()))


def npz_name(argument: str) -> str:
    """The file's name without .npz: `faces` for npz:/data/faces.npz."""
    return Path(argument).expanduser().resolve().stem


DATASETS.register(
    DatasetSource(
        "npz:",
        load_npz,
        "a NumPy .npz file holding x, y (one set) or x_train, y_train, x_test, y_test",
        where=lambda data_dir: ["the file PATH"],
        name_of=npz_name,
    )
)
