"""A drawing pad for the mouse, a pen or a finger (a Streamlit custom component, v2), and what its strokes become.

The pad sends the whole drawing back when a stroke ends: strokes, each a list of [x, y] in canvas units (0..1, y
down), and the pen width in the same units. Python rasterises them exactly (app/digit_input.py) or turns them into
points for a drawn prior (`drawing_points`). Its JavaScript (app/sketch.js) is read on first use, not at import.

Two modes: "digit" (ink on a plain square, a thick pen) and "points" (a thin pen over faint axes of the latent
range; a click is a point, a stroke a line of points).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

COMPONENT_NAME = "aae_sketch_pad"
MAX_STROKES = 300
MAX_POINTS = 5000  # over all strokes: a busy drawing has a few hundred; this bounds what one request costs
DIGIT_PEN = 0.07  # canvas units: on a 280-pixel pad about 20 px, as MNIST's strokes are to their 28-pixel frame
PEN_RANGE = (0.02, 0.15)
Stroke = tuple[tuple[float, float], ...]

HTML = """
<div class="sketch">
  <canvas role="img" tabindex="0"></canvas>
  <div class="bar">
    <button type="button" class="undo" title="Take back the last stroke">Undo</button>
    <button type="button" class="clear" title="Start again">Clear</button>
    <button type="button" class="invert" title="Black on white or white on black (the model always sees light on
      dark)">Invert</button>
    <label class="pen-box">Pen <input class="pen" type="range" min="0.02" max="0.15" step="0.01" value="0.07"></label>
    <span class="status"></span>
  </div>
