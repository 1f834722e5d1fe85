"""AAE vs VAE: two models of the same data and latent size, side by side against their priors."""

import numpy as np
import streamlit as st

from aae_core.inference import LatentModel
from app import figures, latent_pad, views
from app.sidebar import open_model, selection

views.page_frame(
    "AAE vs VAE",
    "Two models of the same digits side by side: which one fills its prior, and what each decodes from the same code.",
    "Two models trained on the same digits with the same latent size. The **AAE** matches its codes to the "
    "prior with a discriminator, which only needs samples of the prior; the **VAE** pays a KL penalty per "
    "example, which tends to leave gaps between classes and pile codes near the centre.\n\n"
    "- Compare how evenly each map fills its prior (grey).\n"
    "- Drag the shared pad: the same code goes into every decoder, in your browser. A third model (for example "
    "a **WAE**, which matches the prior with an MMD penalty) can join from the third picker.\n"
    "- In the table, *prior_swd* and *prior_mmd* measure how far the codes are from the prior (lower is "
    "better; *_floor* is what a perfect match scores), *prior_gap* is the share of the prior with no code "
    "nearby, *recon_* are reconstruction errors, and *knn_accuracy* says how well the codes separate classes.",
    needs_model=False,
)

current = selection()
entries = list(current.files)
if len(entries) < 2:
    st.warning("This page needs two checkpoints (ideally an AAE and a VAE of the same data and latent size).")
    st.page_link(
        "pages_/train_live.py",
        label="Train another one (for example a VAE) on the Train live page",
        icon=":material/model_training:",
    )
    st.stop()

labels = [e.label for e in entries]


def default_pair() -> tuple[int, int]:
    """An AAE and a VAE with the same latent size and data (and the same prior, when there is such a pair)."""
    heads = {}
    for i, entry in enumerate(entries):
        model, _ = open_model(entry, current.device)
        if model is not None:
            heads[i] = (model.kind, model.latent_dim, model.dataset_name, model.prior_name)
    for same_prior in (True, False):
        for i, (kind, dim, data, prior) in heads.items():
            if kind == "aae":
                for j, (other, other_dim, other_data, other_prior) in heads.items():
                    if (other, other_dim, other_data) == ("vae", dim, data) and (
                        prior == other_prior or not same_prior
                    ):
                        return i, j
    return 0, 1


if "compare_a" not in st.session_state or st.session_state["compare_a"] not in labels:
    a, b = default_pair()
    st.session_state["compare_a"], st.session_state["compare_b"] = labels[a], labels[b]
if st.session_state.get("compare_b") not in labels:
    st.session_state["compare_b"] = labels[1]

NONE = "(none)"
if st.session_state.get("compare_c", NONE) not in [NONE, *labels]:
    st.session_state["compare_c"] = NONE
pickers = st.columns(3)
chosen = [
    pickers[0].selectbox("Left model", labels, key="compare_a"),
    pickers[1].selectbox("Right model", labels, key="compare_b"),
    pickers[2].selectbox(
        "Third model (optional)",
        [NONE, *labels],
        key="compare_c",
        help="For example a WAE (MMD), beside the AAE (adversarial) and the VAE (KL)",
    ),
]
models: list[LatentModel] = []
for column, label in zip(pickers, chosen, strict=True):
    if label == NONE:
        continue
    model, problem = open_model(entries[labels.index(label)], current.device)
    if model is None:
        column.error(f"**Could not open this checkpoint.** {views.plain(problem)}")
    else:
        models.append(model)
if len(models) < 2 + (chosen[2] != NONE):
    st.stop()
left, right = models[:2]
SIDES = ("left", "right", "third")

same_dim = len({m.latent_dim for m in models}) == 1
same_data = len({m.dataset_name for m in models}) == 1
if not same_dim or not same_data:
    st.warning(
        "These models differ in latent size or data, so the comparison is not like for like"
        + ("" if same_dim else "; a shared code needs equal latent sizes")
        + "."
    )

