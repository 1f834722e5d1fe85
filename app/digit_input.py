"""Turn an uploaded picture or a pad drawing into a model input, framed as MNIST was (no Streamlit calls).

The steps follow how MNIST was made: ink bright on a dark background, the ink's bounding box scaled to fit 20×20
pixels (aspect ratio kept, anti-aliased), placed in 28×28 with its centre of mass at the centre; other frame sizes
get the same share (`frame_box`), small ones such as the 8×8 digits are filled.
A picture's size is checked from its header, before its pixels are decoded: a small file can describe a huge image.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # a photo of a digit needs far less; the server's maxUploadSize matches
MAX_SIDE = 4096  # pixels on the longer side: a 12-megapixel phone photo (4032×3024) fits
MAX_PIXELS = 4096 * 3072  # 12.6 megapixels: decoded as RGBA that is 50 MB, the most one upload may cost
MAX_ASPECT = 8  # longer side over shorter side: a digit is roughly square, a 12000×2 strip is no photo of one
WORK_SIDE = 1024  # decoded pictures are shrunk to this before any float copy: plenty for a 28×28 input
HIGH_DEPTH_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")  # 16/32-bit integer and 32-bit float pixels
MNIST_SIDE, MNIST_BOX = 28, 20  # MNIST's digits were scaled to fit 20×20 pixels, then centred in 28×28
STROKE_SIDE = 280  # pixels a pad drawing is rasterised at before framing: ten times MNIST's side
INK_FLOOR = 0.3  # ink levels (0 background, 1 ink) below this are the page's texture, shadows and noise
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


def prepare_digit(data: bytes, image_shape: tuple[int, int]) -> np.ndarray:
    """Pixels in [0, 1] of shape `image_shape` from an uploaded picture: bright ink on black, framed as MNIST was.

    Dark ink on a light page (a photo of paper, a paint program) is flipped; the page's own grey, which a photo's
    lighting leaves well above black, is taken off so that only the ink is left (`ink_only`), then `mnist_style`.
    """
    return mnist_style(ink_only(_grey_pixels(data)), image_shape)


def ink_only(grey: np.ndarray) -> np.ndarray:
    """Grey levels in [0, 1] → ink in [0, 1] on a black background, whichever of the two the picture had.

    The background is the picture's median level (a digit covers far less than half of its picture) and the ink
    its brightest percent after flipping; levels are stretched between the two and the lowest third set to 0,
    so paper texture, shadows and JPEG noise do not count as ink.
    """
    grey = np.asarray(grey, dtype=np.float32)
    if float(np.median(grey)) > 0.5:  # dark ink on a light page: flip to the datasets' light-on-dark
        grey = 1.0 - grey
    background = float(np.median(grey))
    ink = float(np.percentile(grey, 99.5))
    if ink - background < 0.05:
        ink = float(grey.max())
    if ink - background < 0.05:
        raise DigitInputError("no digit found: the picture is blank (no ink stands out from the background)")
    level = np.clip((grey - background) / (ink - background), 0.0, 1.0)
    return np.clip((level - INK_FLOOR) / (1.0 - INK_FLOOR), 0.0, 1.0)


def frame_box(image_shape: tuple[int, int]) -> tuple[int, int]:
    """The box (rows, columns) a digit's ink is scaled to fit in a frame of `image_shape`.

    MNIST fitted each digit into 20×20 of its 28×28 frame; the same share of any frame of 16 pixels or more. Small
    frames (scikit-learn's 8×8 digits) are filled: their digits span all 8 rows.
    """
    height, width = image_shape
    if min(height, width) < 16:
        return height, width
    return max(1, round(height * MNIST_BOX / MNIST_SIDE)), max(1, round(width * MNIST_BOX / MNIST_SIDE))


def mnist_style(image: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """Frame light-on-dark ink (values in [0, 1], any size) as MNIST was: float32 pixels of shape `image_shape`.

    The ink's bounding box is scaled, aspect ratio kept and anti-aliased, to fit `frame_box` (20×20 for 28×28),
    then placed so its centre of mass sits at the frame's centre (for frames under 16 pixels, where there is no
    margin to move in, its bounding box is centred instead). A digit is shifted only as far as it stays whole.
    """
    image = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0)
    ink = image > 0.2 * float(image.max()) if image.size and image.max() > 0 else np.zeros(image.shape, bool)
    if not ink.any():
        raise DigitInputError("no digit found: the picture is blank")
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = np.clip(image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], 0.0, 1.0)
    height, width = image_shape
    box_rows, box_cols = frame_box(image_shape)
    scale = min(box_rows / crop.shape[0], box_cols / crop.shape[1])
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))  # PIL's (width, height)
    scaled = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    scaled = np.clip(scaled, 0.0, 1.0)  # Lanczos rings a little below 0 and above 1 at sharp edges
    if min(height, width) < 16 or scaled.sum() <= 0:
        centre = ((scaled.shape[0] - 1) / 2, (scaled.shape[1] - 1) / 2)
    else:
        ys, xs = np.indices(scaled.shape)
        centre = (float((ys * scaled).sum() / scaled.sum()), float((xs * scaled).sum() / scaled.sum()))
    top = int(np.clip(round((height - 1) / 2 - centre[0]), 0, height - scaled.shape[0]))
    left = int(np.clip(round((width - 1) / 2 - centre[1]), 0, width - scaled.shape[1]))
    framed = np.zeros(image_shape, dtype=np.float32)
    framed[top : top + scaled.shape[0], left : left + scaled.shape[1]] = scaled
    return framed


def strokes_to_image(
    strokes: Sequence[Sequence[Sequence[float]]], image_shape: tuple[int, int], pen_width: float
) -> np.ndarray:
    """A drawing from the pad as a model input: strokes of [x, y] in canvas units (0..1, y down) drawn with a round
    pen `pen_width` canvas units wide, white on black at STROKE_SIDE pixels, then framed by `mnist_style`."""
    if not any(len(stroke) for stroke in strokes):
        raise DigitInputError("the pad is empty: draw a digit first")
    canvas = Image.new("L", (STROKE_SIDE, STROKE_SIDE), 0)
    pen = ImageDraw.Draw(canvas)
    width = max(1, round(pen_width * STROKE_SIDE))
    for stroke in strokes:
        points = [(float(x) * STROKE_SIDE, float(y) * STROKE_SIDE) for x, y in stroke]
        if len(points) > 1:
            pen.line(points, fill=255, width=width, joint="curve")
        for x, y in (points[0], points[-1]):  # round ends, and a dot for a single tap
            pen.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return mnist_style(np.asarray(canvas, dtype=np.float32) / 255.0, image_shape)


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
