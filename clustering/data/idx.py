"""IDX files (MNIST, Fashion-MNIST): the reader, and the `mnist` and `fashion_mnist` sources,
which look in --data-dir (or its mnist / fashion_mnist subfolder), then in Keras's cache, where
MNIST may also be Keras's single mnist.npz."""

import gzip
import logging
import zlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from clustering.data.dataset import SPLIT_PARTS
from clustering.data.identity import NotTheDataset, check_official
from clustering.data.npz import read_npz
from clustering.data.registry import DATASETS, DatasetSource, Loaded
from clustering.data.sources import data_root, find_file, keras_datasets_dir, missing_error, unique
from clustering.errors import BenchError

logger = logging.getLogger(__name__)

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (n, rows, cols)
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (n,)
IDX_STEMS = {  # split part -> (images file, labels file), each plain or .gz
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
}


# ---------------------------------------------------------------- the reader


def _read_bytes(path: Path) -> bytes:
    """The whole file; `.gz` files decompressed. A broken gzip stream raises BenchError."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise BenchError(
            f"{path}: truncated or corrupt gzip file ({exc}); re-download it"
        ) from None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """An IDX file of unsigned bytes -> uint8 array, (n, rows, cols) for images or (n,) labels.

    Checks the magic number (2051 images, 2049 labels) and the declared sizes against the bytes.
    """
    data = _read_bytes(path)
    kind = "images" if magic == IDX_IMAGES_MAGIC else "labels"
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise BenchError(
            f"{path}: truncated IDX file ({len(data)} bytes, shorter than its header); "
            "re-download it"
        )
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise BenchError(
            f"{path}: not an IDX {kind} file (magic number {found}, expected {magic}); "
            f"check that the file is the {kind} file and not corrupt"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "oversized"
        raise BenchError(
            f"{path}: {problem} IDX file: header declares shape {shape} ({expected} bytes) "
            f"but the file holds {len(data)} bytes; re-download it"
        )
    logger.info("read %s: %s %s", path, kind, shape)
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_pair(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Matching IDX images and labels files -> images (n, rows, cols, 1) uint8, labels (n,)."""
    images = read_idx(images_path, IDX_IMAGES_MAGIC)
    labels = read_idx(labels_path, IDX_LABELS_MAGIC)
    if len(images) != len(labels):
        raise BenchError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
            "labels; use the images and labels files of the same split"
        )
    return images[..., np.newaxis], labels.astype(np.int64)


# ---------------------------------------------------------------- the datasets


@dataclass(frozen=True)
class IdxSet:
    """A dataset shipped as IDX files: where its files are and what its classes are called."""

    description: str
    subfolders: tuple[str, ...]  # under --data-dir, tried before --data-dir itself
    keras_folder: str  # under Keras's cache ("" for the cache itself)
    url: str
    class_names: list[str]
    keras_npz: str | None = None  # Keras's single-file copy, if it keeps one


IDX_SETS = {
    "mnist": IdxSet(
        "MNIST handwritten digits, 28x28 gray, 10 classes (IDX files or Keras's mnist.npz)",
        ("mnist",),
        "",
        "http://yann.lecun.com/exdb/mnist/",
        [str(i) for i in range(10)],
        keras_npz="mnist.npz",
    ),
    "fashion_mnist": IdxSet(
        "Fashion-MNIST clothing, 28x28 gray, 10 classes (IDX files)",
        ("fashion_mnist", "fashion-mnist"),
        "fashion-mnist",
        "https://github.com/zalandoresearch/fashion-mnist",
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot"],
    ),
}  # fmt: skip


def idx_folders(name: str, data_dir) -> list[Path]:
    """The folders searched, in order: the named subfolders of --data-dir (more specific), then
    --data-dir itself, then Keras's cache."""
    idx_set = IDX_SETS[name]
    cached = [keras_datasets_dir() / idx_set.keras_folder]
    if data_dir is None:
        return cached
    root = Path(data_dir).expanduser()
    return [*(root / sub for sub in idx_set.subfolders), root, *cached]


def _stems(split: str) -> list[str]:
    return [stem for part in SPLIT_PARTS[split] for stem in IDX_STEMS[part]]


def _find(name: str, folders: list[Path], split: str) -> tuple[str, object] | None:
    """("idx", [images, labels, ...] paths) or ("npz", Keras's .npz path) or None."""
    keras_npz = IDX_SETS[name].keras_npz
    for folder in folders:
        paths = [find_file(folder, stem) for stem in _stems(split)]
        if all(paths):
            return "idx", paths
        if keras_npz and (folder / keras_npz).is_file():
            return "npz", folder / keras_npz
    return None


def load_idx_set(name: str, data_dir, split: str) -> Loaded:
    """The IDX set `name` (a key of IDX_SETS) from the first folder holding the split's files."""
    idx_set = IDX_SETS[name]
    folders = idx_folders(name, data_root(name, data_dir))
    found = _find(name, folders, split)
    if found is None:
        also = f" (nor a Keras {idx_set.keras_npz})" if idx_set.keras_npz else ""
        candidates = [(folder, _stems(split)) for folder in folders]
        raise missing_error(name, idx_set.url, candidates, find_file, "(.gz)", also)
    kind, where = found
    pairs = [_read_part(name, kind, where, part) for part in SPLIT_PARTS[split]]
    images = np.concatenate([p[0] for p in pairs]) if len(pairs) > 1 else pairs[0][0]
    labels = np.concatenate([p[1] for p in pairs]) if len(pairs) > 1 else pairs[0][1]
    source = where if kind == "npz" else where[0].parent
    return Loaded(images, labels, idx_set.class_names, name, str(source.resolve()))


def _read_part(name: str, kind: str, where, part: str) -> tuple[np.ndarray, np.ndarray]:
    """One split part's images (n, 28, 28, 1) and labels (n,), checked to be `name`'s
    (identity.check_official): from the IDX pair `where` found for the split, or Keras's .npz."""
    images_stem, labels_stem = IDX_STEMS[part]
    if kind == "npz":
        images, labels = read_npz(where, part)
        images_path = labels_path = where
    else:
        paths = {path.name.removesuffix(".gz"): path for path in where}
        images_path, labels_path = paths[images_stem], paths[labels_stem]
        images, labels = read_idx_pair(images_path, labels_path)
    check_official(name, images_stem, images_path, images[..., 0])
    check_official(name, labels_stem, labels_path, labels)
    return images, labels


def _where(name: str, data_dir) -> list[str]:
    return unique(idx_folders(name, data_dir))


def _found(name: str, data_dir) -> bool:
    """Whether the test split's files are there and are `name`'s (not another set's)."""
    found = _find(name, idx_folders(name, data_dir), "test")
    if found is None:
        return False
    try:
        _read_part(name, *found, "test")
    except NotTheDataset:
        return False
    return True


for _name, _set in IDX_SETS.items():
    DATASETS.register(
        DatasetSource(
            _name,
            load_idx_set,
            _set.description,
            where=partial(_where, _name),
            found=partial(_found, _name),
        )
    )
