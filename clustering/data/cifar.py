"""CIFAR-10 batches: readers of the python (pickle, through an unpickler that loads arrays only)
and binary layouts, and the `cifar10` source, which looks in --data-dir (a layout folder or its
parent), then in Keras's cache (Keras 2 and Keras 3 layouts)."""

import logging
import pickle
from pathlib import Path

import numpy as np

from clustering.data.dataset import SPLIT_PARTS
from clustering.data.registry import DATASETS, DatasetSource, Loaded
from clustering.data.sources import data_root, keras_datasets_dir, missing_error, unique
from clustering.errors import BenchError

logger = logging.getLogger(__name__)

CIFAR_SIDE = 32
CIFAR_RECORD_BYTES = 1 + 3 * CIFAR_SIDE * CIFAR_SIDE  # label byte, then R, G, B planes
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR_CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                     "ship", "truck"]  # fmt: skip
CIFAR_BATCHES = {"test": ("test_batch",), "train": tuple(f"data_batch_{i}" for i in range(1, 6))}
CIFAR_LAYOUTS = {  # layout -> (batch file suffix, meta file, official folder name)
    "py": ("", "batches.meta", "cifar-10-batches-py"),
    "bin": (".bin", "batches.meta.txt", "cifar-10-batches-bin"),
}


# ---------------------------------------------------------------- the readers


def _numpy_reconstruct():
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only; any other global raises BenchError.

    An official CIFAR batch names exactly numpy.core.multiarray._reconstruct, numpy.ndarray and
    numpy.dtype, so refusing everything else costs nothing and stops code execution.
    """

    def find_class(self, module: str, name: str):
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
            ("numpy", "ndarray"): lambda: np.ndarray,
            ("numpy", "dtype"): lambda: np.dtype,
        }
        if (module, name) not in allowed:
            raise BenchError(
                f"{self.path}: the restricted CIFAR unpickler refuses to load global "
                f"{module}.{name} (a CIFAR batch holds only numpy arrays); the file is not an "
                "official batch, re-download it from https://www.cs.toronto.edu/~kriz/cifar.html"
            )
        return allowed[(module, name)]()

    def __init__(self, file, path: Path):
        super().__init__(file, encoding="bytes")
        self.path = path


def _unpickle(path: Path) -> object:
    """Load one pickle through the restricted unpickler; str keys of a dict become bytes."""
    try:
        with open(path, "rb") as f:
            obj = _ArrayOnlyUnpickler(f, path).load()
    except BenchError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise BenchError(
            f"{path}: cannot be read as a CIFAR python batch ({type(exc).__name__}: {exc}); "
            "re-download it"
        ) from None
    if isinstance(obj, dict):
        obj = {k.encode() if isinstance(k, str) else k: v for k, v in obj.items()}
    return obj


def _cifar_images(flat: np.ndarray) -> np.ndarray:
    """(n, 3072) uint8 rows of R, G, B planes -> (n, 32, 32, 3) HWC uint8."""
    cube = flat.reshape(-1, 3, CIFAR_SIDE, CIFAR_SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(cube)


def read_cifar_pickle(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A CIFAR-10 python batch -> images (n, 32, 32, 3) uint8, labels (n,) int64."""
    batch = _unpickle(path)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        found = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise BenchError(
            f"{path}: not a CIFAR python batch (expected a dict with b'data' and b'labels', "
            f"found {found}); point --data-dir at the cifar-10-batches-py folder"
        )
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    n_pixels = 3 * CIFAR_SIDE * CIFAR_SIDE
    if not (
        isinstance(data, np.ndarray)
        and data.dtype == np.uint8
        and data.ndim == 2
        and data.shape[1] == n_pixels
    ):
        raise BenchError(
            f"{path}: b'data' must be a (n, {n_pixels}) uint8 array; re-download the batch"
        )
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu":
        raise BenchError(
            f"{path}: b'labels' must be {len(data)} integers, one per image; re-download the batch"
        )
    logger.info("read %s: %d CIFAR images", path, len(data))
    return _cifar_images(data), labels.astype(np.int64)


