"""A PyTorch state dict read without PyTorch, and without running code from the file.

A legacy `.pth` file (what `torch.save` wrote before PyTorch 1.6) is five pickles and raw bytes:
a magic number, the format version, a dict of system facts, the state dict (an OrderedDict of
tensors, each naming a storage by key), the list of storage keys, then per key an 8-byte element
count and the storage's bytes. The state dict is unpickled with an unpickler that allows only the
globals a state dict of plain tensors names, mapped to NumPy rebuilders here, so no code in the
file is ever run.
"""

import collections
import logging
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clustering.errors import BenchError

logger = logging.getLogger(__name__)

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
STORAGE_DTYPES = {  # torch.<name>Storage -> the NumPy dtype of its elements (little-endian)
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


@dataclass
class _Storage:
    """One storage named by the state dict; its bytes follow the pickles."""

    key: str
    dtype: np.dtype
    data: np.ndarray | None = None


@dataclass
class _PendingTensor:
    """A tensor as `torch._utils._rebuild_tensor_v2` describes it, built once the bytes are read."""

    storage: _Storage
    offset: int
    shape: tuple
    strides: tuple


def _rebuild_tensor(storage, offset, shape, strides, *_):
    """The arguments of `_rebuild_tensor_v2`; requires_grad and the hooks are ignored."""
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor names no storage")
    return _PendingTensor(storage, int(offset), tuple(shape), tuple(strides))


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles an OrderedDict of tensors; any other global raises BenchError."""

    def __init__(self, file, path: Path):
        super().__init__(file)
        self.path = path
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return STORAGE_DTYPES[name]
        raise BenchError(
            f"{self.path}: the restricted state-dict reader refuses to load global "
            f"{module}.{name} (a state dict holds only tensors); the file is not the weights "
            "file the package ships, reinstall it"
        )

    def persistent_load(self, pid):
        """('storage', dtype, key, location, size, view) -> the storage of that key."""
        if not (isinstance(pid, tuple) and len(pid) >= 4 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        dtype, key = pid[1], str(pid[2])
        if not isinstance(dtype, np.dtype):
            raise pickle.UnpicklingError(f"storage {key} has no known element type")
        return self.storages.setdefault(key, _Storage(key, dtype))


def read_state_dict(path) -> dict[str, np.ndarray]:
    """A legacy `.pth` state dict -> {name: array} in file order, C-contiguous copies.

    BenchError naming the file for anything that is not a legacy state dict of tensors: another
    format (a zip archive), a refused global, truncated bytes, a tensor outside its storage.
    """
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            unpickler = _read_header(stream, path)
            pending = unpickler.load()
            keys = _StateDictUnpickler(stream, path).load()
            _read_storages(stream, unpickler.storages, keys, path)
    except BenchError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, struct.error) as error:
        raise BenchError(
            f"{path}: cannot be read as a PyTorch state dict ({type(error).__name__}: {error}); "
            "reinstall the package that ships it"
        ) from None
    if not isinstance(pending, dict):
        raise BenchError(f"{path}: holds a {type(pending).__name__}, not a state dict")
    tensors = {name: _materialise(name, tensor, path) for name, tensor in pending.items()}
    logger.debug("read %s: %d tensors", path, len(tensors))
    return tensors


def _read_header(stream, path: Path) -> _StateDictUnpickler:
    """Check the magic number and version pickles; the unpickler for the state dict."""
    if stream.read(2) != b"\x80\x02":  # a legacy file starts with a protocol-2 pickle
        raise BenchError(
            f"{path}: not a legacy PyTorch state dict (a zip archive or another format); "
            "only files written by torch.save before PyTorch 1.6 are read"
        )
    stream.seek(0)
    magic = _StateDictUnpickler(stream, path).load()
    version = _StateDictUnpickler(stream, path).load()
    if magic != LEGACY_MAGIC or version != LEGACY_PROTOCOL:
        raise BenchError(f"{path}: not a legacy PyTorch state dict (magic {magic!r})")
    _StateDictUnpickler(stream, path).load()  # system facts: byte order, type sizes
    return _StateDictUnpickler(stream, path)


def _read_storages(stream, storages: dict[str, _Storage], keys, path: Path) -> None:
    """Fill each storage with its elements, in the order of `keys`."""
    if not isinstance(keys, list) or set(map(str, keys)) != set(storages):
        raise BenchError(f"{path}: the storage list does not match the tensors; reinstall it")
    for key in map(str, keys):
        storage = storages[key]
        (count,) = struct.unpack("<q", stream.read(8))
        size = count * storage.dtype.itemsize
        data = stream.read(size)
        if count < 0 or len(data) != size:
            raise BenchError(f"{path}: storage {key} is truncated; reinstall the package")
        storage.data = np.frombuffer(data, dtype=storage.dtype)


def _materialise(name: str, tensor: _PendingTensor, path: Path) -> np.ndarray:
    """The tensor's elements as a C-contiguous array; BenchError if it reaches past its storage."""
    if not isinstance(tensor, _PendingTensor):
        raise BenchError(f"{path}: entry {name} is not a tensor")
    data, shape, strides = tensor.storage.data, tensor.shape, tensor.strides
    bad = len(shape) != len(strides) or any(s < 0 for s in (*shape, *strides))
    last = tensor.offset + sum((n - 1) * s for n, s in zip(shape, strides, strict=False))
    if bad or tensor.offset < 0 or (min(shape, default=1) > 0 and last >= len(data)):
        raise BenchError(f"{path}: tensor {name} lies outside its storage; reinstall the package")
    if min(shape, default=1) == 0:
        return np.zeros(shape, dtype=data.dtype)
    itemsize = data.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        data[tensor.offset :], shape=shape, strides=[s * itemsize for s in strides], writeable=False
    )
    return view.copy(order="C")