# One scale for all maps, so a tighter or wider spread of codes is visible at a glance.
shared_extent = max(views.map_extent(m, views.model_key(m)) for m in models) if same_dim else None
map_columns = st.columns(len(models))
for column, model, side in zip(map_columns, models, SIDES, strict=False):
    with column:
        title = f"{model.kind.upper()}, {model.prior_name} prior"
        if model.atlas is None:
            views.no_atlas_message(model)
        else:
            figure, _ = views.map_figure(
                model, views.model_key(model), "pca", height=420, title=title, extent=shared_extent
            )
            st.plotly_chart(
                figure,
                key=f"compare_map_{side}",
                width="stretch",
                config={"toImageButtonOptions": {"filename": f"{model.kind}-map", "scale": 2}},
            )

if same_dim:
    group = "".join(views.scoped(m, "") for m in models)  # fresh controls per group: their range depends on it
    code_key = f"compare_code{group}"
    st.session_state.setdefault(code_key, [0.0] * left.latent_dim)
    label_key = f"compare_label{group}"
    st.session_state.setdefault(label_key, 0)

    def released(state: latent_pad.PadState) -> None:
        """The pad was let go: its code becomes the page's (the fallback sliders start from it too)."""
        if state.code is not None and len(state.code) == left.latent_dim:
            st.session_state[code_key] = [float(v) for v in state.code]
            for i, value in enumerate(state.code):
                st.session_state[f"compare_z{i + 1}{group}"] = float(value)
        st.session_state[label_key] = state.label

    @st.fragment
    def shared_code() -> None:
        """Only this part reruns when the pad is released or a slider moves."""
        st.subheader(f"The same code, {len(models)} decoders")
        server_side = latent_pad.server_side_toggle()
        state = None
        if not server_side:
            state = latent_pad.latent_pad(
                models,
                key=f"compare_pad{group}",
                code=st.session_state[code_key],
                label=st.session_state[label_key],
                captions=[f"{side}: {m.kind.upper()} ({m.name})" for m, side in zip(models, SIDES, strict=False)],
                on_release=released,
                digit_px=168,
            )
        if state is not None and state.ready:
            return
        if not server_side:
            st.caption(latent_pad.NOTICE)
        shared_sliders()

    def shared_sliders() -> None:
        """Today's controls: sliders decoded on the server at every change."""
        limit = float(max(views.slider_limits(m).max() for m in models))
        slider_column, *image_columns = st.columns([2] + [1] * len(models))
        values = []
        for i in range(left.latent_dim):
            key = f"compare_z{i + 1}{group}"
            st.session_state.setdefault(key, float(np.clip(st.session_state[code_key][i], -limit, limit)))
            values.append(slider_column.slider(f"z{i + 1}", -limit, limit, step=round(limit / 50, 3), key=key))
        code = np.array(values, dtype=np.float32)
        st.session_state[code_key] = [float(v) for v in code]
        for n, (column, model) in enumerate(zip(image_columns, models, strict=True)):
            with column:
                image = views.decode(model, code, views.class_picker(model, key=f"compare_class_{n}"))[0]
                png = figures.digit_png(image, 192)
                st.image(
                    png,
                    caption=f"{SIDES[n]}: {views.plain(model.kind.upper())}",
                    width=192,
                    output_format="PNG",
                )
                views.download_png(png, f"{model.name}-decode.png", key=f"download_compare_{n}")

    shared_code()

st.subheader("Metrics")
names = sorted(set().union(*(m.metrics for m in models)))
if names:
    table = {"metric": names}
    for model, side in zip(models, SIDES, strict=False):
        table[f"{side}: {model.kind.upper()}"] = [round(model.metrics.get(n, float("nan")), 4) for n in names]
    st.dataframe(table, hide_index=True)
else:
    st.caption("None of these checkpoints stores metrics.")
