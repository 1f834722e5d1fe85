"""Pieces several pages share: the page frame, cached latent-map figures, decoding to arrays, class pickers,
slider ranges, PNG downloads.

Text from a checkpoint (names, prior, dataset, classes, messages) goes into Markdown only through `plain`."""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from aae_core.inference import LatentModel
from app import figures, latent
from app.catalog import plain
from app.sidebar import require_model
from app.training_panel import just_trained_note

EXPLAINER = "What am I looking at?"


def page_frame(
    title: str,
    caption: str,
    explanation: str | Callable[[LatentModel], str],
    *,
    expanded: bool = False,
    needs_model: bool = True,
    training_note: bool = False,
    titled: bool = False,
) -> LatentModel | None:
    """The top of every page: title, caption, the "What am I looking at?" explanation, and the chosen model.

    With `needs_model` the page stops here when no model can be opened (saying why, or offering to train one);
    the explanation may then be a function of the model. `training_note` says where a model just trained went.
    `titled`: the page drew its title and caption already (app/first_paint.py), so only the rest is drawn.
    """
    if not titled:
        st.title(title)
        st.caption(caption)
    if training_note:
        just_trained_note()
    model = require_model() if needs_model else None
    if callable(explanation):
        if model is None:
            raise TypeError("an explanation that depends on the model needs a page with needs_model=True")
        explanation = explanation(model)
    with st.expander(EXPLAINER, expanded=expanded):
        st.markdown(explanation)
    return model


def model_key(model: LatentModel) -> tuple:
    """Identifies a loaded model in caches (the cached model object itself is shared and never hashed).

    The training step tells apart two versions of one file (a run that keeps writing its checkpoint).
    """
    return model.source, str(model.device), model.step, id(model)


def scoped(model: LatentModel, name: str) -> str:
    """A widget key of its own per checkpoint: ranges and options depend on the model, and a value remembered for
    another model (out of this one's range) would otherwise make the widget fail."""
    return f"{name}@{zlib.crc32(model.source.encode()):08x}"


def decode(model: LatentModel, codes: np.ndarray, labels: np.ndarray | int | None = None) -> np.ndarray:
    """Decoded images (N, H, W) as a float array; a conditional model gets `labels` (one int for all)."""
    codes = np.array(codes, dtype=np.float32).reshape(-1, model.latent_dim)  # a copy: the atlas's are read-only
    if model.num_classes:
        labels = np.full(len(codes), 0 if labels is None else labels) if np.ndim(labels) == 0 else labels
        label_tensor = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        return model.decode(torch.from_numpy(codes), label_tensor).cpu().numpy()
    return model.decode(torch.from_numpy(codes)).cpu().numpy()


def class_picker(model: LatentModel, key: str, label: str = "Class") -> int | None:
    """A class selector for conditional models (None for unconditional ones, which need none)."""
    if not model.num_classes:
        return None
    names = model.class_names
    key = scoped(model, key)
    st.session_state.setdefault(key, 0)  # the value lives in session state, so callbacks can set it
    options = list(range(model.num_classes))
    return st.segmented_control(label, options, format_func=lambda i: plain(names[i]), key=key) or 0


@st.cache_resource(show_spinner="Projecting the codes…", max_entries=32)
def projection(_model: LatentModel, key: tuple, method: str) -> latent.Projection:
    """The atlas codes in 2-D (as they are, PCA or t-SNE), computed once per model and method."""
    del key  # the cache key of _model
    codes = _model.atlas.codes
    return latent.project_codes(codes[shown_indices(len(codes), method)], method)


def shown_indices(n: int, method: str) -> np.ndarray:
    """Which atlas codes the map draws: all, or a fixed subset of large atlases (smaller still for t-SNE)."""
    return latent.display_subset(n, latent.MAX_TSNE_POINTS if method == "tsne" else latent.MAX_MAP_POINTS)