</div>
"""

CSS = """
.sketch { display: flex; flex-direction: column; gap: 0.4rem; font-family: var(--st-font, sans-serif); }
.sketch canvas {
  width: 100%; aspect-ratio: 1 / 1; touch-action: none; cursor: crosshair;
  border: 1px solid var(--st-border-color, #ccc); border-radius: 0.5rem;
}
.sketch canvas.readonly { cursor: default; }
.sketch .bar { display: flex; flex-wrap: wrap; align-items: center; gap: 0.5rem; font-size: 0.875rem; }
.sketch button {
  padding: 0.25rem 0.75rem; border-radius: 0.5rem; cursor: pointer; font: inherit;
  border: 1px solid var(--st-border-color, #ccc); background: var(--st-secondary-background-color, #f0f2f6);
  color: var(--st-text-color, inherit);
}
.sketch button:hover { border-color: var(--st-primary-color, #ff4b4b); }
.sketch label { display: flex; align-items: center; gap: 0.3rem; color: var(--st-text-color, inherit); }
.sketch .status { color: var(--st-text-color, inherit); opacity: 0.7; }
"""


@dataclass(frozen=True)
class Drawing:
    """What the pad holds: strokes in canvas units (0..1, y down) and the pen width in the same units."""

    strokes: tuple[Stroke, ...] = ()
    pen: float = DIGIT_PEN

    @property
    def empty(self) -> bool:
        return not self.strokes

    @property
    def point_count(self) -> int:
        return sum(len(stroke) for stroke in self.strokes)


def parse_drawing(value: Any, default_pen: float = DIGIT_PEN) -> Drawing:
    """The pad's state as a Drawing. The browser is not trusted: coordinates are clipped into 0..1, anything that is
    no [x, y] pair of finite numbers is dropped, and strokes and points beyond the limits are cut off."""
    if not isinstance(value, dict):
        return Drawing(pen=default_pen)
    pen = value.get("pen", default_pen)
    pen = float(pen) if isinstance(pen, (int, float)) and math.isfinite(pen) else default_pen
    pen = min(max(pen, PEN_RANGE[0]), PEN_RANGE[1])
    strokes: list[Stroke] = []
    budget = MAX_POINTS
    raw = value.get("strokes")
    for stroke in raw[:MAX_STROKES] if isinstance(raw, list) else ():
        if not isinstance(stroke, list) or budget <= 0:
            continue
        points = tuple(
            (min(max(float(p[0]), 0.0), 1.0), min(max(float(p[1]), 0.0), 1.0))
            for p in stroke[:budget]
            if isinstance(p, (list, tuple))
            and len(p) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p)
        )
        if points:
            strokes.append(points)
            budget -= len(points)
    return Drawing(tuple(strokes), pen)


def drawing_state(drawing: Drawing) -> dict[str, Any]:
    """The pad's state value for `drawing` (what the browser sends; tests and presets set it this way)."""
    return {"strokes": [[list(p) for p in stroke] for stroke in drawing.strokes], "pen": drawing.pen}


@functools.cache
def _component() -> Callable[..., Any]:
    """The registered component; its JavaScript is read from app/sketch.js the first time a pad is drawn."""
    import streamlit as st

    js = Path(__file__).with_name("sketch.js").read_text(encoding="utf-8")
    return st.components.v2.component(COMPONENT_NAME, html=HTML, css=CSS, js=js)


def sketch_pad(
    key: str,
    *,
    mode: Literal["digit", "points"] = "digit",
    pen: float = DIGIT_PEN,
    extent: float = 4.0,
    size: int = 280,
    guide: Sequence[Stroke] = (),
    readonly: str = "",
    hint: str = "",
    label: str = "Drawing pad",
    on_change: Callable[[], None] | None = None,
) -> Drawing:
    """Draw the pad and return its drawing (empty until something is drawn).

    `extent` is the latent half-width the "points" mode's axes show; `guide` strokes are drawn in orange beneath
    (a preset shape); a non-empty `readonly` turns drawing off and is shown in the pad's status line. `on_change`
    runs before the rerun that a new stroke, Undo or Clear starts.
    """
    import streamlit as st

    state = st.session_state.get(key)
    current = parse_drawing(state.get("drawing") if isinstance(state, dict) else None, pen)
    data = {
        "mode": mode,
        "pen": pen,
        "extent": extent,
        "size": size,
        "guide": [[list(p) for p in stroke] for stroke in guide],
        "readonly": readonly,
        "hint": hint,
        "label": label,
        "max_points": MAX_POINTS,
        # So a pad mounted afresh (the page opened again) shows what Python still holds.
        "strokes": drawing_state(current)["strokes"],
    }
    result = _component()(key=key, data=data, on_drawing_change=on_change or _ignore, width="stretch")
    return parse_drawing(result.get("drawing"), pen)


def _ignore() -> None:
    """A state key needs a callback to be reported back; the page reads the value on the rerun instead."""


def drawing_points(drawing: Drawing | Sequence[Stroke], extent: float, spacing: float = 0.01) -> np.ndarray:
    """Points in latent units for a drawn prior: clicks stay points, strokes are resampled every `spacing` canvas
    units; canvas (0..1, y down) maps onto [-extent, extent]² with z2 up. Shape (n, 2)."""
    strokes = drawing.strokes if isinstance(drawing, Drawing) else drawing
    found: list[np.ndarray] = []
    for stroke in strokes:
        line = np.asarray(stroke, dtype=np.float64).reshape(-1, 2)
        if len(line) > 1:
            steps = np.hypot(*np.diff(line, axis=0).T)
            along = np.concatenate([[0.0], np.cumsum(steps)])
            if along[-1] > 0:
                at = np.linspace(0.0, along[-1], max(2, int(along[-1] / spacing) + 1))
                line = np.stack([np.interp(at, along, line[:, 0]), np.interp(at, along, line[:, 1])], axis=1)
            else:
                line = line[:1]
        found.append(line)
    if not found:
        return np.zeros((0, 2))
    canvas = np.concatenate(found)
    return np.stack([(canvas[:, 0] - 0.5) * 2 * extent, (0.5 - canvas[:, 1]) * 2 * extent], axis=1)


def thinned(points: np.ndarray, limit: int) -> np.ndarray:
    """At most `limit` of the points, evenly spread through them (every k-th), so a long drawing stays cheap."""
    if len(points) <= limit:
        return points
    return points[np.linspace(0, len(points) - 1, limit).round().astype(int)]


def _arc(cx: float, cy: float, r: float, start: float, stop: float, n: int = 60) -> Stroke:
    """An arc in canvas units (angles in degrees, counter-clockwise on screen, 0 pointing right)."""
    angles = np.radians(np.linspace(start, stop, n))
    return tuple((float(cx + r * np.cos(a)), float(cy - r * np.sin(a))) for a in angles)


def _line(*corners: tuple[float, float]) -> Stroke:
    return tuple((float(x), float(y)) for x, y in corners)


PRESETS: dict[str, tuple[Stroke, ...]] = {
    "ring": (_arc(0.5, 0.5, 0.36, 0, 360, 120),),
    "smiley": (
        _arc(0.5, 0.5, 0.4, 0, 360, 120),
        _arc(0.36, 0.36, 0.05, 0, 360, 16),
        _arc(0.64, 0.36, 0.05, 0, 360, 16),
        _arc(0.5, 0.5, 0.24, 200, 340, 40),
    ),
    "letter A": (_line((0.2, 0.88), (0.5, 0.12), (0.8, 0.88)), _line((0.32, 0.58), (0.68, 0.58))),
}


def preset_strokes(name: str) -> tuple[Stroke, ...]:
    """The strokes of a preset shape ("ring", "smiley", "letter A"), in canvas units."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]