def read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A CIFAR-10 binary batch of 3073-byte records -> images (n, 32, 32, 3) uint8, labels (n,)."""
    data = path.read_bytes()
    if len(data) == 0 or len(data) % CIFAR_RECORD_BYTES:
        raise BenchError(
            f"{path}: truncated CIFAR binary batch ({len(data)} bytes is not a positive multiple "
            f"of the {CIFAR_RECORD_BYTES}-byte record); re-download it"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR_RECORD_BYTES)
    logger.info("read %s: %d CIFAR images", path, len(records))
    return _cifar_images(records[:, 1:]), records[:, 0].astype(np.int64)


def read_cifar_class_names(path: Path) -> list[str] | None:
    """Class names from `batches.meta` (pickle) or `batches.meta.txt`; None if there is none."""
    if not path.is_file():
        return None
    if path.suffix == ".txt":
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    else:
        meta = _unpickle(path)
        raw = meta.get(b"label_names") if isinstance(meta, dict) else None
        if not isinstance(raw, list):
            raise BenchError(f"{path}: no b'label_names' list in the CIFAR meta file; re-download")
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in raw]
    logger.debug("read %s: class names %s", path, names)
    return names


# ---------------------------------------------------------------- the dataset


def cifar_candidates(data_dir) -> list[tuple[Path, str]]:
    """(folder, layout) pairs: --data-dir as a layout folder or their parent, then Keras's cache."""
    found = []
    if data_dir is not None:
        root = Path(data_dir).expanduser()
        found += [(root, "py"), (root, "bin")]
        found += [(root / folder, layout) for layout, (_, _, folder) in CIFAR_LAYOUTS.items()]
    keras = keras_datasets_dir()
    found += [
        (keras / "cifar-10-batches-py", "py"),  # tf.keras and Keras 2
        (keras / "cifar-10-batches-py-target" / "cifar-10-batches-py", "py"),  # Keras 3
    ]
    return found


def _stems(split: str, layout: str) -> list[str]:
    suffix = CIFAR_LAYOUTS[layout][0]
    return [f"{b}{suffix}" for part in SPLIT_PARTS[split] for b in CIFAR_BATCHES[part]]


def _find(candidates: list[tuple[Path, str]], split: str) -> tuple[Path, str, list[Path]] | None:
    """The first (folder, layout, batch paths) holding the split: every batch, or all
    but some of data_batch_2..5 (a cut of the training set), with a warning."""
    for folder, layout in candidates:
        paths = [folder / stem for stem in _stems(split, layout)]
        present = [p for p in paths if p.is_file()]
        if present == paths or _leading_training_batches(paths, present, layout):
            if present != paths:
                missing = ", ".join(p.name for p in paths if p not in present)
                logger.warning("%s: %s not found; reading the batches present", folder, missing)
            return folder, layout, present
    return None


def _leading_training_batches(paths: list[Path], present: list[Path], layout: str) -> bool:
    """Whether `present` is `paths` less some training batches other than the first."""
    suffix = CIFAR_LAYOUTS[layout][0]
    training = {f"{b}{suffix}" for b in CIFAR_BATCHES["train"][1:]}
    missing = [p for p in paths if p not in present]
    first = f"{CIFAR_BATCHES['train'][0]}{suffix}"
    has_first = any(p.name == first for p in present)
    return has_first and bool(missing) and all(p.name in training for p in missing)


def load_cifar10(name: str, data_dir, split: str) -> Loaded:
    """CIFAR-10 from the first candidate folder holding the split's batches."""
    candidates = cifar_candidates(data_root(name, data_dir))
    found = _find(candidates, split)
    if found is None:
        needed = [(folder, _stems(split, layout)) for folder, layout in candidates]
        raise missing_error(name, CIFAR_URL, needed, lambda folder, stem: (folder / stem).is_file())
    folder, layout, paths = found
    read = read_cifar_pickle if layout == "py" else read_cifar_bin
    parts = [read(path) for path in paths]
    class_names = read_cifar_class_names(folder / CIFAR_LAYOUTS[layout][1])
    if class_names is None:
        logger.debug("no CIFAR meta file in %s; using the standard class names", folder)
        class_names = CIFAR_CLASS_NAMES
    images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    return Loaded(images, labels, class_names, name, str(folder.resolve()))


DATASETS.register(
    DatasetSource(
        "cifar10",
        load_cifar10,
        "CIFAR-10 photos, 32x32 RGB, 10 classes (python or binary batches)",
        where=lambda data_dir: unique([folder for folder, _ in cifar_candidates(data_dir)]),
        found=lambda data_dir: _find(cifar_candidates(data_dir), "test") is not None,
    )
)
