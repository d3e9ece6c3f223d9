"""Whether IDX records are the dataset they are named as. MNIST's and Fashion-MNIST's official
files share their names (`t10k-images-idx3-ubyte`, ...), so the name is checked on the content.

The rule, for each file of a split, on its records encoded as the uncompressed IDX file (so a
`.gz`, a plain file and Keras's `mnist.npz` holding the same records are the same file):
- as many records as the official file: its md5 must be the official uncompressed file's (the
  digests torchvision and the datasets' pages publish; a re-compressed `.gz` passes);
- fewer records: a cut, the official file's first records with the count changed (as
  `tests/data/mnist`): a labels file must begin with the official file's first ten labels
  (MNIST's test labels begin 7, 2, 1, 0, 4, Fashion-MNIST's 9, 2, 1, 1, 6); an images file is
  taken on its layout (n, 28, 28), which `read_idx` checked;
- more records: refused.
Anything else raises NotTheDataset (a BenchError) naming the file, its md5, what was expected
and, when the records are another set's, which.
"""

import hashlib
from dataclasses import dataclass

import numpy as np

from clustering.errors import BenchError

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
FIRST_LABELS = 10  # how many leading labels identify a cut


class NotTheDataset(BenchError):
    """Files found under a dataset's names whose records are not that dataset's."""


@dataclass(frozen=True)
class OfficialFile:
    """One official uncompressed IDX file: its record count, md5 and (labels) first labels."""

    records: int
    md5: str
    first_labels: tuple[int, ...] = ()


OFFICIAL = {
    "mnist": {
        "train-images-idx3-ubyte": OfficialFile(60_000, "6bbc9ace898e44ae57da46a324031adb"),
        "train-labels-idx1-ubyte": OfficialFile(
            60_000, "a25bea736e30d166cdddb491f175f624", (5, 0, 4, 1, 9, 2, 1, 3, 1, 4)
        ),
        "t10k-images-idx3-ubyte": OfficialFile(10_000, "2646ac647ad5339dbf082846283269ea"),
        "t10k-labels-idx1-ubyte": OfficialFile(
            10_000, "27ae3e4e09519cfbb04c329615203637", (7, 2, 1, 0, 4, 1, 4, 9, 5, 9)
        ),
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": OfficialFile(60_000, "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        "train-labels-idx1-ubyte": OfficialFile(
            60_000, "9018921c3c673c538a1fc5bad174d6f9", (9, 0, 0, 3, 0, 2, 7, 2, 5, 5)
        ),
        "t10k-images-idx3-ubyte": OfficialFile(10_000, "8181f5470baa50b63fa0f6fddb340f0a"),
        "t10k-labels-idx1-ubyte": OfficialFile(
            10_000, "15d484375f8d13e6eb1aabb0c3f46965", (9, 2, 1, 1, 6, 1, 4, 6, 5, 7)
        ),
    },
}
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}


def idx_md5(records: np.ndarray) -> str:
    """md5 of `records` (images (n, rows, cols) or labels (n,), values 0..255) written as an
    uncompressed IDX file of unsigned bytes."""
    magic = IMAGES_MAGIC if records.ndim == 3 else LABELS_MAGIC
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in records.shape)
    body = np.ascontiguousarray(records, dtype=np.uint8).tobytes()
    return hashlib.md5(header + body).hexdigest()


def _matches(official: OfficialFile, records: np.ndarray, digest: str) -> bool:
    n = len(records)
    if n == official.records:
        return digest == official.md5
    if n > official.records:
        return False
    if records.ndim == 3:
        return True
    head = tuple(int(v) for v in records[:FIRST_LABELS])
    return head == official.first_labels[: len(head)]


def _expected(official: OfficialFile, n: int) -> str:
    if n == official.records:
        return f"md5 {official.md5}"
    if n > official.records:
        return f"at most {official.records} records"
    labels = ", ".join(map(str, official.first_labels))
    return f"a cut of it, whose labels begin {labels}"


def _described(records: np.ndarray, digest: str) -> str:
    described = f"md5 {digest}, {len(records)} records"
    if records.ndim == 1:
        described += ", labels beginning " + ", ".join(map(str, records[:FIRST_LABELS].tolist()))
    return described


def check_official(name: str, stem: str, path, records: np.ndarray) -> None:
    """BenchError unless `records` (read from `path`) are dataset `name`'s official file `stem`
    or a cut of it (module docstring); images (n, rows, cols) or labels (n,)."""
    digest = idx_md5(records)
    if _matches(OFFICIAL[name][stem], records, digest):
        return
    others = [
        TITLES[other]
        for other, files in OFFICIAL.items()
        if other != name and _matches(files[stem], records, digest)
    ]
    seen = f"; these are {' or '.join(others)}'s" if others else ""
    raise NotTheDataset(
        f"{name}: {path} is not {TITLES[name]}'s {stem} ({_described(records, digest)}; "
        f"expected {_expected(OFFICIAL[name][stem], len(records))}){seen}; pass --data-dir "
        f"the folder holding {TITLES[name]}'s files"
    )
