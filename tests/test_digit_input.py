"""Uploaded pictures → model inputs: light ink on black, centred, resized; bad uploads get a clear message."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.digit_input import MAX_ASPECT, MAX_SIDE, MAX_UPLOAD_BYTES, DigitInputError, prepare_digit


def png(array: np.ndarray, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8), mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_dark_ink_on_white_paper_is_flipped_cropped_and_centred():
    page = np.full((200, 300), 255)
    page[20:120, 30:60] = 0  # a "1" near the top left of a white page
    pixels = prepare_digit(png(page), (28, 28))
    assert pixels.shape == (28, 28) and pixels.dtype == np.float32
    assert pixels.max() > 0.9 and pixels[0].max() < 0.05  # bright ink, dark border
    columns = np.flatnonzero(pixels.max(axis=0) > 0.5)
    assert abs((columns[0] + columns[-1]) / 2 - 13.5) <= 1.0  # centred left-right


def photo_of(corners: list[tuple[int, int]], width: int = 22) -> bytes:
    """A phone photo of a digit on paper: grey pencil on a page lit unevenly (brighter to the right, darker at the
    bottom), with sensor noise, slightly out of focus, saved as JPEG."""
    from PIL import ImageDraw, ImageFilter

    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:600, 0:800]
    paper = 200 + 40 * cols / 800 - 30 * rows / 600 + rng.normal(0, 6, (600, 800))
    page = Image.fromarray(paper.clip(0, 255).astype(np.uint8)).convert("RGB")
    ImageDraw.Draw(page).line(corners, fill=(60, 60, 70), width=width, joint="curve")
    buffer = io.BytesIO()
    page.filter(ImageFilter.GaussianBlur(1.5)).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def test_a_photo_on_grey_paper_keeps_only_the_ink_framed_as_mnist_was():
    pixels = prepare_digit(photo_of([(300, 150), (500, 150), (380, 470)]), (28, 28))
    assert (pixels > 0.02).mean() < 0.3  # the page is black, not a grey field of paper and shadow
    assert max(pixels[:3, :3].max(), pixels[:3, -3:].max(), pixels[-3:, :3].max(), pixels[-3:, -3:].max()) == 0
    rows, cols = np.flatnonzero((pixels > 0.05).any(axis=1)), np.flatnonzero((pixels > 0.05).any(axis=0))
    assert rows[-1] - rows[0] + 1 <= 20 and cols[-1] - cols[0] + 1 <= 20
    ys, xs = np.indices(pixels.shape)
    assert abs((ys * pixels).sum() / pixels.sum() - 13.5) <= 1 and abs((xs * pixels).sum() / pixels.sum() - 13.5) <= 1


@pytest.mark.parametrize(
    ("corners", "digit"), [([(300, 150), (500, 150), (380, 470)], 7), ([(400, 120), (400, 480)], 1)]
)
def test_a_photographed_digit_lands_among_its_own_on_the_label_regularized_model(corners, digit):
    """Before the background was taken off and the digit framed as MNIST's, both landed mid-map, among the 4s."""
    import torch

    from aae_core.inference import load_model

    model = load_model(Path(__file__).resolve().parents[1] / "checkpoints" / "labelled-prior-2d-mixture.safetensors")
    code = model.encode(torch.from_numpy(prepare_digit(photo_of(corners), model.image_shape)[None])).numpy()
    nearest = model.atlas.labels[np.argsort(np.linalg.norm(model.atlas.codes - code, axis=1))[:25]]
    assert np.bincount(nearest, minlength=10).argmax() == digit


def test_transparent_drawing_is_put_on_white_first():
    drawing = np.zeros((50, 50, 4), dtype=np.uint8)
    drawing[10:40, 20:30] = (0, 0, 0, 255)  # black strokes, transparent elsewhere
    pixels = prepare_digit(png(drawing, "RGBA"), (8, 8))
    assert pixels.max() > 0.9 and pixels.min() < 0.1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"this is not a picture", "not a picture"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a picture"),  # a PNG signature, truncated
        (png(np.zeros((20, 20))), "blank"),
        (b"x" * (MAX_UPLOAD_BYTES + 1), "MB"),
    ],
)
def test_bad_uploads_get_a_reason(data, message):
    with pytest.raises(DigitInputError, match=message):
        prepare_digit(data, (28, 28))


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims `width`×`height` grey pixels but carries ten bytes of pixel data: decoding it would fail,
    so only a refusal from the header gives a message about its size."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(10))) + chunk(b"IEND", b"")


