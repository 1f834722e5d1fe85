"""Your digit: draw a digit or upload a picture of one, see where the encoder puts it and what comes back out."""

import numpy as np
import streamlit as st
import torch

from aae_core.inference import LatentModel
from app import figures, views
from app.digit_panel import digit_input_panel


def explanation(model: LatentModel) -> str:
    """The page's explanation, which names the model's image size."""
    return (
        "Draw a digit on the pad with the mouse, a pen or a finger, or write one on paper (or in any paint "
        "program), take a picture and upload it. The app turns it into the kind of image the model was trained on, "
        "as MNIST was made: light ink on black, the digit scaled to fit a box and centred by its centre of mass, "
        f"{model.image_shape[0]}×{model.image_shape[1]} pixels. The **encoder** turns that into a code *z*, "
        "marked with a star on the map, and the **decoder** draws *z* back.\n\n"
        "- **Try:** a clear digit, a sloppy one, a letter: where do they land? Is the star among the dots of its "
        "class, or in a gap?"
    )


def class_name(model: LatentModel, label: int) -> str:
    """A label as the model's dataset names it (a garment for Fashion-MNIST), or its number."""
    names = model.class_names
    return views.plain(names[label]) if 0 <= label < len(names) else str(label)


def prediction(model: LatentModel, pixels: np.ndarray) -> str:
    """What the class head q(y|x) makes of the image: the likeliest class (semi-supervised models, by name) or
    cluster, and its probability."""
    probabilities = model.classify(pixels[None])[0].cpu().numpy()
    best = int(probabilities.argmax())
    if model.kind == "semi-supervised":
        what = f"predicted class: {class_name(model, best)}"
    else:
        what = f"cluster {best}"
    return f"{what} (probability {probabilities[best]:.2f})"


model = views.page_frame(
    "Your digit",
    "Draw a digit or upload a picture of one: see where it lands on the map and what the model draws back.",
    explanation,
)

pixels = digit_input_panel(model, "digit")
if pixels is None:
    st.stop()

code = model.encode(torch.from_numpy(pixels[None])).cpu().numpy()[0]
label = views.class_picker(model, key="digit_class", label="Class to decode with (conditional model)")
reconstruction = views.decode(model, code, label)[0]

columns = st.columns([1, 1, 3], gap="medium")
with columns[0]:
    st.image(figures.digit_png(pixels, 160), caption="what the model sees", output_format="PNG")
with columns[1]:
    png = figures.digit_png(reconstruction, 160)
    st.image(png, caption="decode(encode(x))", output_format="PNG")
    if model.categories:
        st.caption(prediction(model, pixels))
    views.download_png(png, f"{model.name}-your-digit.png", key="download_your_digit")
with columns[2]:
    st.markdown("**Its code** z = (" + ", ".join(f"{v:.2f}" for v in code) + ")")
    if model.atlas is not None and model.latent_dim >= 2:
        figure, view = views.map_figure(model, views.model_key(model), "pca", height=440)
        point = view.apply(code[None])
        if point is not None:
            st.plotly_chart(
                figures.with_marker(figure, point[0], name="your digit"),
                key="digit_map",
                width="stretch",
                config={"toImageButtonOptions": {"filename": "your-digit", "scale": 2}},
            )
        if model.latent_dim > 2:
            st.caption("Codes projected to 2-D with PCA.")
        distances = np.linalg.norm(model.atlas.codes - code, axis=1)
        nearest = np.argsort(distances)[:5]
        st.caption(
            "Nearest evaluation digits: "
            + ", ".join(f"#{i} (a {class_name(model, int(model.atlas.labels[i]))})" for i in nearest)
        )
