"""Entry point: `streamlit run app/streamlit_app.py`. The sidebar is shared; each page is a flat script."""

import sys
from pathlib import Path

# `streamlit run` puts only this folder on sys.path; the pages import `app.*` and `aae_core` from the repo root.
REPO_ROOT = str(Path(__file__).resolve().parents[1])
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import streamlit as st  # noqa: E402

st.set_page_config(page_title="AAE latent explorer", page_icon=":material/scatter_plot:", layout="wide")

latent_map = st.Page("pages_/latent_map.py", title="Latent map", icon=":material/scatter_plot:", default=True)
pages = [
    latent_map,
    st.Page("pages_/manifold.py", title="Manifold", icon=":material/grid_on:", url_path="manifold"),
    st.Page("pages_/sliders.py", title="Sliders", icon=":material/tune:", url_path="sliders"),
    st.Page("pages_/style_grid.py", title="Style × class", icon=":material/view_module:", url_path="style-class"),
    st.Page("pages_/compare.py", title="AAE vs VAE", icon=":material/compare:", url_path="aae-vs-vae"),
    st.Page("pages_/your_digit.py", title="Your digit", icon=":material/draw:", url_path="your-digit"),
    st.Page("pages_/anomaly.py", title="Anomaly scores", icon=":material/troubleshoot:", url_path="anomaly"),
    st.Page("pages_/train_live.py", title="Train live", icon=":material/model_training:", url_path="train"),
]
page = st.navigation(pages)  # drawn before the heavy imports below, so the first visitor sees the app at once
with st.sidebar:  # the browser loads Plotly's code while this first run imports PyTorch (light: no torch import)
    from app.latent_pad import preload_chart_code

    preload_chart_code()

from app import first_paint  # noqa: E402 - light (no torch), like latent_pad above

frame = None
if page is latent_map:  # drawn here on every run, so its elements keep their places
    frame = first_paint.draw_frame()
    if "torch" not in sys.modules:  # the server's first run: the codes reach the browser while PyTorch imports
        first_paint.paint_codes(frame)

# The server's first run imports PyTorch (a second or two); later runs find it loaded, and the spinner, which only
# appears after half a second, never shows.
with st.spinner("Starting the explorer (loading PyTorch)…"):
    from app import training_panel, views  # noqa: F401 - what the pages import, loaded before the freeze below
    from app.sidebar import render_sidebar
    from app.tuning import freeze_imported_objects, limit_torch_threads

freeze_imported_objects()
limit_torch_threads()
try:
    render_sidebar()
    first_paint.hand_over(frame)
    page.run()
finally:  # also when the run is stopped or rerun: what a training run imported is frozen at once
    first_paint.hand_over(None)
    freeze_imported_objects()
