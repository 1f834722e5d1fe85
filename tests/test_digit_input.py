"""Uploaded pictures → model inputs: light ink on black, centred, resized; bad uploads get a clear message."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from app.digit_input import MAX_UPLOAD_BYTES, DigitInputError, prepare_digit


def png(array: np.ndarray, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.astype(np.uint8), mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_dark_ink_on_white_paper_is_flipped_cropped_and_centred():
    page = np.full((200, 300), 255)
    page[20:120, 30:60] = 0  # a "1" near the top left of a white page
    pixels = prepare_digit(png(page), (28, 28), margin=0.2)
    assert pixels.shape == (28, 28) and pixels.dtype == np.float32
    assert pixels.max() > 0.9 and pixels[0].max() < 0.05  # bright ink, dark border
    columns = np.flatnonzero(pixels.max(axis=0) > 0.5)
    assert abs((columns[0] + columns[-1]) / 2 - 13.5) <= 1.0  # centred left-right


def test_transparent_drawing_is_put_on_white_first():
    drawing = np.zeros((50, 50, 4), dtype=np.uint8)
    drawing[10:40, 20:30] = (0, 0, 0, 255)  # black strokes, transparent elsewhere
    pixels = prepare_digit(png(drawing, "RGBA"), (8, 8), margin=0.0)
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


def test_a_huge_picture_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr("app.digit_input.MAX_PIXELS", 100)
    with pytest.raises(DigitInputError, match="too large"):
        prepare_digit(png(np.zeros((20, 20))), (28, 28))
