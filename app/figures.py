"""Figures: pure functions from arrays to Plotly figures and PNG bytes (no Streamlit calls).

Plotly reads a subset of HTML in its text (links, images of a kind, line breaks); text that may come from a
checkpoint (class names, titles) goes in through `figure_text`, so it shows as written.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from app.palette import LABEL_COLOURS, PRIOR_COLOUR


def prior_samples_trace(points: np.ndarray) -> go.Scatter:
    """Grey dots for 2-D prior samples, drawn beneath the codes."""
    return go.Scatter(
        x=points[:, 0],
        y=points[:, 1],
        mode="markers",
        name="prior samples",
        hoverinfo="skip",
        marker={"size": 3, "color": PRIOR_COLOUR},
    )


def discriminator_figure(
    grid: tuple[np.ndarray, np.ndarray, np.ndarray],
    codes: np.ndarray,
    prior_points: np.ndarray | None,
    *,
    axis_titles: Sequence[str] = ("z₁", "z₂"),
    height: int = 520,
) -> go.Figure:
    """D(z) as a heatmap (red: "an encoder's code", blue: "a prior sample"), the codes and prior samples on top."""
    xs, ys, probability = grid
    figure = go.Figure(
        go.Heatmap(
            x=xs,
            y=ys,
            z=probability,
            zmin=0.0,
            zmax=1.0,
            name="D(z)",
            colorscale="RdBu",
            colorbar={"title": {"text": "D(z)"}, "thickness": 12},
            hovertemplate="D(z) = %{z:.2f} at (%{x:.2f}, %{y:.2f})<extra></extra>",
        )
    )
    if prior_points is not None:
        figure.add_trace(prior_samples_trace(prior_points))
    figure.add_trace(
        go.Scatter(
            x=codes[:, 0],
            y=codes[:, 1],
            mode="markers",
            name="codes",
            hoverinfo="skip",
            marker={"size": 3, "color": "rgba(20,20,20,0.55)"},
        )
    )
    extent = float(max(abs(xs[0]), abs(xs[-1])))
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": axis_titles[0], "range": [-extent, extent], "constrain": "domain"},
        yaxis={"title": axis_titles[1], "range": [-extent, extent], "scaleanchor": "x"},
        legend={"orientation": "h", "y": -0.12},
    )
    return figure


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Images in [0, 1] as uint8 grey levels."""
    return (np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def tile_images(images: np.ndarray, columns: int, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Tile (N, H, W) images into one (rows·(H+pad)-pad, columns·(W+pad)-pad) array, row by row."""
    images = np.asarray(images, dtype=np.float32)
    n, h, w = images.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    sheet = np.full((rows * (h + pad) - pad, columns * (w + pad) - pad), pad_value, dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = image
    return sheet


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    """A grey image in [0, 1] as PNG bytes, enlarged `scale` times with sharp pixels."""
    picture = Image.fromarray(to_uint8(image), mode="L")
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    # Small digit images: compression level 1 is several times faster than the default and hardly larger.
    picture.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def fit_scale(pixels: int, target: int) -> int:
    """Integer enlargement that brings `pixels` close to `target` without blurring."""
    return max(1, target // max(1, pixels))


def digit_png(image: np.ndarray, target_px: int = 224) -> bytes:
    """One decoded digit (H, W) as an enlarged PNG."""
    return png_bytes(image, fit_scale(max(image.shape), target_px))


def grid_png(images: np.ndarray, columns: int, target_px: int = 480, pad: int = 1, pad_value: float = 0.35) -> bytes:
    """(N, H, W) images tiled into `columns` columns (grey gaps of `pad` pixels), as one PNG about `target_px` wide."""
    sheet = tile_images(images, columns, pad=pad, pad_value=pad_value)
    return png_bytes(sheet, fit_scale(sheet.shape[1], target_px))


def latent_map_figure(
    points: np.ndarray,
    labels: np.ndarray,
    *,
    indices: np.ndarray | None = None,
    prior_density: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    prior_points: np.ndarray | None = None,
    axis_titles: Sequence[str] = ("z₁", "z₂"),
    extent: float | None = None,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    height: int = 520,
) -> go.Figure:
    """Scatter of 2-D codes, one trace per label (so the legend toggles classes), the prior drawn beneath.

    Each point carries its example index as customdata, which hover shows and a selection returns.
    The prior is a grey heatmap of its density (an image: far cheaper for the browser than contours), or grey
    samples when it has no density (e.g. the swiss roll). `class_names` and `title` are plain text.
    """
    points = np.asarray(points, dtype=np.float64)
    labels = np.asarray(labels)
    indices = np.arange(len(points)) if indices is None else np.asarray(indices)
    figure = go.Figure()
    if prior_density is not None:
        xs, ys, density = prior_density
        figure.add_trace(
            go.Heatmap(
                x=xs,
                y=ys,
                z=density,
                name="prior density",
                showscale=False,
                hoverinfo="skip",
                zsmooth="best",
                colorscale=[[0.0, "rgba(255,255,255,0)"], [1.0, "rgba(60,60,60,0.45)"]],
            )
        )
    elif prior_points is not None:
        figure.add_trace(prior_samples_trace(prior_points))
    for label in np.unique(labels):
        mask = labels == label
        name = _label_name(int(label), class_names)
        figure.add_trace(
            go.Scatter(
                x=points[mask, 0],
                y=points[mask, 1],
                mode="markers",
                name=name,
                customdata=indices[mask],
                hovertemplate=f"<b>{name}</b><br>example #%{{customdata}}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>",
                marker={
                    "size": 6,
                    "color": LABEL_COLOURS[int(label) % len(LABEL_COLOURS)] if label >= 0 else "black",
                    "opacity": 0.85,
                    "line": {"width": 0},
                },
            )
        )
    figure.update_layout(
        title=None if title is None else figure_text(title),
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        plot_bgcolor="white",
        legend={"title": {"text": "label"}, "itemsizing": "constant"},
        hovermode="closest",  # no dragmode: Streamlit then makes a click select a point (pan mode)
        xaxis={"title": axis_titles[0], "zeroline": False, "gridcolor": "#eee"},
        yaxis={"title": axis_titles[1], "zeroline": False, "gridcolor": "#eee"},
    )
    if extent is not None:
        figure.update_xaxes(range=[-extent, extent])
        figure.update_yaxes(range=[-extent, extent], scaleanchor="x", scaleratio=1)
    return figure


def _label_name(label: int, class_names: Sequence[str] | None) -> str:
    if label < 0:
        return "unlabelled"
    if class_names and label < len(class_names):
        return figure_text(class_names[label])
    return str(label)


def figure_text(text: object) -> str:
    """`text` for a Plotly title, legend or hover label: shown as written, never read as HTML."""
    return html.escape(" ".join(str(text).split()), quote=False)


def with_region(figure: go.Figure, x_range: tuple[float, float], y_range: tuple[float, float]) -> go.Figure:
    """A copy of the figure with a dashed rectangle marking the region a manifold grid covers."""
    marked = go.Figure(figure)
    marked.add_shape(
        type="rect",
        x0=x_range[0],
        x1=x_range[1],
        y0=y_range[0],
        y1=y_range[1],
        line={"color": "black", "width": 2, "dash": "dash"},
        fillcolor="rgba(0,0,0,0)",
    )
    return marked


def with_marker(figure: go.Figure, point: np.ndarray, name: str = "slider position") -> go.Figure:
    """A copy of the figure with one large star at `point` (x, y)."""
    marked = go.Figure(figure)
    star = {"symbol": "star", "size": 18, "color": "black", "line": {"color": "white", "width": 1}}
    marked.add_trace(
        go.Scatter(x=[float(point[0])], y=[float(point[1])], mode="markers", name=name, marker=star, hoverinfo="name")
    )
    return marked


def with_cluster_heads(figure: go.Figure, heads: np.ndarray) -> go.Figure:
    """The figure with the dimensionality-reduction AAE's cluster heads W drawn as numbered crosses (paper Fig. 10)."""
    cross = {"symbol": "x-thin", "size": 16, "color": "black", "line": {"color": "black", "width": 3}}
    figure.add_trace(
        go.Scatter(
            x=heads[:, 0],
            y=heads[:, 1],
            mode="markers+text",
            name="cluster heads W",
            marker=cross,
            text=[str(k) for k in range(len(heads))],
            textposition="top right",
            hovertemplate="cluster head %{text}<extra></extra>",
        )
    )
    return figure


def replay_figure(
    steps: np.ndarray,
    frames: np.ndarray,
    labels: np.ndarray,
    *,
    extent: float,
    prior_points: np.ndarray | None = None,
    axis_titles: Sequence[str] = ("z₁", "z₂"),
    height: int = 520,
) -> go.Figure:
    """An animation of 2-D codes during training: frames (S, n, 2) at training steps (S,), play button and slider.

    One trace coloured per point (not one per label) keeps every frame small.
    """
    labels = np.asarray(labels)
    colours = [LABEL_COLOURS[int(k) % len(LABEL_COLOURS)] if k >= 0 else "black" for k in labels] or None
    hover = [f"label {int(k)}" for k in labels] if len(labels) else None

    def codes_trace(points: np.ndarray) -> go.Scatter:
        return go.Scatter(
            x=points[:, 0],
            y=points[:, 1],
            mode="markers",
            name="codes",
            text=hover,
            hoverinfo="text",
            marker={"size": 6, "color": colours or "#1f77b4", "opacity": 0.85},
        )

    data = []
    if prior_points is not None:
        data.append(prior_samples_trace(prior_points))
    codes_index = len(data)
    data.append(codes_trace(frames[0]))
    figure = go.Figure(
        data=data,
        frames=[
            go.Frame(data=[codes_trace(points)], traces=[codes_index], name=str(int(step)))
            for step, points in zip(steps, frames, strict=True)
        ],
    )
    play = {"frame": {"duration": 120, "redraw": False}, "transition": {"duration": 80}, "fromcurrent": True}
    jump = {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        plot_bgcolor="white",
        showlegend=False,
        xaxis={"title": axis_titles[0], "range": [-extent, extent], "zeroline": False, "gridcolor": "#eee"},
        yaxis={
            "title": axis_titles[1],
            "range": [-extent, extent],
            "zeroline": False,
            "gridcolor": "#eee",
            "scaleanchor": "x",
            "scaleratio": 1,
        },
        updatemenus=[
            {
                "type": "buttons",
                "direction": "left",
                "x": 0.0,
                "y": -0.08,
                "xanchor": "left",
                "yanchor": "top",
                "showactive": False,
                "buttons": [
                    {"label": "▶ Play", "method": "animate", "args": [None, play]},
                    {"label": "❚❚ Pause", "method": "animate", "args": [[None], jump]},
                ],
            }
        ],
        sliders=[
            {
                "x": 0.2,
                "len": 0.8,
                "y": -0.05,
                "yanchor": "top",
                "currentvalue": {"prefix": "training step "},
                "steps": [
                    {"label": str(int(step)), "method": "animate", "args": [[str(int(step))], jump]} for step in steps
                ],
            }
        ],
    )
    return figure


def score_histograms(
    known: np.ndarray,
    held_out: np.ndarray,
    *,
    score_title: str,
    held_out_name: str,
    yours: float | None = None,
    height: int = 360,
) -> go.Figure:
    """Two overlaid histograms of an anomaly score, each normalised to its own count, and a line at `yours`."""
    both = np.concatenate([known, held_out])
    low, high = np.percentile(both, [0.5, 99.5])  # a few extreme scores would squash every bar into one
    if yours is not None:
        low, high = min(low, yours), max(high, yours)
    bins = {"start": float(low), "end": float(high) + 1e-9, "size": max(float(high - low) / 40, 1e-9)}
    figure = go.Figure()
    for values, name, colour in ((known, "known classes", "#1f77b4"), (held_out, held_out_name, "#d62728")):
        figure.add_trace(
            go.Histogram(
                x=np.clip(values, low, high),
                name=figure_text(name),
                histnorm="probability",
                xbins=bins,
                opacity=0.6,
                marker_color=colour,
            )
        )
    if yours is not None:
        figure.add_vline(x=float(yours), line_width=3, line_color="black", annotation_text="your digit")
    figure.update_layout(
        barmode="overlay",
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis_title=figure_text(score_title),
        yaxis_title="share of images",
        legend={"orientation": "h", "y": 1.1},
    )
    return figure
