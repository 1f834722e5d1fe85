"""Datasets: images as flat float tensors in [0, 1] with integer labels.

Sources: scikit-learn's digits (ships offline), MNIST / Fashion-MNIST / KMNIST from a directory of the four
standard IDX files (gzipped or raw, downloaded only on request), and a folder of images.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch


class DatasetError(ValueError):
    """A dataset is missing, malformed or asked for with impossible options."""


@dataclass(frozen=True)
class ImageData:
    """Flat images in [0, 1], shape (N, H*W), with labels (N,) (-1 where unknown)."""

    images: torch.Tensor
    labels: torch.Tensor
    image_shape: tuple[int, int]
    name: str
    classes: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, index: torch.Tensor | np.ndarray) -> ImageData:
        """The examples at `index`, as a new ImageData."""
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageData(self.images[index], self.labels[index], self.image_shape, self.name, self.classes)


@dataclass(frozen=True)
class DataSplits:
    train: ImageData
    eval: ImageData
    excluded: tuple[int, ...] = ()  # classes taken out of the training split (the evaluation split keeps them)


def hold_out(data: DataSplits, count: int) -> tuple[DataSplits, ImageData]:
    """The splits without the last `count` training images (labelled subsets are then drawn from the rest), and
    those images; refused unless some training images remain."""
    n = len(data.train) - count
    if not 0 <= count < len(data.train):
        raise DatasetError(f"cannot hold out {count} of {len(data.train)} training images: keep at least one")
    rest = DataSplits(data.train.subset(torch.arange(n)), data.eval, data.excluded)
    return rest, data.train.subset(torch.arange(n, len(data.train)))


def exclude_classes(data: DataSplits, classes: Sequence[int | str]) -> DataSplits:
    """The splits without `classes` (numbers or names) in training, for anomaly scores on what was never seen."""
    known = sorted({int(c) for c in data.train.labels.unique().tolist() if c >= 0})
    names = list(data.train.classes)
    chosen = []
    for item in classes:
        text = str(item).strip()
        if text in names:
            chosen.append(names.index(text))
        elif text.lstrip("-").isdigit() and int(text) in known:
            chosen.append(int(text))
        else:
            listed = ", ".join(names) if names else ", ".join(map(str, known))
            raise DatasetError(f"cannot hold out class {text!r}: {data.train.name} has classes {listed}")
    chosen = sorted(set(chosen))
    if not chosen:
        return data
    if len(chosen) == len(known):
        raise DatasetError(f"holding out every class of {data.train.name} leaves nothing to train on")
    keep = ~torch.isin(data.train.labels, torch.tensor(chosen, dtype=data.train.labels.dtype))
    train = data.train.subset(torch.nonzero(keep).squeeze(1))
    return DataSplits(train, data.eval, tuple(chosen))


# ---------------------------------------------------------------------------------------------------- IDX files

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "eval_images": "t10k-images-idx3-ubyte",
    "eval_labels": "t10k-labels-idx1-ubyte",
}

# Where each IDX dataset can be fetched from when the user asks for it (`download=True`).
IDX_SOURCES = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "kmnist": "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
}

# The class names each IDX dataset's labels 0-9 stand for: the legends and class pickers show these.
IDX_CLASSES = {
    "mnist": tuple(str(digit) for digit in range(10)),
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    # Kuzushiji-MNIST: one cursive hiragana per class, named by its modern form and reading.
    "kmnist": ("お o", "き ki", "す su", "つ tsu", "な na", "は ha", "ま ma", "や ya", "れ re", "を wo"),
}

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


# Deflate packs at most about 1032 bytes into one, so a gzipped file cannot hold more data than this times its size.
_MAX_GZIP_RATIO = 1032
# Largest image side accepted (IDX files, --image-size): a 512x512 image already gives the MLP's first layer of
# 1000 units a quarter of a billion weights (1 GB, 4 GB with gradients and Adam state).
MAX_IMAGE_SIDE = 512


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (gzipped or raw); malformed files raise DatasetError naming the file.

    The shape in the header is checked against the file's size before any data is read, so a header cannot make it
    allocate more than the file can hold.
    """
    path = Path(path)
    gzipped = False
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            gzipped = handle.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as stream:
            try:
                return _parse_idx(stream, path.name, size, gzipped)
            except DatasetError:
                # A damaged gzip stream explains a bad header best: read on a little (in chunks) to find out.
                for _ in range(16 if gzipped else 0):
                    if not stream.read(1 << 20):
                        break
                raise
    except (OSError, EOFError, zlib.error) as err:
        if gzipped and not isinstance(err, FileNotFoundError | PermissionError):
            raise DatasetError(f"{path.name} is a damaged gzip file ({err})") from None
        raise DatasetError(f"cannot read {path.name}: {getattr(err, 'strerror', None) or err}") from None


