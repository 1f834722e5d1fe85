"""The latent map page's frame, and its first paint: the map of a cold server's first visitor, drawn before PyTorch.

Streamlit sends each element to the browser as soon as the script makes it, and the server's first run spends a
second or more importing PyTorch. So on that run the entry point draws the latent map page's frame (title, caption,
a slot for the map) and fills the slot with the chosen checkpoint's codes, read without PyTorch
(`aae_core.header`); then it imports PyTorch and runs the page, which writes the full map, over the prior's
density, into the same slot. Every other run draws the same frame, so the elements keep their places. Nothing
here imports PyTorch: test_first_paint.py checks it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app import figures, latent
from app.catalog import checkpoint_dirs, find_checkpoints, pick

TITLE = "Latent map"
CAPTION = (
    "Where the encoder puts every evaluation digit, over the prior it was trained to match. "
    "Click a dot to see its decode."
)
MAP_CONFIG = {"toImageButtonOptions": {"filename": "latent-map", "scale": 2}}
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
    """Fill the map slot with the codes of the checkpoint a first visit opens, if that needs no PyTorch.

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
        figure = figures.latent_map_figure(
            points,
            atlas.labels[shown],
            indices=shown,
            extent=latent.symmetric_extent(points),
            class_names=atlas.names or None,
        )
        frame.map_slot.plotly_chart(figure, width="stretch", config=MAP_CONFIG)
    except Exception:  # noqa: BLE001 - a first paint is a bonus: the page draws (or explains) the map next
        logger.warning("could not draw the first latent map early", exc_info=True)
        return False
    return True
