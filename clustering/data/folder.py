"""Image folders: the reader (one subfolder of PNG or JPEG files per class) and the
`folder:PATH` dataset source, named by the folder's name (`folder:/data/photos` is `photos`)."""

import logging
from pathlib import Path

import numpy as np

from clustering.data.registry import DATASETS, DatasetSource, Loaded
from clustering.errors import BenchError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def read_image_folder(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """One subfolder per class of PNG/JPEG files -> images (n, h, w, c) uint8, labels (n,) int64,
    class names (sorted subfolder names). Gray images give c = 1; any colour image makes all RGB."""
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
        for file in _class_files(class_dir, source):
            pixels = _read_pixels(file, source)
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


def _class_files(class_dir: Path, source: str) -> list[Path]:
    """The class folder's PNG and JPEG files, sorted; BenchError when it holds none."""
    files = sorted(
        p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise BenchError(
            f"{source}: class folder {class_dir} holds no PNG or JPEG files; add images or "
            "remove it"
        )
    return files


def _read_pixels(file: Path, source: str) -> np.ndarray:
    """One image file's pixels, (h, w) for a gray mode, else (h, w, 3) RGB; BenchError naming
    the file when PIL cannot read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as img:
            img.load()
            gray = img.mode in ("1", "L", "LA", "I", "I;16", "F")
            return np.asarray(img.convert("L" if gray else "RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise BenchError(f"{source}: cannot read image {file} ({exc}); remove or fix it") from None


def load_folder(argument: str, data_dir, split: str) -> Loaded:
    """The image folder at PATH (data_dir is not used): one set, so split test or all."""
    path = Path(argument).expanduser()
    if split == "train":
        raise BenchError(
            f"folder:{argument}: an image folder is one set with no train split; use "
            "split 'test' or 'all'"
        )
    images, labels, class_names = read_image_folder(path)
    return Loaded(images, labels, class_names, folder_name(argument), str(path.resolve()))


def folder_name(argument: str) -> str:
    """The folder's own name: `photos` for folder:/data/photos (or folder:/data/photos/)."""
    full = Path(argument).expanduser().resolve()
    return full.name or str(full)  # the root folder has no name


DATASETS.register(
    DatasetSource(
        "folder:",
        load_folder,
        "a folder with one subfolder of PNG or JPEG images per class (named as the class)",
        where=lambda data_dir: ["the folder PATH"],
        name_of=folder_name,
    )
)
