"""Turn an uploaded picture into a model input: grey, light ink on dark, centred, resized (no Streamlit calls).

The steps follow how MNIST-like digits look: ink bright on a dark background, the digit centred with a margin.
A picture's size is checked from its header, before its pixels are decoded: a small file can describe a huge image.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # a photo of a digit needs far less; the server's maxUploadSize matches
MAX_SIDE = 4096  # pixels on the longer side: a 12-megapixel phone photo (4032×3024) fits
MAX_PIXELS = 4096 * 3072  # 12.6 megapixels: decoded as RGBA that is 50 MB, the most one upload may cost
MAX_ASPECT = 8  # longer side over shorter side: a digit is roughly square, a 12000×2 strip is no photo of one
WORK_SIDE = 1024  # decoded pictures are shrunk to this before any float copy: plenty for a 28×28 input
HIGH_DEPTH_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")  # 16/32-bit integer and 32-bit float pixels
READABLE = "PNG, JPEG, BMP, GIF, WebP, TIFF"
LIMITS = (
    f"pictures up to {MAX_SIDE} pixels a side, {MAX_PIXELS / 1e6:.1f} megapixels in all "
    f"and an aspect ratio up to {MAX_ASPECT}:1 are accepted"
)


class DigitInputError(ValueError):
    """An upload that cannot be used as a digit; the message says why, for the user."""


def check_size(width: int, height: int) -> None:
    """Refuse picture dimensions beyond the side, pixel-count and aspect-ratio limits, naming which one."""
    if width < 1 or height < 1:
        raise DigitInputError(f"the picture is {width}×{height} pixels, which holds no digit")
    if max(width, height) > MAX_SIDE:
        reason = f"longer than {MAX_SIDE} pixels on a side"
    elif width * height > MAX_PIXELS:
        reason = f"{width * height / 1e6:.1f} megapixels"
    elif max(width, height) > MAX_ASPECT * min(width, height):
        reason = f"an aspect ratio of {max(width, height) / min(width, height):.0f}:1"
    else:
        return
    raise DigitInputError(f"the picture is {width}×{height} pixels ({reason}); {LIMITS}")


def prepare_digit(data: bytes, image_shape: tuple[int, int], margin: float = 0.15) -> np.ndarray:
    """Pixels in [0, 1] of shape `image_shape`: bright ink on black, the ink's bounding box centred in a square."""
    grey = _grey_pixels(data)
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


def _grey_pixels(data: bytes) -> np.ndarray:
    """The upload as grey levels in [0, 1], at most WORK_SIDE pixels a side; transparent parts become white."""
    if not data:
        raise DigitInputError("the file is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise DigitInputError(
            f"the file is {len(data) / 2**20:.1f} MB; please upload a picture under {MAX_UPLOAD_BYTES // 2**20} MB"
        )
    unreadable = f"this file is not a picture that can be read ({READABLE})"
    try:
        picture = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError:
        # Pillow refuses pictures over twice its MAX_IMAGE_PIXELS before telling their size.
        raise DigitInputError(
            f"the picture has more than {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels; {LIMITS}"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise DigitInputError(unreadable) from None
    check_size(*picture.size)
    try:
        # JPEG decodes straight to a smaller size (DCT scaling): a phone photo then costs a sixteenth of its pixels.
        picture.draft("L" if picture.mode in ("L", "RGB", "YCbCr") else None, (WORK_SIDE, WORK_SIDE))
        picture.load()
        if picture.mode in ("1", "P"):
            # Palettes and bilevel pictures only resize pixel by pixel: give them a mode that resamples smoothly.
            picture = picture.convert("RGBA" if "transparency" in picture.info else "L")
        picture.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    except (OSError, SyntaxError, ValueError, EOFError):  # truncated or corrupt pixel data
        raise DigitInputError(unreadable) from None
    if picture.mode in HIGH_DEPTH_MODES:
        return _scaled_by_range(np.asarray(picture.convert("F"), dtype=np.float32), picture.mode)
    if picture.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in picture.info:
        # Transparent drawings: put them on white, as they were drawn.
        background = Image.new("RGBA", picture.size, "white")
        picture = Image.alpha_composite(background, picture.convert("RGBA"))
    try:
        grey = picture.convert("L")
    except ValueError:
        raise DigitInputError(f"pictures in the {picture.mode} colour mode cannot be read; {READABLE} are") from None
    return np.asarray(grey, dtype=np.float32) / 255.0


def _scaled_by_range(values: np.ndarray, mode: str) -> np.ndarray:
    """16/32-bit or float pixels mapped onto [0, 1] by the range they actually use (not by 0..255)."""
    finite = np.isfinite(values)
    if not finite.all():
        raise DigitInputError(f"the picture's {_depth(mode)} pixels include values that are not numbers (NaN or ∞)")
    low, high = float(values.min()), float(values.max())
    if high <= low:
        raise DigitInputError("no digit found: the picture is blank")
    return (values - low) / (high - low)


def _depth(mode: str) -> str:
    return "32-bit float" if mode == "F" else "16-bit" if mode.startswith("I;16") else "32-bit integer"
