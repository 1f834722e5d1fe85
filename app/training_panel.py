"""Train a small model inside the app, on CPU, while its latent map takes the prior's shape.

Used by the first-run screen (no checkpoints yet) and by the "Train live" page. Every few epochs the map of the
evaluation codes is redrawn from the model being trained, so a class sees the codes move towards the prior. The
result lands in the runs folder, which the model picker lists.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from aae_core.config import ModelConfig, TrainConfig
from aae_core.kinds import KINDS
from aae_core.metrics import encode_all
from aae_core.priors import Prior, PriorError, make_prior, selectable_priors
from aae_core.trainer import train
from app import figures, latent
from app.catalog import plain, runs_dir, user_folder_roots, without_server_paths

logger = logging.getLogger(__name__)
# The mixture first: its ten blobs are the clearest picture of a prior being matched.
PRIOR_ORDER = ("mixture", *(name for name in selectable_priors() if name != "mixture"))
# The kinds a class can train live on the digits: unlabelled, one code, nothing else to set.
LIVE_KINDS = ("aae", "vae", "ae")
# The digits have 1,438 training images: at the paper's batch of 100 and rate of 2e-4, 20 epochs are 300 steps and
# no prior takes shape (swiss-roll gap 0.75-0.90 on three seeds). Smaller batches and a larger rate give each epoch
# more, larger steps: 50 epochs at 32 and 1e-3 follow the spiral (gap 0.22-0.41, mixture 0.11-0.15, gaussian
# 0.04-0.09) in about 5 s on one core (docs/PRIOR_MATCH.md, "Live training").
LIVE_BATCH_SIZE, LIVE_LR, LIVE_EPOCHS = 32, 1e-3, 50


def kind_title(name: str) -> str:
    return KINDS[name].title


def prior_title(name: str) -> str:
    return make_prior(name, 2).title.capitalize()


def _sentence(text: str) -> str:
    return f"{text[0].upper()}{text[1:]}."


@dataclass(frozen=True)
class TrainingRequest:
    kind: str = "aae"
    prior: str = "mixture"
    latent_dim: int = 2
    epochs: int = LIVE_EPOCHS
    hidden: int = 256
    seed: int = 0
    batch_size: int = LIVE_BATCH_SIZE
    lr: float = LIVE_LR

    def problem(self) -> str | None:
        """Why this combination cannot train, in words for the form, or None."""
        try:
            prior = make_prior(self.prior, self.latent_dim)
        except PriorError as err:
            return _sentence(str(err))
        config = ModelConfig(kind=self.kind, input_dim=64, latent_dim=self.latent_dim, hidden_dims=(8,))
        problem = KINDS[self.kind].prior_problem(config, prior)
        return _sentence(problem) if problem else None

    def configs(self, input_dim: int) -> tuple[ModelConfig, TrainConfig]:
        """The model and training settings of this request, for images of `input_dim` pixels."""
        model_config = ModelConfig(
            kind=self.kind,
            input_dim=input_dim,
            latent_dim=self.latent_dim,
            hidden_dims=(self.hidden,) * 2,
            disc_hidden_dims=(self.hidden,) * 2,
        )
        rates = {"lr": self.lr, "disc_lr": self.lr, "gen_lr": self.lr}
        return model_config, TrainConfig(epochs=self.epochs, seed=self.seed, batch_size=self.batch_size, **rates)

    def file_name(self) -> str:
        return f"{self.kind}-{self.prior}-{self.latent_dim}d-digits-{time.strftime('%Y%m%d-%H%M%S')}.safetensors"


@st.cache_resource(show_spinner="Loading the digits…")
def digits_data():
    """scikit-learn's 8×8 digits (ships offline), loaded once for all sessions; read-only."""
    from aae_core.data import load_dataset

    return load_dataset("digits")


def training_form(key: str, *, default_epochs: int = LIVE_EPOCHS) -> TrainingRequest | None:
    """The settings form; returns a request when the user presses Train and the settings can work."""
    with st.form(key):
        left, right = st.columns(2)
        kind = left.selectbox("Model", LIVE_KINDS, format_func=kind_title, key=f"{key}_kind")
        prior = right.selectbox("Prior", PRIOR_ORDER, format_func=prior_title, key=f"{key}_prior")
        latent_dim = left.number_input("Latent size", min_value=1, max_value=16, value=2, key=f"{key}_dim")
        epochs = right.slider(
            "Epochs",
            5,
            100,
            default_epochs,
            step=5,
            key=f"{key}_epochs",
            help="About a tenth of a second per epoch on one CPU core with 256 hidden units and batches of 32.",
        )
        hidden = left.select_slider("Hidden units per layer", [64, 128, 256, 512], value=256, key=f"{key}_hidden")
        seed = right.number_input("Seed", min_value=0, max_value=10_000, value=0, key=f"{key}_seed")
        batch_size = left.select_slider(
            "Batch size",
            [16, 32, 64, 100],
            value=LIVE_BATCH_SIZE,
            key=f"{key}_batch",
            help="Images per step. The digits are few, so smaller batches than the paper's 100 give more steps.",
        )
        lr = right.select_slider(
            "Learning rate",
            [2e-4, 5e-4, 1e-3, 2e-3],
            value=LIVE_LR,
            format_func=lambda rate: f"{rate:g}",
            key=f"{key}_lr",
            help="Adam's rate for every network. The paper's 2e-4 needs many more steps than the digits give.",
        )
        pressed = st.form_submit_button("Train on the digits", type="primary", icon=":material/model_training:")
    if not pressed:
        return None
    request = TrainingRequest(kind, prior, int(latent_dim), int(epochs), int(hidden), int(seed), int(batch_size), lr)
    problem = request.problem()
    if problem:
        st.error(plain(problem))
        return None
    return request


