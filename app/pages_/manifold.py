"""Manifold: decode a whole grid of codes at once, to see what every region of the latent space draws."""

import numpy as np
import streamlit as st

from app import figures, latent, latent_pad, views

model = views.page_frame(
    "Manifold",
    "A grid of codes, all decoded at once: what the decoder draws everywhere in the box on the map.",
    "The right-hand picture is a grid of codes, evenly spaced over the dashed box on the map, each one "
    "**decoded** into a digit. It shows what the decoder draws everywhere, including places no training digit "
    "was mapped to.\n\n"
    "- Where an AAE matched its prior, neighbouring cells change smoothly from one digit to the next.\n"
    "- **Try:** widen the range past the prior and watch the digits break down; raise the resolution; "
    "for a model with more than two latent dimensions, choose which two to walk while the others stay fixed.",
)

limits = views.slider_limits(model)

controls = st.columns(4)
dims = (0, min(1, model.latent_dim - 1))
base = np.zeros(model.latent_dim, dtype=np.float32)
if model.latent_dim > 2:
    names = [f"z{i + 1}" for i in range(model.latent_dim)]
    first = controls[0].selectbox(
        "Horizontal dimension",
        range(model.latent_dim),
        format_func=names.__getitem__,
        key=views.scoped(model, "manifold_x_dim"),
    )
    second = controls[1].selectbox(
        "Vertical dimension",
        [i for i in range(model.latent_dim) if i != first],
        format_func=names.__getitem__,
        key=views.scoped(model, f"manifold_y_dim_{first}"),
    )
    dims = (first, second)
    fixed = controls[2].radio(
        "Other dimensions",
        ["zero", "example"],
        key=views.scoped(model, "manifold_fixed"),
        format_func={"zero": "at 0 (the prior's centre)", "example": "at a digit's code"}.get,
    )
    if fixed == "example" and model.atlas is not None:
        index = controls[3].number_input(
            "Evaluation example #", 0, len(model.atlas.codes) - 1, 0, key=views.scoped(model, "manifold_example")
        )
        base = model.atlas.codes[int(index)].astype(np.float32)
elif model.latent_dim == 1:
    st.warning("This model has a 1-D latent space: the grid walks z₁ only.")

half = float(max(limits[list(dims)]))
range_key = views.scoped(model, f"manifold_range_{dims[0]}_{dims[1]}")  # the range depends on both dimensions
view_key = views.scoped(model, f"manifold_view_{dims[0]}_{dims[1]}")  # what the page draws, from either control
st.session_state.setdefault(view_key, {"low": -half * 0.8, "high": half * 0.8, "resolution": 15})
label_key = views.scoped(model, "manifold_label")
st.session_state.setdefault(label_key, 0)


def released(state: latent_pad.PadState) -> None:
    """The browser's range or resolution was let go: the map's box (and the server controls) follow."""
    view = state.view or {}
    try:
        low, high = sorted(float(np.clip(view[k], -2 * half, 2 * half)) for k in ("low", "high"))
        resolution = int(np.clip(int(view["resolution"]), 3, 30))
    except (KeyError, TypeError, ValueError):
        return
    st.session_state[view_key] = {"low": low, "high": high, "resolution": resolution}
    st.session_state[range_key], st.session_state["manifold_resolution"] = (low, high), resolution
    st.session_state[label_key] = state.label


use_pad = model.latent_dim > 1 and latent_pad.supported([model])
use_pad = use_pad and not latent_pad.server_side_toggle("Use the server-side grid")
in_browser = use_pad and latent_pad.browser_ready()
if in_browser:
    view = st.session_state[view_key]
    span, resolution = (view["low"], view["high"]), view["resolution"]
    label = st.session_state[label_key] if model.num_classes else None
else:
    if use_pad:
        st.caption(latent_pad.NOTICE)
    st.session_state.setdefault(range_key, (st.session_state[view_key]["low"], st.session_state[view_key]["high"]))
    span = st.slider(
        "Range (both axes)",
        -2 * half,
        2 * half,
        step=half / 20,
        key=range_key,
        help="The box of codes to decode; the dashed rectangle on the map.",
    )
    st.session_state.setdefault("manifold_resolution", st.session_state[view_key]["resolution"])
    resolution = st.slider("Resolution (cells per side)", 3, 30, key="manifold_resolution")
    label = views.class_picker(model, key="manifold_class", label="Class to decode (conditional model)")
    st.session_state[view_key] = {"low": float(span[0]), "high": float(span[1]), "resolution": int(resolution)}
    st.session_state[label_key] = label or 0

if span[1] <= span[0]:
    st.warning("The range is empty: move the two ends of the range slider apart.")
    st.stop()

map_column, grid_column = st.columns(2, gap="medium")
with map_column:
    if model.atlas is not None and model.latent_dim > 1:
        figure, _ = views.map_figure(
            model, views.model_key(model), "pca", dims=dims if model.latent_dim > 2 else None, height=520
        )
        st.plotly_chart(
            figures.with_region(figure, span, span),
            key="manifold_map",
            width="stretch",
            config={"toImageButtonOptions": {"filename": "manifold-map", "scale": 2}},
        )
    else:
        views.no_atlas_message(model) if model.atlas is None else st.caption("No map for a 1-D latent space.")
with grid_column:
    if use_pad:  # mounted in the server's runs too: that is how the browser says it is ready
        latent_pad.latent_pad(
            [model],
            key=views.scoped(model, "manifold_pad"),
            mode="grid",
            view=st.session_state[view_key],
            dims=dims,
            base=base,
            extent=half,
            label=st.session_state[label_key],
            on_release=released,
        )
    if model.latent_dim == 1:
        codes = np.linspace(*span, resolution, dtype=np.float32)[:, None]  # one row: the walk along z₁
    else:
        codes = latent.grid_codes(base, dims, span, span, resolution)
    axes = f"z{dims[0] + 1} left→right, z{dims[1] + 1} bottom→top" if model.latent_dim > 1 else "z₁ left→right"
    name = f"{model.name}-manifold-{resolution}x{resolution}.png"
    if in_browser:  # drawn by the browser; the server makes the PNG only when it is asked for
        st.caption(f"Decoded in your browser ({axes}); the box on the map follows when you let go of a control.")
        st.download_button(
            "Download PNG",
            lambda: figures.grid_png(views.decode(model, codes, label), resolution, target_px=520),
            file_name=name,
            mime="image/png",
            key="download_manifold",
            icon=":material/download:",
        )
    else:
        grid = figures.grid_png(views.decode(model, codes, label), resolution, target_px=520)
        st.image(
            grid,
            caption=f"{resolution}×{resolution} decodes from {span[0]:.2f} to {span[1]:.2f} ({axes})",
            output_format="PNG",
        )
        views.download_png(grid, name, key="download_manifold")
