"""Where dataset files are looked up: the user's --data-dir, then Keras's download cache; and the
one error that names the first missing file, the folders searched and where to download it."""

import os
from collections.abc import Callable
from pathlib import Path

from clustering.errors import BenchError


def keras_datasets_dir() -> Path:
    """Keras's download cache: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    home = os.environ.get("KERAS_HOME")
    return (Path(home) if home else Path.home() / ".keras").expanduser() / "datasets"


def bundled_test_data() -> list[tuple[str, Path]]:
    """(dataset, folder) for the small real files a clone of the repository ships in
    tests/data (the first 1,000 MNIST and 200 CIFAR-10 test images); [] for an installed
    package without them."""
    root = Path(__file__).resolve().parents[2] / "tests" / "data"
    found = [("mnist", root / "mnist"), ("cifar10", root / "cifar10")]
    return [(name, folder) for name, folder in found if folder.is_dir()]


def data_root(name: str, data_dir: str | os.PathLike | None) -> Path | None:
    """--data-dir as a Path (None if not given); BenchError if it is not a folder."""
    if data_dir is None:
        return None
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise BenchError(
            f"{name}: data dir {root} is not a folder; pass an existing folder to --data-dir"
        )
    return root


def find_file(folder: Path, stem: str) -> Path | None:
    """folder/stem or folder/stem.gz, whichever exists first."""
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            return path
    return None


def missing_error(
    name: str,
    url: str,
    candidates: list[tuple[Path, list[str]]],
    exists: Callable[[Path, str], object],
    suffix: str = "",
    also: str = "",
) -> BenchError:
    """Names the first file missing from the candidate (folder, needed files) holding the most,
    every folder searched, and the download page `url`."""
    folder, stems = max(candidates, key=lambda c: sum(bool(exists(c[0], s)) for s in c[1]))
    missing = next(s for s in stems if not exists(folder, s))
    where = ", ".join(dict.fromkeys(str(f) for f, _ in candidates))
    return BenchError(
        f"{name}: file {missing}{suffix} not found{also} in {where}; "
        f"download it from {url} or pass --data-dir"
    )


def unique(folders: list[Path]) -> list[str]:
    """The folders as strings, each once, in order."""
    return list(dict.fromkeys(str(folder) for folder in folders))
