"""The Streamlit latent-space explorer. Start it with `streamlit run app/streamlit_app.py`."""