def limits_named(message: str) -> bool:
    return f"up to {MAX_SIDE} pixels a side" in message and f"aspect ratio up to {MAX_ASPECT}:1" in message


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow's own alarm at 144 megapixels
@pytest.mark.parametrize(("width", "height"), [(12000, 12000), (12000, 2), (24000, 2), (200000, 2), (4096, 4096)])
def test_huge_dimensions_are_refused_from_the_header_with_the_size_and_the_limits(width, height):
    with pytest.raises(DigitInputError) as refused:
        prepare_digit(png_header(width, height), (28, 28))
    message = str(refused.value)
    assert f"is {width}×{height} pixels" in message and limits_named(message)
    assert "not a picture" not in message


def test_a_decompression_bomb_beyond_pillows_own_limit_gets_a_size_message():
    with pytest.raises(DigitInputError, match="more than 179 megapixels") as refused:
        prepare_digit(png_header(200_000, 200_000), (28, 28))
    assert limits_named(str(refused.value))


def test_a_long_thin_picture_is_refused_for_its_aspect_ratio():
    with pytest.raises(DigitInputError, match=r"is 900×100 pixels \(an aspect ratio of 9:1\)"):
        prepare_digit(png(np.full((100, 900), 255)), (28, 28))


def test_a_tiny_file_of_a_long_strip_costs_no_memory():
    """A 12000×2 PNG is about a hundred bytes; decoded, cropped and squared it used to cost a gigabyte."""
    strip = np.full((2, 12000), 255)
    strip[:, 100:11900] = 0
    data = png(strip)
    assert len(data) < 1000
    tracemalloc.start()
    try:
        with pytest.raises(DigitInputError, match="12000×2"):
            prepare_digit(data, (28, 28))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_a_phone_sized_photo_is_accepted_and_worked_on_at_a_reduced_size():
    page = Image.new("RGB", (4000, 3000), "white")
    page.paste((20, 20, 20), (1800, 900, 2100, 2100))  # a thick "1"
    buffer = io.BytesIO()
    page.save(buffer, format="JPEG", quality=90)
    tracemalloc.start()
    try:
        pixels = prepare_digit(buffer.getvalue(), (28, 28))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert pixels.shape == (28, 28) and pixels.max() > 0.9 and pixels[:, 0].max() < 0.05
    assert peak < 32_000_000  # float copies of a 1024-pixel picture, not of 12 megapixels (48 MB each)


def ink_page(white: float, ink: float, dtype) -> np.ndarray:
    """A light page with a dark, anti-aliased "7" in the given pixel type."""
    page = np.full((60, 60), white, dtype=np.float64)
    page[10:14, 15:45] = ink  # the bar
    page[14:50, 40:44] = ink  # the stem
    page[14:50, 39] = (white + ink) / 2  # a grey edge
    return page.astype(dtype)


def encoded(page: np.ndarray, fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("page", "fmt"),
    [
        (ink_page(1.0, 0.0, np.float32), "TIFF"),  # 32-bit float, 0..1
        (ink_page(0.8, 0.3, np.float32), "TIFF"),  # 32-bit float using part of 0..1
        (ink_page(60000, 20000, np.uint16), "PNG"),  # 16-bit, both levels far above 255
        (ink_page(900, 100, np.uint16), "TIFF"),  # 16-bit, a dim scan
    ],
)
def test_high_bit_depth_pictures_are_scaled_by_their_range_like_an_8_bit_one(page, fmt):
    data = encoded(page, fmt)
    assert Image.open(io.BytesIO(data)).mode in ("F", "I;16")
    low, high = float(page.min()), float(page.max())
    eight_bit = png(np.round((page.astype(np.float64) - low) / (high - low) * 255))
    expected = prepare_digit(eight_bit, (28, 28))
    pixels = prepare_digit(data, (28, 28))
    assert pixels.max() > 0.9  # a bright digit, not a dark one
    np.testing.assert_allclose(pixels, expected, atol=0.02)


def test_a_float_picture_with_nan_pixels_is_refused_with_the_reason():
    page = ink_page(1.0, 0.0, np.float32)
    page[0, 0] = np.nan
    with pytest.raises(DigitInputError, match="32-bit float pixels include values that are not numbers"):
        prepare_digit(encoded(page, "TIFF"), (28, 28))
