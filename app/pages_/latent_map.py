"""Latent map: where the encoder puts each evaluation digit, against the prior the model was trained to match."""

import numpy as np
import streamlit as st

from app import figures, first_paint, latent, latent_pad, views
from app.sidebar import selection

frame = first_paint.take_frame()  # title, caption and the map's slot: drawn before PyTorch on a cold start
if selection().model is None or selection().model.atlas is None:
    frame.map_slot.empty()  # no map after all (the model cannot be opened): no early drawing of its codes either

with frame.middle:
    model = views.page_frame(
        first_paint.TITLE,
        first_paint.CAPTION,
        "Every dot is one digit from the evaluation set, placed where the **encoder** maps it, coloured by its "
        "true label. The grey shading (or grey dots) underneath is the **prior**: the distribution the model was "
        "trained to make its codes follow.\n\n"
        "- An **AAE** pushes the codes to fill the prior's shape; a **VAE** does so only loosely; a plain "
        "**autoencoder** leaves gaps, which decode to nonsense.\n"
        "- **Try:** move the pointer over the small map beside it: the digit under the pointer is decoded in your "
        "browser, also in the empty space between the clusters.\n"
        "- Hover over dots; click one, or take the lasso from the chart's toolbar and circle a cluster, "
        "to see what they decode to; "
        "click a label in the legend to hide that class.\n"
        "- Codes with more than two dimensions are projected to 2-D (PCA keeps straight lines straight; "
        "t-SNE keeps neighbours together but distorts distances).",
        training_note=True,
        titled=True,
    )

    if model.atlas is None:
        views.no_atlas_message(model)
        st.stop()

    method = "pca"
    if model.latent_dim > 2:
        method = st.radio(
            "Projection",
            ["pca", "tsne"],
            horizontal=True,
            key="map_projection",
            format_func={"pca": "PCA (fast, linear)", "tsne": "t-SNE (slower, keeps neighbours)"}.get,
        )

figure, view = views.map_figure(model, views.model_key(model), method)
event = frame.map_slot.plotly_chart(  # replaces the first paint's codes-only map, if any
    figure,
    key=views.scoped(model, "latent_map"),
    on_select="rerun",
    selection_mode=("points", "box", "lasso"),
    width="stretch",
    config=first_paint.MAP_CONFIG,
)
frame.map_column.caption("Camera icon (top right of the chart): download the map as PNG.")

with frame.detail_column:
    pad_view = view if model.latent_dim == 2 or (model.latent_dim > 2 and method == "pca") else None
    if pad_view is not None and latent_pad.supported([model]):
        shown_range = figure.layout.xaxis.range
        latent_pad.latent_pad(
            [model],
            key=views.scoped(model, "map_pad"),
            mode="map",
            extent=float(shown_range[1]) if shown_range else latent.symmetric_extent(view.points),
            projection=pad_view,
            captions=["under the pointer"],
            digit_px=112,
        )
        st.caption(
            "Decoded in your browser: move the pointer over this small copy of the map to see what the decoder draws "
            "there, dots or empty space; click to pin a point."
        )
    points = event.selection.points if event and event.selection else []
    picked = {int(p["customdata"]) for p in points if isinstance(p.get("customdata"), (int, float))}
    chosen = np.array(sorted(i for i in picked if 0 <= i < len(model.atlas.codes)), dtype=int)
    if len(chosen) == 0:
        st.subheader("Selected digits")
        st.info(
            "Click a dot to decode it here. To take many at once, pick the lasso or box tool in the chart's "
            "toolbar (top right) and draw around them; double-click the chart to clear the selection."
        )
    else:
        shown = chosen[:100]
        st.subheader(f"{len(chosen)} selected" + (" (first 100 shown)" if len(chosen) > 100 else ""))
        images = views.decode(model, model.atlas.codes[shown], model.atlas.labels[shown])
        columns = min(10, len(shown))
        png = figures.grid_png(images, columns, target_px=min(420, 84 * columns))
        st.image(png, caption="What the decoder makes of each selected code (the reconstructions)", output_format="PNG")
        labels = model.atlas.labels[shown]
        counts = ", ".join(
            f"{views.plain(model.class_names[k]) if model.num_classes else k}: {int((labels == k).sum())}"
            for k in np.unique(labels)
        )
        st.caption(f"Labels in the selection: {counts}")
        views.download_png(png, f"{model.name}-selection.png", key="download_selection")

# A toggle, not an expander: an expander's content is sent and drawn even while closed, and the replay is heavy.
if model.snapshots is None or model.latent_dim < 2:
    st.caption("This checkpoint kept no snapshots of its codes during training, so there is no replay.")
elif st.toggle("Replay training: how the codes moved while the model learned", key="show_replay"):
    st.caption("Press ▶ Play: each frame is the codes of the same evaluation digits at one moment of training.")
    st.plotly_chart(
        views.replay_figure(model, views.model_key(model)),
        key="replay",
        width="stretch",
        config={"toImageButtonOptions": {"filename": "training-replay", "scale": 2}},
    )

if model.latent_dim == 2 and model.can_discriminate:
    if st.toggle("The discriminator's view: where it pushes the codes", key="show_discriminator"):
        shown_range = figure.layout.xaxis.range
        extent = float(shown_range[1]) if shown_range else latent.symmetric_extent(model.atlas.codes)
        grid = latent.discriminator_grid(model.discriminate, (-extent, extent), (-extent, extent))
        subset = latent.display_subset(len(model.atlas.codes), 3000)
        st.plotly_chart(
            figures.discriminator_figure(grid, model.atlas.codes[subset], latent.prior_samples(model.prior, 2000)),
            key="discriminator_view",
            width="stretch",
            config={"toImageButtonOptions": {"filename": "discriminator-view", "scale": 2}},
        )
        st.caption(
            "D(z) is the discriminator's probability that a code was drawn from the prior. Blue: it takes codes "
            "there for prior samples; red: for the encoder's codes. The encoder is trained to fool it, so its codes "
            "are pushed from red towards blue; where codes and prior agree, D is near 0.5."
        )

with st.expander("Metrics of this checkpoint"):
    metrics = model.metrics
    if metrics:
        st.dataframe({"metric": list(metrics), "value": [round(v, 4) for v in metrics.values()]}, hide_index=True)
    else:
        st.caption("This checkpoint stores no metrics.")