def _parse_idx(stream: BinaryIO, name: str, size: int, gzipped: bool) -> np.ndarray:
    head = stream.read(4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0:
        raise DatasetError(f"{name} is not an IDX file (bad magic number)")
    type_code, ndim = head[2], head[3]
    if type_code not in _IDX_DTYPES or ndim == 0:
        raise DatasetError(f"{name} is not an IDX file (type 0x{type_code:02x}, {ndim} dimensions)")
    header_end = 4 + 4 * ndim
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DatasetError(f"{name} is truncated (header cut short)")
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = np.dtype(_IDX_DTYPES[type_code])
    expected = math.prod(shape) * dtype.itemsize  # Python ints: a hostile shape cannot overflow
    if gzipped and expected > _MAX_GZIP_RATIO * size:
        raise DatasetError(
            f"{name} is not a real IDX file: its header promises {expected:,} bytes of data for shape {shape}, "
            f"more than a {size:,}-byte gzip file can hold"
        )
    if gzipped:
        data = stream.read(expected)
        # One byte more than promised is enough to call it padded; there is no need to count the rest.
        holds = f"{len(data):,}" if len(data) < expected else "more" if stream.read(1) else None
    else:
        holds = None if expected == size - header_end else f"{size - header_end:,}"
        data = stream.read(expected) if holds is None else b""
    if holds is not None:
        raise DatasetError(
            f"{name} is truncated or padded: its header promises {expected:,} bytes of data for shape {shape}, "
            f"it holds {holds}"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (stem + ".gz", stem):
        if (directory / candidate).is_file():
            return directory / candidate
    # Some archives name the files train-images.idx3-ubyte; accept that spelling too.
    dotted = stem.replace("-idx", ".idx")
    for candidate in (dotted + ".gz", dotted):
        if (directory / candidate).is_file():
            return directory / candidate
    return None


def _download_idx(name: str, directory: Path, missing: list[str]) -> None:
    base = IDX_SOURCES[name]
    directory.mkdir(parents=True, exist_ok=True)
    for stem in missing:
        url = base + stem + ".gz"
        target = directory / (stem + ".gz")
        partial = target.with_suffix(".gz.part")
        try:
            with urllib.request.urlopen(url, timeout=20) as response, open(partial, "wb") as out:
                out.write(response.read())
        except (urllib.error.URLError, OSError, TimeoutError) as err:
            partial.unlink(missing_ok=True)
            raise DatasetError(
                f"could not download {url} ({getattr(err, 'reason', err)}); are you offline? "
                f"Put the four IDX files ({', '.join(IDX_FILES.values())}, .gz or raw) in {directory.name} yourself"
            ) from None
        os.replace(partial, target)


def _check_bytes(array: np.ndarray, file_name: str, what: str) -> None:
    """Refuse IDX data that is not whole numbers from 0 to 255, as the MNIST format's images and labels are."""
    if array.dtype.kind not in "iu":
        raise DatasetError(f"{file_name} holds {array.dtype} numbers; its {what} must be whole numbers from 0 to 255")
    if array.dtype != np.uint8 and array.size and (array.min() < 0 or array.max() > 255):
        raise DatasetError(f"{file_name} holds {what} from {array.min()} to {array.max()}; they must be from 0 to 255")


def load_idx_dataset(name: str, data_dir: str | os.PathLike[str], download: bool = False) -> DataSplits:
    """MNIST-format dataset from `data_dir` (the four standard files), downloading missing ones if asked."""
    directory = Path(data_dir).expanduser()
    missing = [stem for stem in IDX_FILES.values() if _find_idx(directory, stem) is None]
    if missing and download:
        _download_idx(name, directory, missing)
        missing = [stem for stem in IDX_FILES.values() if _find_idx(directory, stem) is None]
    if missing:
        raise DatasetError(
            f"{name}: the folder {directory.name or directory} lacks {', '.join(missing)} (.gz or raw); "
            "point --data-dir at the folder holding the four IDX files, or pass --download"
        )
    files = {key: _find_idx(directory, stem) for key, stem in IDX_FILES.items()}
    arrays = {key: read_idx(path) for key, path in files.items()}  # type: ignore[arg-type]
    splits = []
    for split in ("train", "eval"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise DatasetError(
                f"{name} {split} files do not match: images {images.shape}, labels {labels.shape} "
                "(expected (N, H, W) images and N labels)"
            )
        image_file, label_file = files[f"{split}_images"].name, files[f"{split}_labels"].name  # type: ignore[union-attr]
        if len(images) == 0 or min(images.shape[1:]) < 1 or max(images.shape[1:]) > MAX_IMAGE_SIDE:
            raise DatasetError(
                f"{image_file} holds {images.shape[0]} images of {images.shape[1]}x{images.shape[2]} pixels; "
                f"expected at least one image, sides from 1 to {MAX_IMAGE_SIDE}"
            )
        _check_bytes(images, image_file, "pixel values")
        # The labels become class numbers and one-hot sizes, so a stray 2,000,000,000 would ask for a
        # 2-billion-class decoder.
        _check_bytes(labels, label_file, "class labels")
        flat = torch.from_numpy(images.reshape(images.shape[0], -1).astype(np.float32) / 255.0)
        splits.append(
            ImageData(
                flat,
                torch.from_numpy(labels.astype(np.int64)),
                tuple(images.shape[1:]),  # type: ignore[arg-type]
                name,
                IDX_CLASSES[name] if int(labels.max()) < len(IDX_CLASSES[name]) else (),
            )
        )
    train, evaluation = splits
    if train.image_shape != evaluation.image_shape:
        raise DatasetError(f"{name}: train images are {train.image_shape}, test images {evaluation.image_shape}")
    return DataSplits(train, evaluation)


# ---------------------------------------------------------------------------------------------------- others

EVAL_SPLIT_SEED = 0  # fixed, so the evaluation set never depends on the training seed


def _split(data: ImageData, eval_fraction: float) -> DataSplits:
    generator = torch.Generator().manual_seed(EVAL_SPLIT_SEED)
    order = torch.randperm(len(data), generator=generator)
    n_eval = max(1, int(round(len(data) * eval_fraction)))
    return DataSplits(data.subset(order[n_eval:]), data.subset(order[:n_eval]))


def load_digits_dataset() -> DataSplits:
    """scikit-learn's 8×8 digits (1,797 images, offline), split 80/20 with a fixed seed."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.data.astype(np.float32) / 16.0)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return _split(ImageData(images, labels, (8, 8), "digits"), eval_fraction=0.2)


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def load_image_folder(data_dir: str | os.PathLike[str], image_size: int = 28) -> DataSplits:
    """Grayscale images from a folder; sub-folders name the classes (else labels are -1). 10 % held out."""
    from PIL import Image, UnidentifiedImageError

    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DatasetError(f"image folder {root.name or root} does not exist")
    if not 2 <= image_size <= MAX_IMAGE_SIDE:
        raise DatasetError(f"--image-size must be from 2 to {MAX_IMAGE_SIDE}, got {image_size}")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    sources = (
        [(p, i) for i, d in enumerate(class_dirs) for p in sorted(d.iterdir())]
        if class_dirs
        else [(p, -1) for p in sorted(root.iterdir())]
    )
    sources = [(p, label) for p, label in sources if p.suffix.lower() in IMAGE_SUFFIXES]
    if len(sources) < 2:
        raise DatasetError(f"{root.name or root} holds fewer than two images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    pixels, labels = [], []
    for path, label in sources:
        try:
            with Image.open(path) as image:
                image = image.convert("L").resize((image_size, image_size), Image.BILINEAR)
                pixels.append(np.asarray(image, dtype=np.float32) / 255.0)
        except (UnidentifiedImageError, OSError) as err:
            # PIL's own message repeats the full path; the file's name is enough.
            reason = f" ({err.strerror})" if isinstance(err, OSError) and err.strerror else ""
            raise DatasetError(f"{path.name} is not a readable image{reason}") from None
        labels.append(label)
    images = torch.from_numpy(np.stack(pixels).reshape(len(pixels), -1))
    data = ImageData(
        images, torch.tensor(labels), (image_size, image_size), "folder", tuple(d.name for d in class_dirs)
    )
    return _split(data, eval_fraction=0.1)


DATASETS = ("digits", "mnist", "fashion-mnist", "kmnist", "folder")


def load_dataset(
    name: str, data_dir: str | os.PathLike[str] | None = None, *, download: bool = False, image_size: int = 28
) -> DataSplits:
    """Load a dataset by name; unknown names, and IDX/folder datasets without `data_dir`, raise DatasetError."""
    if name == "digits":
        return load_digits_dataset()
    if name in IDX_SOURCES:
        if data_dir is None:
            raise DatasetError(f"{name} needs --data-dir (a folder with the four IDX files)")
        return load_idx_dataset(name, data_dir, download=download)
    if name == "folder":
        if data_dir is None:
            raise DatasetError("folder needs --data-dir (a folder of images, optionally one sub-folder per class)")
        return load_image_folder(data_dir, image_size=image_size)
    raise DatasetError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")


def labelled_subset(labels: torch.Tensor, per_split: int, seed: int = 0) -> torch.Tensor:
    """Indices of `per_split` labelled examples, balanced across classes and fixed by `seed` (paper §5: 100, 1000).

    Classes get `per_split // n_classes` examples each; a remainder goes to the first classes.
    """
    classes = torch.unique(labels[labels >= 0])
    if per_split < len(classes):
        raise DatasetError(f"--labels {per_split} is fewer than the {len(classes)} classes; use at least one per class")
    generator = torch.Generator().manual_seed(seed)
    base, extra = divmod(per_split, len(classes))
    chosen = []
    for i, cls in enumerate(classes.tolist()):
        members = torch.nonzero(labels == cls).flatten()
        want = base + (1 if i < extra else 0)
        if want > len(members):
            raise DatasetError(f"class {cls} has only {len(members)} examples, {want} were asked for")
        chosen.append(members[torch.randperm(len(members), generator=generator)[:want]])
    return torch.cat(chosen).sort().values