def run_training(request: TrainingRequest, *, updates: int = 8) -> Path | None:
    """Train with a progress bar and a live latent map; returns the checkpoint path (None if it failed)."""
    data = digits_data()
    out = runs_dir() / request.file_name()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        logger.warning("cannot create the runs folder %s", out.parent, exc_info=True)
        reason = plain(err.strerror or type(err).__name__)
        folder = plain(out.parent.name)
        st.error(f"Cannot write to the runs folder {folder}/ ({reason}). Set AAE_RUNS_DIR to a writable folder.")
        return None
    model_config, train_config = request.configs(data.train.images.shape[1])
    prior = make_prior(request.prior, request.latent_dim)
    progress = st.progress(0.0, text="Starting…")
    map_column, discriminator_column = st.columns(2)
    live_map = map_column.empty()
    live_discriminator, discriminator_note = discriminator_column.empty(), discriminator_column.empty()
    losses = st.empty()

    def on_log(entry: dict) -> None:
        progress.progress(min(1.0, entry["epoch"] / request.epochs), text=f"Epoch {entry['epoch']} of {request.epochs}")
        shown = {k: round(v, 3) for k, v in entry.items() if k not in ("epoch", "step") and isinstance(v, float)}
        losses.caption("Losses this epoch: " + ", ".join(f"{k} {v}" for k, v in shown.items()))

    every = max(1, -(-request.epochs // updates))
    extent = 0.0  # the view only widens, so the map does not jump about between redraws

    def on_epoch(state) -> None:
        """After each epoch, given train()'s TrainingState: redraw every `every` epochs and after the last."""
        nonlocal extent
        if state.epoch % every and state.epoch < request.epochs:
            return
        with torch.no_grad():  # noise-free codes: no sampling, so the training run's random numbers are untouched
            codes = encode_all(state.model, data.eval.images).cpu().numpy()
        title = f"Latent codes after epoch {state.epoch}"
        extent = _draw_live_map(live_map, codes, data.eval.labels.numpy(), prior, title, extent)
        if hasattr(state.model, "discriminate") and request.latent_dim == 2:
            # D only reads its weights: no random numbers drawn, so the run is the same with or without this view.
            grid = latent.discriminator_grid(
                lambda z: torch.sigmoid(state.model.discriminate(z)), (-extent, extent), (-extent, extent), 60
            )
            samples = latent.prior_samples(prior, 1000)
            live_discriminator.plotly_chart(
                figures.discriminator_figure(grid, codes, samples, height=460), width="stretch"
            )
            discriminator_note.caption(
                f"The discriminator after epoch {state.epoch}: D(z), its probability that a code is a prior sample "
                "(blue) rather than the encoder's (red). The encoder is pushed towards blue."
            )

    started = time.perf_counter()
    try:
        train(
            model_config,
            train_config,
            prior,
            data,
            out,
            device="cpu",
            progress=False,
            on_log=on_log,
            on_epoch=on_epoch,
        )
    except Exception as err:  # noqa: BLE001 - report any training failure as a message, keep the app alive
        logger.warning("live training of %s stopped", out, exc_info=True)
        st.error(f"Training stopped: {type(err).__name__}: {plain(without_server_paths(str(err), out))}")
        return None
    progress.progress(1.0, text=f"Done in {time.perf_counter() - started:.0f} s")
    return out


def _draw_live_map(slot, codes: np.ndarray, labels: np.ndarray, prior: Prior, title: str, extent: float) -> float:
    """Redraw the map of the evaluation codes over the prior; returns the half-width used (at least `extent`)."""
    view = latent.project_codes(codes)
    samples = latent.prior_samples(prior, 1500)
    prior_points = None if samples is None else view.apply(samples)
    extent = max(extent, latent.symmetric_extent(view.points, prior_points))
    density = latent.prior_density_grid(prior, (-extent, extent), (-extent, extent), 80)
    figure = figures.latent_map_figure(
        view.points,
        labels,
        prior_density=density,
        prior_points=None if density is not None else prior_points,
        axis_titles=view.axis_titles,
        extent=extent,
        title=title,
        height=460,
    )
    slot.plotly_chart(figure, width="stretch")
    return extent


def train_and_open(request: TrainingRequest) -> None:
    """Train, then select the new model in the sidebar and rerun so every page shows it."""
    path = run_training(request)
    if path is None:
        return
    st.session_state["_pick_next_run"] = path.stem  # the sidebar selects it before drawing its picker
    st.session_state["_just_trained"] = path.name
    st.rerun()


def just_trained_note() -> None:
    """After a rerun that followed training: say where the model went."""
    name = st.session_state.pop("_just_trained", None)
    if name:
        st.success(f"Trained and saved as {plain(runs_dir().name + '/' + name)}; it is now selected in the sidebar.")


def first_run_panel(folders: tuple[str, ...]) -> None:
    """What a new user sees before any checkpoint exists: where we looked, and a one-click small model."""
    # Folder names (not paths) from the operator's settings, as code spans.
    st.warning("**No checkpoints found.** Looked in: " + ", ".join(f"`{f}`" for f in folders))
    st.markdown(
        "Train a small model on scikit-learn's 8×8 digits right here (about 5–10 s on one CPU core), "
        "or train one from the command line with `python -m aae_core train --out runs/my-model.safetensors` "
        "and reload this page." + (" You can also name another folder in the sidebar." if user_folder_roots() else "")
    )
    request = training_form("first_run")
    if request is not None:
        train_and_open(request)
