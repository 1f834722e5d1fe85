"""The latent map page's frame, and its first paint: the map of a cold server's first visitor, drawn before PyTorch.

Streamlit sends each element to the browser as soon as the script makes it, and the server's first run spends a
second or more importing PyTorch. So on that run the entry point draws the latent map page's frame (title, caption,
a slot for the map) and fills the slot with the chosen checkpoint's codes, read without PyTorch
(`aae_core.header`); then it imports PyTorch and runs the page, which writes the full map, over the prior's
density, into the same slot. Every other run draws the same frame, so the elements keep their places. Nothing
here imports PyTorch: test_first_paint.py checks it.
"""

from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass

import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app import latent
from app.catalog import checkpoint_dirs, find_checkpoints, pick
from app.palette import LABEL_COLOURS

TITLE = "Latent map"
CAPTION = (
    "Where the encoder puts every evaluation digit, over the prior it was trained to match. "
    "Click a dot to see its decode."
)
MAP_CONFIG = {"toImageButtonOptions": {"filename": "latent-map", "scale": 2}}
PICTURE_SIZE = 640  # pixels per side of the first paint's square picture
DOT_RADIUS = 2
LOADING_NOTE = "The interactive map (hover, click, lasso) follows in a moment."
logger = logging.getLogger(__name__)
_handed = threading.local()  # the frame the entry point drew for the page it runs next, in this script thread


@dataclass(frozen=True)
class Frame:
    """The page's fixed layout: `middle` (notes, explanation, options), then the map's and the details' columns."""

    middle: DeltaGenerator
    map_column: DeltaGenerator
    map_slot: DeltaGenerator
    detail_column: DeltaGenerator


def draw_frame() -> Frame:
    """Draw the title and caption, and the empty containers the page fills."""
    st.title(TITLE)
    st.caption(CAPTION)
    middle = st.container()
    map_column, detail_column = st.columns([3, 2], gap="medium")
    return Frame(middle, map_column, map_column.empty(), detail_column)


def hand_over(frame: Frame | None) -> None:
    """Keep `frame` for the page this script run runs next (None: forget it)."""
    _handed.frame = frame


def take_frame() -> Frame:
    """The frame the entry point drew in this run, or a new one (a page run on its own, as tests may)."""
    frame = getattr(_handed, "frame", None)
    _handed.frame = None
    return frame or draw_frame()


def paint_codes(frame: Frame) -> bool:
    """Fill the map slot with a picture of the codes of the checkpoint a first visit opens, if that needs no
    PyTorch. A PNG, not a Plotly chart: the browser shows it at once, while Plotly's 4.7 MB of code is still
    loading; the page's interactive map replaces it.

    Only for a fresh session (the sidebar has not picked a model yet) and a checkpoint with a 2-D atlas that
    `aae_core.header` reads and checks; otherwise, or on any error, the slot stays empty for the page. True when
    drawn.
    """
    if "model_label" in st.session_state or "_pick_next_run" in st.session_state:
        return False  # not the session's first run: the sidebar's pick may differ from a first visit's
    try:
        from aae_core.header import read_atlas_preview

        files = find_checkpoints(checkpoint_dirs())
        if not files:
            return False
        atlas = read_atlas_preview(pick(files, st.query_params.get("model")).path)
        if atlas is None:
            return False
        # The subset and the scale the page's map uses (views.map_figure); the prior's extent joins it there.
        shown = latent.display_subset(len(atlas.codes))
        points = atlas.codes[shown]
        picture = codes_picture(points, atlas.labels[shown], latent.symmetric_extent(points))
        with frame.map_slot.container():
            st.image(picture, width="stretch")
            st.caption(LOADING_NOTE)
    except Exception:  # noqa: BLE001 - a first paint is a bonus: the page draws (or explains) the map next
        logger.warning("could not draw the first latent map early", exc_info=True)
        return False
    return True


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def codes_picture(points: np.ndarray, labels: np.ndarray, extent: float, size: int = PICTURE_SIZE) -> bytes:
    """A PNG of 2-D codes over the square [-extent, extent]², one dot per code in its class's colour (black for
    unlabelled), with the axes through 0: the latent map's look, drawn with Pillow alone."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    centre = (size - 1) / 2
    draw.line([(centre, 0), (centre, size)], fill=(220, 220, 220))
    draw.line([(0, centre), (size, centre)], fill=(220, 220, 220))
    pixels = (np.asarray(points, dtype=np.float64) / (2 * extent) + 0.5) * (size - 1)
    pixels[:, 1] = size - 1 - pixels[:, 1]  # y grows upwards on the map, downwards in the image
    colours = [_rgb(c) for c in LABEL_COLOURS]
    for (x, y), label in zip(pixels.tolist(), np.asarray(labels).tolist(), strict=True):
        fill = colours[label % len(colours)] if label >= 0 else (0, 0, 0)
        draw.ellipse([x - DOT_RADIUS, y - DOT_RADIUS, x + DOT_RADIUS, y + DOT_RADIUS], fill=fill)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
