"""Train a small model inside the app, on CPU, while its latent map takes the prior's shape.

Used by the first-run screen (no checkpoints yet) and by the "Train live" page. Every few epochs the map of the
evaluation codes is redrawn from the model being trained, so a class sees the codes move towards the prior. The
result lands in the runs folder, which the model picker lists.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from aae_core.config import ModelConfig, TrainConfig
from aae_core.kinds import KINDS
from aae_core.metrics import encode_all
from aae_core.priors import Prior, PriorError, make_prior, selectable_priors
from aae_core.trainer import train
from app import figures, latent, sketch
from app.catalog import plain, runs_dir, user_folder_roots, without_server_paths

logger = logging.getLogger(__name__)
# The mixture first: its ten blobs are the clearest picture of a prior being matched.
PRIOR_ORDER = ("mixture", *(name for name in selectable_priors() if name != "mixture"))
# The kinds a class can train live on the digits: unlabelled, one code, nothing else to set.
LIVE_KINDS = ("aae", "vae", "wae", "ae")
# The digits have 1,438 training images: at the paper's batch of 100 and rate of 2e-4, 20 epochs are 300 steps and
# no prior takes shape (swiss-roll gap 0.75-0.90 on three seeds). Smaller batches and a larger rate give each epoch
# more, larger steps: 50 epochs at 32 and 1e-3 follow the spiral (gap 0.22-0.41, mixture 0.11-0.15, gaussian
# 0.04-0.09) in about 5 s on one core (docs/PRIOR_MATCH.md, "Live training").
LIVE_BATCH_SIZE, LIVE_LR, LIVE_EPOCHS = 32, 1e-3, 50
DRAWN = "drawn"  # the prior drawn on the pad (aae_core.priors.DrawnPrior): offered where a pad is on the page
DRAWN_EXTENT = 4.0  # the pad spans z in [-4, 4]²: the mixture's and the swiss roll's range
DRAWN_POINTS = 800  # points kept from a drawing: the live map's density costs (grid cells × points) per redraw
DRAWN_BLUR = 0.3
SHAPES = ("your drawing", *sketch.PRESETS)
VAE_AND_DRAWN = (
    "**Why the VAE cannot.** The VAE's KL term needs the prior's *density* p(z), a formula it can evaluate at any "
    "code. A drawing is only a recipe for samples: pick a drawn point, add a little noise (the blur). The AAE's "
    "discriminator needs nothing more than such samples, so the AAE can be pushed onto any shape you draw; the VAE "
    "cannot use it (the same holds for the swiss roll). Choose the AAE, or another prior for the VAE."
)


def kind_title(name: str) -> str:
    return KINDS[name].title


def prior_title(name: str) -> str:
    if name == DRAWN:
        return "Drawn: the shape on the pad above"
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
    points: tuple[tuple[float, float], ...] = ()  # the drawn prior's points, in latent units
    blur: float = DRAWN_BLUR

    def make_prior(self) -> Prior:
        """The prior this request trains against (raises PriorError, with the reason, when it cannot be built)."""
        if self.prior == DRAWN:
            return make_prior(DRAWN, self.latent_dim, points=[list(p) for p in self.points], blur=self.blur)
        return make_prior(self.prior, self.latent_dim)

    def problem(self) -> str | None:
        """Why this combination cannot train, in words for the form, or None."""
        try:
            prior = self.make_prior()
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


@dataclass(frozen=True)
class DrawnShape:
    """A shape for the drawn prior: its points in latent units, the blur, and what it came from."""

    points: tuple[tuple[float, float], ...]
    blur: float
    source: str


def drawn_prior_pad(key: str) -> DrawnShape:
    """The pad to draw a prior on (or a preset shape) and its blur; returns the shape, which may be empty."""
    st.markdown("**A prior you draw.** Draw a shape, or pick one; then choose *Drawn* as the prior below.")
    pad_column, settings_column = st.columns([3, 2], gap="medium")
    with settings_column:
        shape = st.radio("Shape", SHAPES, key=f"{key}_shape", format_func=lambda name: name[:1].upper() + name[1:])
        blur = st.slider(
            "Blur",
            0.1,
            1.0,
            DRAWN_BLUR,
            step=0.05,
            key=f"{key}_blur",
            help="Each point becomes a small Gaussian cloud of this standard deviation (in latent units).",
        )
    with pad_column:
        if shape == SHAPES[0]:
            drawing = sketch.sketch_pad(
                f"{key}_pad",
                mode="points",
                extent=DRAWN_EXTENT,
                size=340,
                hint="Draw: strokes and clicks become the prior's points",
                label="Drawing pad for a prior",
            )
            strokes = drawing.strokes
        else:
            strokes = sketch.preset_strokes(shape)
            sketch.sketch_pad(
                f"{key}_pad",
                mode="points",
                extent=DRAWN_EXTENT,
                size=340,
                guide=strokes,
                readonly=f"Preset: {shape}. Pick “Your drawing” to draw your own.",
                label="Drawing pad for a prior",
            )
    points = sketch.thinned(sketch.drawing_points(strokes, DRAWN_EXTENT), DRAWN_POINTS)
    with settings_column:
        if len(points):
            st.caption(f"{len(points)} points from {len(strokes)} stroke{'s' if len(strokes) != 1 else ''}.")
        with st.popover("Why not the VAE?"):
            st.markdown(VAE_AND_DRAWN)
    return DrawnShape(tuple((round(x, 3), round(y, 3)) for x, y in points.tolist()), float(blur), shape)


def training_form(
    key: str, *, default_epochs: int = LIVE_EPOCHS, drawn: DrawnShape | None = None
) -> TrainingRequest | None:
    """The settings form; returns a request when the user presses Train and the settings can work. With `drawn`
    (the shape on a pad beside the form) the drawn prior is offered too."""
    priors = (*PRIOR_ORDER, DRAWN) if drawn is not None else PRIOR_ORDER
    with st.form(key):
        left, right = st.columns(2)
        kind = left.selectbox("Model", LIVE_KINDS, format_func=kind_title, key=f"{key}_kind")
        prior = right.selectbox("Prior", priors, format_func=prior_title, key=f"{key}_prior")
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
    if prior == DRAWN and drawn is not None:
        request = replace(request, points=drawn.points, blur=drawn.blur)
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
    prior = request.make_prior()
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
        class_names=list(digits_data().eval.classes) or None,  # the dataset's own names in the legend
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