@st.cache_resource(show_spinner="Drawing the latent map…", max_entries=64)
def map_figure(
    _model: LatentModel,
    key: tuple,
    method: str = "pca",
    dims: tuple[int, int] | None = None,
    height: int = 520,
    title: str | None = None,
    extent: float | None = None,
) -> tuple[go.Figure, latent.Projection]:
    """The latent map of a model's atlas against its prior: built once, then shared read-only (copy to modify).

    `dims` plots two raw latent dimensions instead of a projection (the manifold page of a >2-D model);
    `extent` fixes the half-width of the view (to put two maps on the same scale).
    """
    atlas = _model.atlas
    shown = shown_indices(len(atlas.codes), "pca" if dims is not None else method)
    if dims is not None:
        points = atlas.codes[shown][:, list(dims)].astype(np.float64)
        view = latent.Projection(points, (f"z{dims[0] + 1}", f"z{dims[1] + 1}"))
        samples = latent.prior_samples(_model.prior, 2000)
        prior_points = None if samples is None else samples[:, list(dims)]
    else:
        view = projection(_model, key, method)
        samples = latent.prior_samples(_model.prior, 2000)
        prior_points = None if samples is None else view.apply(samples)
    extent = extent or latent.symmetric_extent(view.points, prior_points)
    density = None
    if dims is None and _model.latent_dim == 2:
        density = latent.prior_density_grid(_model.prior, (-extent, extent), (-extent, extent))
    figure = figures.latent_map_figure(
        view.points,
        atlas.labels[shown],
        indices=shown,
        prior_density=density,
        prior_points=None if density is not None else prior_points,
        axis_titles=view.axis_titles,
        extent=extent if method != "tsne" or dims is not None else None,
        class_names=_model.class_names or None,
        title=title,
        height=height,
    )
    if _model.cluster_heads is not None:  # dimred: the code is W·y + z, so each cluster sits around its head
        heads = _model.cluster_heads[:, list(dims)] if dims is not None else view.apply(_model.cluster_heads)
        if heads is not None:
            figures.with_cluster_heads(figure, heads)
    return figure, view


MAX_REPLAY_FRAMES = 60  # enough for a smooth replay; more only makes the figure heavier to send


@st.cache_resource(show_spinner="Preparing the replay…", max_entries=16)
def replay_figure(_model: LatentModel, key: tuple) -> go.Figure | None:
    """The training replay (codes of a fixed subset at each snapshot), on the map's scale; None without snapshots."""
    del key
    snapshots = _model.snapshots
    if snapshots is None or len(snapshots.steps) < 1 or _model.latent_dim < 2:
        return None
    keep = np.unique(np.linspace(0, len(snapshots.steps) - 1, MAX_REPLAY_FRAMES).round().astype(int))
    codes = snapshots.codes[keep]  # (S, n, latent_dim)
    if _model.latent_dim == 2:
        frames, titles, linear = codes, ("z₁", "z₂"), latent.Projection(codes[-1], ("z₁", "z₂"), np.zeros(2), np.eye(2))
    else:
        # The final codes' principal axes, applied to every frame, so the motion is not an artefact of re-fitting.
        linear = latent.project_codes(codes[-1].reshape(-1, _model.latent_dim))
        frames, titles = np.stack([linear.apply(c) for c in codes]), linear.axis_titles
    samples = latent.prior_samples(_model.prior, 1500)
    prior_points = None if samples is None else linear.apply(samples)
    extent = latent.symmetric_extent(frames.reshape(-1, 2), prior_points)
    return figures.replay_figure(
        snapshots.steps[keep], frames, snapshots.labels, extent=extent, prior_points=prior_points, axis_titles=titles
    )


def map_extent(model: LatentModel, key: tuple) -> float:
    """Half-width of the square view the model's PCA map would choose on its own."""
    if model.atlas is None:
        return 1.0
    view = projection(model, key, "pca")
    samples = latent.prior_samples(model.prior, 2000)
    return latent.symmetric_extent(view.points, None if samples is None else view.apply(samples))


def slider_limits(model: LatentModel) -> np.ndarray:
    """Half-width per latent dimension (latent_dim,) for sliders and ranges over the model's latent space: wide
    enough for its prior and for almost every code of its atlas."""
    codes = model.atlas.codes if model.atlas is not None else None
    prior_scale = model.prior.scale() if model.prior is not None else 1.0
    return np.resize(latent.slider_limits(codes, prior_scale), model.latent_dim)


def no_atlas_message(model: LatentModel) -> None:
    st.info(
        f"{plain(model.name)} carries no atlas (codes of its evaluation set), so there is no map to draw. "
        "Checkpoints written by `python -m aae_core train` and by this app have one."
    )


def download_png(data: bytes, file_name: str, key: str, label: str = "Download PNG") -> None:
    st.download_button(label, data, file_name=file_name, mime="image/png", key=key, icon=":material/download:")
