"""Datasets by name: where their files are, the Dataset they load into, and preprocessing.

`load("mnist", data_dir=...)` finds the files (data_dir first, then Keras's cache folder), reads
them with `clustering.dataset_files`, optionally takes a class-stratified subset, and returns a
Dataset whose `digest` hashes its content, so caches can key on it. `preprocess` is the one place
images become model input.
"""

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clustering.data import readers as files
from clustering.errors import BenchError

logger = logging.getLogger(__name__)

DEFAULT_DATASET = "digits"
DATASET_NAMES = ["digits", "mnist", "fashion_mnist", "cifar10"]
SPLITS = ("test", "train", "all")

_CHOICES = ", ".join([*DATASET_NAMES, "npz:PATH", "folder:PATH"])
_SPLIT_PARTS = {"test": ("test",), "train": ("train",), "all": ("train", "test")}
_IDX_STEMS = {
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
}
_CIFAR_BATCHES = {"test": ("test_batch",), "train": tuple(f"data_batch_{i}" for i in range(1, 6))}
_CIFAR_LAYOUTS = {  # layout -> (batch file suffix, meta file, official folder name)
    "py": ("", "batches.meta", "cifar-10-batches-py"),
    "bin": (".bin", "batches.meta.txt", "cifar-10-batches-bin"),
}
_URLS = {
    "mnist": "http://yann.lecun.com/exdb/mnist/",
    "fashion_mnist": "https://github.com/zalandoresearch/fashion-mnist",
    "cifar10": "https://www.cs.toronto.edu/~kriz/cifar.html",
}
_CLASS_NAMES = {
    "mnist": [str(i) for i in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"],
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """Labelled images. `images` (n, h, w, c) uint8 in 0..255, c 1 (gray) or 3 (RGB); `labels`
    (n,) int64 class indices into `class_names`; `digest` the hex sha256 of shape, pixels and
    labels (equal content gives an equal digest, whatever file it came from). Arrays are
    read-only, so the digest stays true."""

    images: np.ndarray
    labels: np.ndarray
    name: str
    class_names: list[str]
    digest: str

    @classmethod
    def from_arrays(cls, images: np.ndarray, labels: np.ndarray, name: str,
                    class_names: list[str]) -> "Dataset":
        """Validate the arrays, make read-only views of them and compute the digest."""
        images = np.ascontiguousarray(images).view()
        labels = np.ascontiguousarray(labels, dtype=np.int64).view()
        if images.dtype != np.uint8 or images.ndim != 4 or labels.shape != (len(images),):
            raise BenchError(
                f"{name}: need images (n, h, w, c) uint8 and labels (n,), got images "
                f"{images.shape} {images.dtype} and labels {labels.shape}"
            )
        images.flags.writeable = False
        labels.flags.writeable = False
        return cls(images, labels, name, list(class_names), _digest(images, labels))

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, images={self.images.shape} uint8, "
                f"classes={len(self.class_names)}, digest={self.digest[:12]!r})")


def _digest(images: np.ndarray, labels: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(repr(tuple(images.shape)).encode())
    h.update(images.tobytes())
    h.update(labels.astype("<i8").tobytes())
    return h.hexdigest()


def load(name: str = DEFAULT_DATASET, data_dir: str | os.PathLike | None = None,
         split: str = "test", limit: int | None = None, seed: int = 0) -> Dataset:
    """Load a dataset by name: digits, mnist, fashion_mnist, cifar10, npz:PATH or folder:PATH.

    split: "test", "train" or "all" (train then test). limit: a class-stratified subset of that
    many images, chosen with `seed`, in original order. Bad input raises BenchError.
    """
    if split not in SPLITS:
        raise BenchError(f"unknown split {split!r}; choose from: {', '.join(SPLITS)}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | np.integer)):
        raise BenchError(f"limit must be a whole number of images, got {limit!r}")
    if name == "digits":
        images, labels, class_names = _load_digits(split)
    elif name in ("mnist", "fashion_mnist"):
        images, labels = _load_idx_set(name, _data_dir(name, data_dir), split)
        class_names = _CLASS_NAMES[name]
    elif name == "cifar10":
        images, labels, class_names = _load_cifar10(_data_dir(name, data_dir), split)
    elif name.startswith("npz:") and name[4:]:
        images, labels = files.read_npz(Path(name[4:]).expanduser(), split)
        class_names = [str(i) for i in range(int(labels.max()) + 1)]
    elif name.startswith("folder:") and name[7:]:
        if split == "train":
            raise BenchError(f"{name}: an image folder is one set with no train split; use "
                             "split 'test' or 'all'")
        images, labels, class_names = files.read_image_folder(Path(name[7:]).expanduser())
    else:
        raise BenchError(f"unknown dataset {name!r}; choose from: {_CHOICES}")
    if limit is not None and limit != len(labels):
        keep = _stratified_subset(labels, int(limit), seed, name)
        images, labels = images[keep], labels[keep]
    dataset = Dataset.from_arrays(images, labels, name, class_names)
    logger.info("loaded %r split %s: %s", name, split, dataset)
    return dataset


def preprocess(images: np.ndarray, color: bool = False) -> np.ndarray:
    """uint8 images (n, h, w, c) -> float32 (n, h, w, c') in [0, 1].

    RGB (c = 3) becomes gray (c' = 1, 0.2989 R + 0.5870 G + 0.1140 B) unless `color`; gray input
    stays one channel either way.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise BenchError(f"preprocess needs uint8 images (n, h, w, c), got {images.shape} "
                         f"{images.dtype}; pass Dataset.images")
    if images.shape[-1] == 3 and not color:
        gray = images[..., 0].astype(np.float32) * np.float32(0.2989)
        gray += images[..., 1] * np.float32(0.5870)
        gray += images[..., 2] * np.float32(0.1140)
        out = gray[..., np.newaxis]
    else:
        out = images.astype(np.float32)
    out /= np.float32(255)
    return out


def describe_sources(data_dir: str | os.PathLike | None = None) -> list[dict]:
    """One row per named dataset: name, where (folders it looks in), found (test split there)."""
    root = Path(data_dir).expanduser() if data_dir is not None else None
    rows = [{"name": "digits", "where": "scikit-learn (bundled, no file)", "found": True}]
    for name in ("mnist", "fashion_mnist"):
        folders = _idx_folders(name, root)
        found = _find_idx_source(name, folders, "test") is not None
        rows.append({"name": name, "where": ", ".join(map(str, folders)), "found": found})
    candidates = _cifar_candidates(root)
    rows.append({
        "name": "cifar10",
        "where": ", ".join(dict.fromkeys(str(folder) for folder, _ in candidates)),
        "found": _find_cifar_source(candidates, "test") is not None,
    })
    return rows


# ---------------------------------------------------------------- where files are


def keras_datasets_dir() -> Path:
    """Keras's download cache: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    home = os.environ.get("KERAS_HOME")
    return (Path(home) if home else Path.home() / ".keras").expanduser() / "datasets"


def _data_dir(name: str, data_dir: str | os.PathLike | None) -> Path | None:
    if data_dir is None:
        return None
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise BenchError(f"{name}: data dir {root} is not a folder; pass an existing folder "
                         "to --data-dir")
    return root


def _find_file(folder: Path, stem: str) -> Path | None:
    """folder/stem or folder/stem.gz, whichever exists first."""
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            return path
    return None


def _missing_error(name: str, candidates: list[tuple[Path, list[str]]], exists,
                   suffix: str = "", also: str = "") -> BenchError:
    """Names the first file missing from the candidate (folder, needed files) holding the most."""
    folder, stems = max(candidates, key=lambda c: sum(bool(exists(c[0], s)) for s in c[1]))
    missing = next(s for s in stems if not exists(folder, s))
    where = ", ".join(dict.fromkeys(str(f) for f, _ in candidates))
    return BenchError(
        f"{name}: file {missing}{suffix} not found{also} in {where}; "
        f"download it from {_URLS[name]} or pass --data-dir"
    )


def _idx_folders(name: str, root: Path | None) -> list[Path]:
    keras = keras_datasets_dir()
    if name == "mnist":
        local, cached = ["mnist"], [keras]
    else:
        local, cached = ["fashion_mnist", "fashion-mnist"], [keras / "fashion-mnist"]
    if root is None:
        return cached
    return [*(root / sub for sub in local), root, *cached]  # the named subfolder is more specific


def _find_idx_source(name: str, folders: list[Path], split: str) -> tuple[str, object] | None:
    """("idx", [images, labels, ...] paths) or ("npz", Keras mnist.npz path) or None."""
    stems = [stem for part in _SPLIT_PARTS[split] for stem in _IDX_STEMS[part]]
    for folder in folders:
        paths = [_find_file(folder, stem) for stem in stems]
        if all(paths):
            return "idx", paths
        if name == "mnist" and (folder / "mnist.npz").is_file():
            return "npz", folder / "mnist.npz"
    return None


def _load_idx_set(name: str, root: Path | None, split: str) -> tuple[np.ndarray, np.ndarray]:
    folders = _idx_folders(name, root)
    source = _find_idx_source(name, folders, split)
    if source is None:
        stems = [stem for part in _SPLIT_PARTS[split] for stem in _IDX_STEMS[part]]
        also = " (nor a Keras mnist.npz)" if name == "mnist" else ""
        raise _missing_error(name, [(f, stems) for f in folders], _find_file, "(.gz)", also)
    kind, found = source
    if kind == "npz":
        return files.read_npz(found, split)
    pairs = [files.read_idx_pair(found[i], found[i + 1]) for i in range(0, len(found), 2)]
    if len(pairs) == 1:
        return pairs[0]
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


def _cifar_candidates(root: Path | None) -> list[tuple[Path, str]]:
    """(folder, layout) pairs: data_dir as a layout folder or their parent, then Keras's cache."""
    found = []
    if root is not None:
        found += [(root, "py"), (root, "bin")]
        found += [(root / folder, layout) for layout, (_, _, folder) in _CIFAR_LAYOUTS.items()]
    keras = keras_datasets_dir()
    found += [(keras / "cifar-10-batches-py", "py"),  # tf.keras and Keras 2
              (keras / "cifar-10-batches-py-target" / "cifar-10-batches-py", "py")]  # Keras 3
    return found


def _cifar_stems(split: str, layout: str) -> list[str]:
    suffix = _CIFAR_LAYOUTS[layout][0]
    return [f"{b}{suffix}" for part in _SPLIT_PARTS[split] for b in _CIFAR_BATCHES[part]]


def _find_cifar_source(candidates: list[tuple[Path, str]],
                       split: str) -> tuple[Path, str, list[Path]] | None:
    for folder, layout in candidates:
        paths = [folder / stem for stem in _cifar_stems(split, layout)]
        if all(p.is_file() for p in paths):
            return folder, layout, paths
    return None


def _load_cifar10(root: Path | None, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    candidates = _cifar_candidates(root)
    source = _find_cifar_source(candidates, split)
    if source is None:
        needed = [(folder, _cifar_stems(split, layout)) for folder, layout in candidates]
        raise _missing_error("cifar10", needed, lambda folder, stem: (folder / stem).is_file())
    folder, layout, paths = source
    read = files.read_cifar_pickle if layout == "py" else files.read_cifar_bin
    parts = [read(path) for path in paths]
    class_names = files.read_cifar_class_names(folder / _CIFAR_LAYOUTS[layout][1])
    if class_names is None:
        logger.debug("no CIFAR meta file in %s; using the standard class names", folder)
        class_names = _CLASS_NAMES["cifar10"]
    images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    return images, labels, class_names


# ---------------------------------------------------------------- built-in set and subsets


def _load_digits(split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """scikit-learn's 1,797 8x8 digits, values 0..16 rescaled to 0..255 uint8, (n, 8, 8, 1)."""
    if split == "train":
        raise BenchError("digits has no train split (scikit-learn ships one set of 1,797 "
                         "images); use split 'test' or 'all'")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * 255 / 16).astype(np.uint8)[..., np.newaxis]
    logger.debug("loaded scikit-learn digits: %s", images.shape)
    return images, bunch.target.astype(np.int64), [str(i) for i in range(10)]


def _stratified_subset(labels: np.ndarray, limit: int, seed: int, name: str) -> np.ndarray:
    """Sorted indices of `limit` images, each class getting its share (largest remainder, at
    least one each), drawn at random with `seed`."""
    classes, counts = np.unique(labels, return_counts=True)
    if not len(classes) <= limit <= len(labels):
        raise BenchError(
            f"{name}: limit {limit} must be between the number of classes ({len(classes)}) and "
            f"the number of images ({len(labels)}); pass a limit in that range or none"
        )
    exact = limit * counts / len(labels)
    quota = np.floor(exact).astype(int)
    order = np.argsort(-(exact - quota), kind="stable")
    quota[order[: limit - quota.sum()]] += 1
    while (quota == 0).any():  # give every class one image, taken from the largest share
        quota[np.argmax(quota)] -= 1
        quota[np.argmin(quota)] += 1
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(labels == c), size=q, replace=False)
              for c, q in zip(classes, quota, strict=True)]
    return np.sort(np.concatenate(chosen))
