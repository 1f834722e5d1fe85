"""Manifold: decode a whole grid of codes at once, to see what every region of the latent space draws."""

import numpy as np
import streamlit as st

from app import figures, latent, views

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
span = st.slider(
    "Range (both axes)",
    -2 * half,
    2 * half,
    (-half * 0.8, half * 0.8),
    step=half / 20,
    key=views.scoped(model, f"manifold_range_{dims[0]}_{dims[1]}"),  # the range depends on both
    help="The box of codes to decode; the dashed rectangle on the map.",
)
resolution = st.slider("Resolution (cells per side)", 3, 30, 15, key="manifold_resolution")
label = views.class_picker(model, key="manifold_class", label="Class to decode (conditional model)")

if span[1] <= span[0]:
    st.warning("The range is empty: move the two ends of the range slider apart.")
    st.stop()
if model.latent_dim == 1:
    codes = np.linspace(*span, resolution, dtype=np.float32)[:, None]  # one row: the walk along z₁
else:
    codes = latent.grid_codes(base, dims, span, span, resolution)
images = views.decode(model, codes, label)
grid = figures.grid_png(images, resolution, target_px=520)

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
    axes = f"z{dims[0] + 1} left→right, z{dims[1] + 1} bottom→top" if model.latent_dim > 1 else "z₁ left→right"
    st.image(
        grid,
        caption=f"{resolution}×{resolution} decodes from {span[0]:.2f} to {span[1]:.2f} ({axes})",
        output_format="PNG",
    )
    name = f"{model.name}-manifold-{resolution}x{resolution}.png"
    views.download_png(grid, name, key="download_manifold")
