"""Feature cache: extracted codes on disk, keyed by dataset digest, preprocessing, extractor,
its parameters and seed, so a configuration trained once is reused by every clusterer cell."""

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clustering.errors import BenchError

logger = logging.getLogger(__name__)


@dataclass
class CacheEntry:
    """What one extractor configuration produced: codes (n, d) float32, reconstructions of the
    first images (m, h, w, c) or None, how long the extraction took (seconds), and the fitted
    decoder (codes -> images) as the bytes of a `.keras` file, or None when the model has none."""

    features: np.ndarray
    reconstructions: np.ndarray | None
    extract_seconds: float
    decoder: bytes | None = None


def cache_key(
    digest: str, preprocessing: dict, extractor: str, params: dict, seed: int, version: int = 1
) -> str:
    """A hex key for one (data, preprocessing, extractor, params, seed) combination, and the
    extractor's `version` (raised when its model changes, so older entries are never read)."""
    fields = {
        "format": 2,  # 2: entries keep the decoder; entries of format 1 are never read
        "digest": digest,
        "preprocessing": preprocessing,
        "extractor": extractor,
        "params": params,
        "seed": seed,
    }
    if version != 1:  # version 1 keeps the keys it had before versions existed
        fields["version"] = version
    payload = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def derived_key(parent_key: str, stage: str, params: dict, seed: int) -> str:
    """A hex key for what `stage` (e.g. "reducer:umap") with `params` and `seed` makes of the
    entry `parent_key`: a clusterer sweep over one embedding finds it again."""
    payload = json.dumps(
        {"format": 2, "parent": parent_key, "stage": stage, "params": params, "seed": seed},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


class FeatureCache:
    """A folder of `<key>.npz` files, written atomically; a corrupt entry counts as a miss."""

    def __init__(self, folder: str | Path):
        """Create `folder` if missing; BenchError if it cannot be a folder of entries."""
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise BenchError(
                f"cannot use {self.folder} as the feature cache folder ({error.strerror}); "
                "pass another --cache-dir, or --no-cache"
            ) from None

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def get(self, key: str) -> CacheEntry | None:
        path = self._path(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                features = data["features"]
                checksum = str(data["checksum"])
                reconstructions = data["reconstructions"] if "reconstructions" in data else None
                extract_seconds = float(data["extract_seconds"])
                decoder = data["decoder"].tobytes() if "decoder" in data else None
            if _checksum(features, decoder) != checksum or features.ndim != 2:
                raise ValueError("checksum mismatch")
        except Exception as error:  # any unreadable entry is recomputed, never trusted
            logger.warning("feature cache entry %s is corrupt (%s); recomputing", path, error)
            path.unlink(missing_ok=True)
            return None
        return CacheEntry(features, reconstructions, extract_seconds, decoder)

    def put(self, key: str, entry: CacheEntry) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        arrays = {
            "features": entry.features,
            "checksum": np.array(_checksum(entry.features, entry.decoder)),
            "extract_seconds": np.array(entry.extract_seconds),
        }
        if entry.reconstructions is not None:
            arrays["reconstructions"] = entry.reconstructions
        if entry.decoder is not None:
            arrays["decoder"] = np.frombuffer(entry.decoder, dtype=np.uint8)
        write_atomically(self._path(key), lambda stream: np.savez(stream, **arrays))


def write_atomically(path: Path, write) -> None:
    """Call `write(stream)` on a temporary file beside `path`, then rename it to `path`: a
    reader sees the whole file or none (no half-written entry after a crash)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _checksum(features: np.ndarray, decoder: bytes | None = None) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(features).tobytes())
    if decoder is not None:
        digest.update(decoder)
    return digest.hexdigest()
