"""The pad and the upload of a digit, side by side, and the model input from whichever was used last.

Shared by the Your digit and Anomaly scores pages; each passes its own `key`, so their drawings stay apart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st

from aae_core.inference import LatentModel
from app import sketch, views
from app.digit_input import DigitInputError, prepare_digit, strokes_to_image

UPLOAD_TYPES = ["png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff"]


def _remember(source_key: str, name: str) -> Callable[[], None]:
    """A callback that remembers which input the user touched last: the page shows that one."""
    return lambda: st.session_state.__setitem__(source_key, name)


def digit_input_panel(model: LatentModel, key: str, pad_hint: str = "Draw one digit here") -> np.ndarray | None:
    """Draw the pad and the uploader; return the model input from the one used last, or None (after saying why)."""
    source_key = f"_{key}_source"
    pad_column, upload_column = st.columns([2, 3], gap="medium")
    with pad_column:
        drawing = sketch.sketch_pad(
            f"{key}_pad",
            mode="digit",
            hint=pad_hint,
            label="Drawing pad for a digit",
            on_change=_remember(source_key, "pad"),
        )
    with upload_column:
        upload = st.file_uploader(
            "…or upload a picture of one digit",
            type=UPLOAD_TYPES,
            key=f"{key}_upload",
            on_change=_remember(source_key, "upload"),
        )
        st.caption("The page shows whichever you used last: the pad or the picture.")
    source = st.session_state.get(source_key) or ("upload" if upload is not None else "pad")
    if source == "upload" and upload is None:
        source = "pad"
    if source == "pad":
        if drawing.empty:
            st.info(
                "Draw a digit on the pad (one digit, filling most of the square), or upload a picture "
                "(PNG or JPEG; a phone photo of a digit on paper works)."
            )
            return None
        try:
            return strokes_to_image(drawing.strokes, model.image_shape, drawing.pen)
        except DigitInputError as err:
            st.error(f"**Could not use the drawing:** {err}.")
            return None
    try:
        return prepare_digit(upload.getvalue(), model.image_shape)
    except DigitInputError as err:
        st.error(f"**Could not use {views.plain(upload.name)}:** {err}.")
        return None
