"""Anomaly scores: how unusual a model finds each digit, and how well that spots classes it never saw."""

import numpy as np
import streamlit as st
import torch

from aae_core.anomaly import SCORES, roc_auc
from aae_core.inference import LatentModel
from app import figures, views
from app.digit_panel import digit_input_panel

EXPLANATION = (
    "A model trained **without some classes** (`train --exclude-classes 9`: no 9s at all) has never seen them. "
    "Shown one, does it notice? Each score below is *higher for more unusual images*:\n\n"
    "- **reconstruction error**: how badly the autoencoder draws the image back (every model has it);\n"
    "- **−log p(z)**: how unlikely the prior finds the image's code (priors with a density);\n"
    "- **−logit D(z)**: how sure the AAE's discriminator is that the code is *not* a prior sample (adversarial "
    "models only).\n\n"
    "The histograms show each score on the test images of the known classes and of the held-out ones; the "
    "**ROC AUC** is the chance that a held-out image scores above a known one (1: always, 0.5: a coin toss). "
    "Draw or upload a digit below to see where it falls.\n\n"
    "- **Try:** draw a 9 and a 4 on the model without 9s; compare the scores of an AE, a VAE and an AAE trained on "
    "the same split (docs/ANOMALY.md has the table)."
)

model = views.page_frame(
    "Anomaly scores",
    "Trained without some classes: does the model notice them? Score histograms, ROC AUCs, and your digit.",
    EXPLANATION,
)


def class_list(current: LatentModel, classes: tuple[int, ...]) -> str:
    names = current.class_names
    return ", ".join(views.plain(names[c]) if c < len(names) else str(c) for c in classes)


held_out = model.held_out_classes
stored = {key: model.atlas_anomaly_scores[key] for key in SCORES if key in model.atlas_anomaly_scores}
if not held_out or not stored or model.atlas is None:
    st.info(
        "This model was trained on every class, so nothing was held out to score. Pick a model trained with "
        "`--exclude-classes` in the sidebar (the shipped **aae-2d-no9** saw no 9s), or train one: "
        "`python -m aae_core train --model aae --dataset mnist --data-dir DIR --exclude-classes 9`."
    )
    st.stop()

labels = model.atlas.labels
is_held_out = np.isin(labels, held_out)
held_out_name = f"held out: {class_list(model, held_out)}"
st.markdown(
    f"**{model.name}** was trained without **{class_list(model, held_out)}**. Its test set has "
    f"{int((~is_held_out).sum()):,} images of the known classes and {int(is_held_out.sum()):,} held-out ones."
)

rows = []
for cls in held_out:
    members = labels == cls
    if members.any():
        aucs = {SCORES[key]: roc_auc(values[members], values[~is_held_out]) for key, values in stored.items()}
        rows.append({"held-out class": class_list(model, (cls,)), **aucs})
if len(held_out) > 1:
    aucs = {SCORES[key]: roc_auc(values[is_held_out], values[~is_held_out]) for key, values in stored.items()}
    rows.append({"held-out class": "all held out", **aucs})
st.markdown("**ROC AUC** of each score (held-out against known test images):")
st.dataframe(
    rows, hide_index=True, column_config={SCORES[k]: st.column_config.NumberColumn(format="%.3f") for k in stored}
)

score = st.radio("Score to plot", list(stored), format_func=SCORES.get, horizontal=True, key="anomaly_score")
plot_slot = st.empty()  # filled below, once your digit's score (if any) is known

st.subheader("Your digit")
pixels = digit_input_panel(model, "anomaly", pad_hint="Draw a digit to score")
yours = None
if pixels is not None:
    your_scores = model.anomaly_scores(torch.from_numpy(pixels[None]))
    yours = float(your_scores[score][0])
    known = stored[score][~is_held_out]
    share = float((known < yours).mean())
    st.markdown(f"Your digit's {SCORES[score]}: **{yours:.3g}**, higher than **{share:.0%}** of the known test digits.")

figure = figures.score_histograms(
    stored[score][~is_held_out],
    stored[score][is_held_out],
    score_title=SCORES[score],
    held_out_name=held_out_name,
    yours=yours,
)
plot_slot.plotly_chart(figure, key="anomaly_histograms", width="stretch")
