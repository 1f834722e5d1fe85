"""Style × class: with a decoder that takes the class as an input, keep the style code and change the class."""

import numpy as np
import streamlit as st

from app import figures, latent, views
from app.sidebar import open_model, selection

model = views.page_frame(
    "Style × class",
    "Keep the handwriting style, change the digit: rows are styles, columns are classes.",
    "A **supervised AAE** (paper §4) gives the decoder the digit's class as a separate input, so the code *z* "
    "only has to carry what is left: the **style** (slant, stroke width, size). Each row below keeps one "
    "style *z*; each column asks the decoder for a different class. If the model separated the two, "
    "every row looks like one person's handwriting of all the digits.\n\n"
    "- **Try:** sample new styles from the prior, or take the styles of real digits from the evaluation set.",
    expanded=True,
)

if not model.num_classes:
    conditional = []
    for entry in selection().files:
        other, _ = open_model(entry, selection().device)
        if other is not None and other.num_classes:
            conditional.append(entry)
    st.info(
        f"**This {views.plain(model.kind.upper())} is not conditional**: its decoder sees only *z*, so class and "
        "style are mixed together in the code and there is no class input to walk. Pick a supervised (conditional) "
        "model "
        + (
            "to see the grid:"
            if conditional
            else "in the sidebar to see the grid; none of the checkpoints found here is one yet."
        )
    )
    for entry in conditional[:5]:
        st.button(
            f"Open {views.plain(entry.path.stem)}",
            key=f"open_{entry.path.stem}",
            icon=":material/open_in_new:",
            on_click=lambda stem=entry.path.stem: st.session_state.update(_pick_next_run=stem),
        )
    st.stop()

names = model.class_names
controls = st.columns(3)
source = controls[0].radio(
    "Styles",
    ["prior", "real"],
    key="style_source",
    horizontal=True,
    format_func={"prior": "sampled from the prior", "real": "encoded from real digits"}.get,
)
rows = controls[1].slider("Rows (styles)", 1, 12, 6, key="style_rows")
seed = controls[2].number_input("Seed", 0, 10_000, 0, key="style_seed")

row_labels: list[str] = []
if source == "real" and model.atlas is not None:
    pick = np.random.default_rng(int(seed)).choice(
        len(model.atlas.codes), size=min(rows, len(model.atlas.codes)), replace=False
    )
    styles = model.atlas.codes[pick]
    row_labels = [
        f"row {r + 1}: style of example #{i} (a {views.plain(names[model.atlas.labels[i]])})"
        for r, i in enumerate(pick)
    ]
else:
    if source == "real":
        st.warning("This checkpoint has no atlas of encoded digits; sampling styles from the prior instead.")
    styles = latent.prior_samples(model.prior, rows, int(seed))
    if styles is None:
        st.error("This model's prior cannot be sampled here; choose styles encoded from real digits.")
        st.stop()

classes = np.arange(model.num_classes)
codes = np.repeat(styles, len(classes), axis=0)  # row-major: each style once per class
labels = np.tile(classes, len(styles))
grid = figures.grid_png(views.decode(model, codes, labels), len(classes), target_px=640)
columns_caption = "Columns: " + " ".join(views.plain(n) for n in names[: len(classes)]) + " — each row one style z"
st.image(grid, caption=columns_caption, output_format="PNG")
if row_labels:
    st.caption("; ".join(row_labels))
views.download_png(grid, f"{model.name}-style-class.png", key="download_style_grid")
