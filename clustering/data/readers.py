"""File readers for the datasets: IDX, CIFAR batches (pickle and binary), .npz, image folders.

Each reader takes a path and returns arrays, validating the format on the way; a bad file raises
BenchError naming the file and the fix. Where to look for files is `clustering.datasets`' job.
"""

import gzip
import logging
import pickle
import zlib
from pathlib import Path

import numpy as np

from clustering.errors import BenchError

logger = logging.getLogger(__name__)

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (n, rows, cols)
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (n,)
CIFAR_SIDE = 32
CIFAR_RECORD_BYTES = 1 + 3 * CIFAR_SIDE * CIFAR_SIDE  # label byte, then R, G, B planes
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


# ---------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)


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


# ---------------------------------------------------------------- CIFAR-10


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
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == n_pixels):
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


# ---------------------------------------------------------------- npz and image folders


def to_uint8_images(x: np.ndarray, source: str) -> np.ndarray:
    """Images (n, h, w) or (n, h, w, c), uint8 / integers in 0..255 / floats in [0, 1] ->
    (n, h, w, c) uint8 with c in {1, 3}."""
    if x.ndim == 3:
        x = x[..., np.newaxis]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or len(x) == 0:
        raise BenchError(
            f"{source}: images must have shape (n, h, w) or (n, h, w, c) with c 1 or 3 and n > 0, "
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
    return y.astype(np.int64)


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
            x = to_uint8_images(npz[xkey], f"{source} [{xkey}]")
            images.append(x)
            labels.append(to_labels(npz[ykey], len(x), f"{source} [{ykey}]"))
    if len({x.shape[1:] for x in images}) > 1:
        raise BenchError(f"{source}: train and test images differ in shape; use one split")
    logger.info("read %s: %s", path, [p[0] for p in parts])
    return np.concatenate(images), np.concatenate(labels)


def read_image_folder(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One subfolder per class of PNG/JPEG files -> images (n, h, w, c) uint8, labels (n,) int64,
    class names (sorted subfolder names). Gray images give c = 1; any colour image makes all RGB."""
    from PIL import Image, UnidentifiedImageError

    source = f"folder:{path}"
    if not path.is_dir():
        raise BenchError(f"{source}: folder {path} not found; pass a folder of class subfolders")
    class_dirs = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise BenchError(
            f"{source}: no class subfolders in {path}; put each class's images in its own folder"
        )
    pictures, labels, first = [], [], None
    for label, class_dir in enumerate(class_dirs):
        files = sorted(
            p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise BenchError(
                f"{source}: class folder {class_dir} holds no PNG or JPEG files; add images or "
                "remove it"
            )
        for file in files:
            try:
                with Image.open(file) as img:
                    img.load()
                    gray = img.mode in ("1", "L", "LA", "I", "I;16", "F")
                    pixels = np.asarray(img.convert("L" if gray else "RGB"))
            except (UnidentifiedImageError, OSError) as exc:
                raise BenchError(
                    f"{source}: cannot read image {file} ({exc}); remove or fix it"
                ) from None
            if first is None:
                first = (file, pixels.shape[:2])
            elif pixels.shape[:2] != first[1]:
                raise BenchError(
                    f"{source}: images differ in size: {first[0]} is {first[1][1]}x{first[1][0]} "
                    f"but {file} is {pixels.shape[1]}x{pixels.shape[0]}; resize them to one size"
                )
            pictures.append(pixels)
            labels.append(label)
    if any(p.ndim == 3 for p in pictures):  # mixed modes: gray becomes RGB, as PIL converts it
        pictures = [p if p.ndim == 3 else np.repeat(p[..., None], 3, axis=-1) for p in pictures]
    images = np.stack(pictures)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    logger.info("read %s: %d images in %d classes", path, len(images), len(class_dirs))
    return images, np.asarray(labels, dtype=np.int64), [d.name for d in class_dirs]
