"""Turn an uploaded picture into a model input: grey, light ink on dark, centred, resized (no Streamlit calls).

The steps follow how MNIST-like digits look: ink bright on a dark background, the digit centred with a margin.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # a photo of a digit needs far less
MAX_PIXELS = 25_000_000  # beyond this PIL's decompression-bomb guard would warn; we refuse first


class DigitInputError(ValueError):
    """An upload that cannot be used as a digit; the message says why, for the user."""


def prepare_digit(data: bytes, image_shape: tuple[int, int], margin: float = 0.15) -> np.ndarray:
    """Pixels in [0, 1] of shape `image_shape`: bright ink on black, the ink's bounding box centred in a square."""
    if not data:
        raise DigitInputError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise DigitInputError(
            f"the file is {len(data) / 2**20:.0f} MB; please upload a picture under {MAX_UPLOAD_BYTES // 2**20} MB"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(data))
            if picture.width * picture.height > MAX_PIXELS:
                raise DigitInputError(f"the picture is {picture.width}×{picture.height} pixels; that is too large")
            picture.load()
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as err:
        if isinstance(err, DigitInputError):
            raise
        raise DigitInputError("this file is not a picture that can be read (PNG, JPEG, BMP, GIF, WebP, TIFF)") from None
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        # Transparent drawings: put them on white, as they were drawn.
        background = Image.new("RGBA", picture.size, "white")
        picture = Image.alpha_composite(background, picture.convert("RGBA"))
    grey = np.asarray(picture.convert("L"), dtype=np.float32) / 255.0
    if grey.mean() > 0.5:  # dark ink on a light page: flip to the datasets' light-on-dark
        grey = 1.0 - grey
    grey = np.clip((grey - grey.min()) / max(float(grey.max() - grey.min()), 1e-6), 0.0, 1.0)
    ink = grey > 0.25
    if not ink.any():
        raise DigitInputError("no digit found: the picture is blank")
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = grey[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    side = int(max(crop.shape) * (1 + 2 * margin))
    square = np.zeros((side, side), dtype=np.float32)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    square[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
    height, width = image_shape
    resized = Image.fromarray((square * 255).astype(np.uint8)).resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.float32) / 255.0
