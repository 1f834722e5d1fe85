"""Sliders: set a code by hand, one slider per latent dimension, and watch the decoder draw it."""

import numpy as np
import streamlit as st

from aae_core.inference import LatentModel
from app import figures, latent, latent_pad, views

model = views.page_frame(
    "Sliders",
    "Set the code z by hand and watch the decoder draw it: drag the point on the pad, or use the arrow keys.",
    "The pad is the plane of the first two numbers of the code *z* (sliders below it set the others); the "
    "picture is what the **decoder** draws for it, computed in your browser as you drag. The coloured dots are "
    "the evaluation digits' codes, the grey ones samples of the prior. Because the AAE was trained so that codes "
    "follow the prior, any point the prior covers should decode to a plausible digit.\n\n"
    "- **Try:** drag slowly from one cluster to another and watch one digit morph into another; press "
    "*Sample from the prior* for random codes; use the strip below to walk in a straight line between two digits.\n"
    "- Click the pad, then the arrow keys nudge the point (Shift: ten times further).",
)

limits = views.slider_limits(model)
slider_keys = [views.scoped(model, f"z{i + 1}") for i in range(model.latent_dim)]  # fresh sliders per model
code_key, label_key = views.scoped(model, "pad_code"), views.scoped(model, "pad_label")
class_key = views.scoped(model, "slider_class")  # the server-side class picker's
# The code lives here, not in the sliders' keys: in the pad's runs the sliders are not drawn, and Streamlit forgets
# the values of widgets it did not draw.
st.session_state.setdefault(code_key, [0.0] * model.latent_dim)
st.session_state.setdefault(label_key, 0)


def set_code(values: np.ndarray, rounded: bool = True) -> None:
    """Move the code, the pad and the sliders (a callback: runs before they are drawn again)."""
    values = [round(float(v), 2) if rounded else float(v) for v in values]
    clipped = [float(np.clip(v, -lim, lim)) for v, lim in zip(values, limits, strict=True)]
    st.session_state[code_key] = clipped
    for key, value in zip(slider_keys, clipped, strict=True):
        st.session_state[key] = value


def released(state: latent_pad.PadState) -> None:
    """The student let go of the pad: its code (and class) become the page's."""
    if state.code is not None and len(state.code) == model.latent_dim:
        set_code(state.code, rounded=False)
    if model.num_classes:
        set_label(int(np.clip(state.label, 0, model.num_classes - 1)))


def set_label(label: int) -> None:
    st.session_state[label_key] = st.session_state[class_key] = label


def sample_code(current: LatentModel) -> None:
    seed = st.session_state.get("prior_seed", 0)
    st.session_state["prior_seed"] = seed + 1
    samples = latent.prior_samples(current.prior, 1, seed)
    if samples is None:
        st.session_state["_sample_problem"] = "This model's prior cannot be sampled here."
        return
    set_code(samples[0])


def use_example(current: LatentModel) -> None:
    """Move the sliders to the code of the chosen evaluation digit (read at click time, not when drawn)."""
    index = int(st.session_state.get(views.scoped(current, "slider_example"), 0))
    set_code(current.atlas.codes[index])
    if current.num_classes:  # a conditional decoder also gets that digit's class
        set_label(int(current.atlas.labels[index]))


buttons = st.columns([3, 2, 2, 3], vertical_alignment="bottom")
buttons[0].button(
    "Sample from the prior",
    on_click=sample_code,
    args=(model,),
    key="sample_prior",
    width="stretch",
    help="Set the sliders to a random code drawn from the model's prior",
)
buttons[1].button(
    "Reset to 0",
    on_click=set_code,
    args=(np.zeros(model.latent_dim),),
    key="reset_code",
    icon=":material/restart_alt:",
    width="stretch",
)
if model.atlas is not None:
    buttons[2].number_input(
        "Evaluation example #", 0, len(model.atlas.codes) - 1, 0, key=views.scoped(model, "slider_example")
    )
    buttons[3].button("Use this digit's code", key="use_example", on_click=use_example, args=(model,), width="stretch")
problem = st.session_state.pop("_sample_problem", None)
if problem:
    st.warning(problem)


@st.fragment
def slider_panel() -> None:
    """Only this part reruns when the pad is released or a slider moves; it holds few elements."""
    server_side = latent_pad.server_side_toggle()
    state = None
    if not server_side:
        state = latent_pad.latent_pad(
            [model],
            key=views.scoped(model, "sliders_pad"),
            code=st.session_state[code_key],
            label=st.session_state[label_key],
            on_release=released,
            digit_px=224,
        )
    if state is not None and state.ready:
        code = np.array(st.session_state[code_key], dtype=np.float32)
        label = st.session_state[label_key] if model.num_classes else None
        text = ", ".join(f"{v:.2f}" for v in code)
        st.caption(f"Released at z = ({text}): the buttons and the strip below start from here.")
        st.download_button(  # decoded on the server only when asked: a release's rerun stays light
            "Download this digit",
            lambda: figures.digit_png(views.decode(model, code, label)[0], 224),
            file_name=f"{model.name}-decode.png",
            mime="image/png",
            key="download_decode",
            icon=":material/download:",
        )
        return
    if not server_side:
        st.caption(latent_pad.NOTICE)
    server_sliders()


def server_sliders() -> None:
    """Today's controls: one slider per dimension, decoded on the server at every change."""
    slider_column, image_column = st.columns([3, 2], gap="large")
    with slider_column:
        per_row = 1 if model.latent_dim <= 4 else 2
        slider_columns = st.columns(per_row) if per_row > 1 else [st.container()]
        values = []
        for i, key in enumerate(slider_keys):
            limit = float(limits[i])
            st.session_state.setdefault(key, st.session_state[code_key][i])  # back from the pad's runs
            values.append(
                slider_columns[i % per_row].slider(f"z{i + 1}", -limit, limit, step=round(limit / 50, 3), key=key)
            )
        st.session_state.setdefault(class_key, st.session_state[label_key])
        label = views.class_picker(model, key="slider_class")
    code = np.array(values, dtype=np.float32)
    st.session_state[code_key] = [float(v) for v in code]
    st.session_state[label_key] = label or 0
    with image_column:
        image = views.decode(model, code, label)[0]
        png = figures.digit_png(image, 224)
        st.image(
            png, caption=f"decode(z) for z = ({', '.join(f'{v:.2f}' for v in code)})", width=224, output_format="PNG"
        )
        views.download_png(png, f"{model.name}-decode.png", key="download_decode")


slider_panel()

st.divider()
st.subheader("Interpolate between two points")
st.caption("A straight line in latent space, decoded step by step: smooth morphs mean the space has no holes there.")
sources = {"prior": "a prior sample", "example": "an evaluation digit's code", "slider": "the pad's position"}
ends = st.columns(3)
start_kind = ends[0].selectbox("From", list(sources), format_func=sources.get, key="interp_start_kind", index=1)
end_kind = ends[1].selectbox("To", list(sources), format_func=sources.get, key="interp_end_kind", index=1)
steps = ends[2].slider("Steps", 3, 20, 10, key="interp_steps")


def endpoint(kind: str, column, name: str, default: int) -> np.ndarray | None:
    if kind == "slider":
        return np.array(st.session_state[code_key], dtype=np.float32)
    if kind == "example":
        if model.atlas is None:
            column.warning("No atlas in this checkpoint.")
            return None
        index = column.number_input(
            f"{name}: example #",
            0,
            len(model.atlas.codes) - 1,
            default,
            key=views.scoped(model, f"interp_{name}_example"),
        )
        label = model.atlas.labels[int(index)]
        column.caption(f"a {views.plain(model.class_names[label]) if model.num_classes else label}")
        return model.atlas.codes[int(index)]
    seed = column.number_input(f"{name}: prior seed", 0, 10_000, default, key=f"interp_{name}_seed")
    samples = latent.prior_samples(model.prior, 1, int(seed))
    if samples is None:
        column.warning("This model's prior cannot be sampled here.")
    return None if samples is None else samples[0]


start = endpoint(start_kind, ends[0], "start", 0)
end = endpoint(end_kind, ends[1], "end", 1)
if start is not None and end is not None:
    strip_label = views.class_picker(model, key="interp_class")
    strip = views.decode(model, latent.interpolate(start, end, steps), strip_label)
    png = figures.grid_png(strip, steps, target_px=min(1000, 80 * steps))
    st.image(png, caption="start → end", output_format="PNG")
    views.download_png(png, f"{model.name}-interpolation.png", key="download_interpolation")
