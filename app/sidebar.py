"""The shared sidebar: pick a checkpoint and a device; load models once for all sessions; page guards."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from aae_core.checkpoint import CheckpointError
from aae_core.devices import DeviceError, available_devices
from aae_core.inference import LatentModel, load_model
from app.catalog import (
    CheckpointFile,
    FolderRefused,
    checkpoint_dirs,
    find_checkpoints,
    pick,
    plain,
    user_folder,
    user_folder_roots,
    without_server_paths,
)

DEVICE_NAMES = {"cpu": "CPU", "cuda": "GPU (CUDA)"}
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Selection:
    """What the sidebar resolved this run: the listed files, the chosen one, its model or why it failed."""

    files: tuple[CheckpointFile, ...]
    folders: tuple[str, ...]  # the listed folders' names (never their paths on the server)
    chosen: CheckpointFile | None = None
    device: str = "cpu"
    model: LatentModel | None = None
    problem: str | None = None


@st.cache_resource(show_spinner="Loading the model…", max_entries=32)
def cached_model(path: str, device: str, modified: float) -> LatentModel:
    """One read-only copy per (file, device, file version), shared by every session; never mutate it."""
    del modified  # only part of the cache key: a rewritten file gets a fresh entry
    return load_model(path, device=device)


def open_model(entry: CheckpointFile, device: str) -> tuple[LatentModel | None, str | None]:
    """The loaded model, or None and a one-line reason fit to show a user (naming the file, not its folder).

    The reason is plain text, not Markdown: it may quote the checkpoint's own metadata.
    """
    try:
        return cached_model(str(entry.path), device, entry.modified), None
    except (CheckpointError, DeviceError) as err:
        logger.info("could not open %s on %s: %s", entry.path, device, err)  # said to the user, in full here
        return None, without_server_paths(str(err), entry.path)
    except OSError as err:
        logger.warning("could not read %s", entry.path, exc_info=True)
        return None, f"{entry.path.name} could not be read ({err.strerror or type(err).__name__})"
    except Exception as err:  # noqa: BLE001 - a user-supplied file must never crash the page
        logger.warning("could not open %s", entry.path, exc_info=True)
        return None, f"{entry.path.name}: {type(err).__name__}: {without_server_paths(str(err), entry.path)}"


def _describe(model: LatentModel) -> str:
    """Two lines on what the chosen model is: kind, prior, latent size, classes; data, image size, epochs."""
    h, w = model.image_shape
    conditional = f" · {model.num_classes} classes" if model.num_classes else ""
    trained = f" · {model.epochs} epochs" if model.epochs is not None else ""
    return (
        f"**{plain(model.kind.upper())}** · {plain(model.prior_name)} prior · "
        f"{model.latent_dim}-D latent{conditional}  \n{plain(model.dataset_name)} {h}×{w}{trained}"
    )


def render_sidebar() -> Selection:
    """Draw the model and device pickers and load the chosen model; the pages read the result via `selection()`."""
    sidebar = st.sidebar
    sidebar.header("Model")
    roots = user_folder_roots()
    folders = checkpoint_dirs()
    found = find_checkpoints(folders)
    extra, folder_problem = _user_folder(roots)
    if extra is not None and extra not in {f.resolve() for f in folders}:
        folders.append(extra)
        found += find_checkpoints([extra], within=roots)  # symlinks out of the allowed folders are not listed
    files = tuple(found)
    folder_names = tuple(f"{f.name}/" for f in folders)
    if not files:
        sidebar.info("No checkpoints yet.")
        device = _device_picker()
        _folder_input(roots, folder_problem)
        return _remember(Selection(files, folder_names, device=device))

    labels = [f.label for f in files]
    pending = st.session_state.pop("_pick_next_run", None)  # a model just trained in the app
    wanted = pending or st.query_params.get("model")
    if pending or st.session_state.get("model_label") not in labels:
        # First visit, a link with ?model=NAME, a new model, or the file vanished: pick by name, else the first.
        st.session_state["model_label"] = pick(files, wanted).label
    label = sidebar.selectbox("Checkpoint", labels, key="model_label")
    chosen = files[labels.index(label)]
    device = _device_picker()
    model, problem = open_model(chosen, device)
    if model is not None:
        sidebar.markdown(_describe(model))
    else:
        sidebar.error("This checkpoint could not be opened (details on the page).")
    _folder_input(roots, folder_problem)
    _credits()
    st.query_params["model"] = chosen.path.stem
    return _remember(Selection(files, folder_names, chosen, device, model, problem))


def _credits() -> None:
    st.sidebar.caption(
        "Adversarial autoencoders: Makhzani, Shlens, Jaitly, Goodfellow, Frey (2015), "
        "[arXiv:1511.05644](https://arxiv.org/abs/1511.05644)."
    )


def _user_folder(roots: list[Path]) -> tuple[Path | None, str | None]:
    """The folder the user named in the sidebar, if the server allows it, or why it is not listed."""
    text = st.session_state.get("extra_folder", "") if roots else ""
    if not text.strip():
        return None, None
    try:
        return user_folder(text, roots), None
    except FolderRefused as err:
        return None, str(err)


def _folder_input(roots: list[Path], problem: str | None) -> None:
    """The "Also look in folder" input, offered only when the operator allows folders (AAE_USER_FOLDER_ROOTS)."""
    if not roots:
        return
    shared = ", ".join(plain(f"{root.name}/") for root in roots)
    st.sidebar.text_input(
        "Also look in folder",
        key="extra_folder",
        placeholder="my-runs",
        help=f"A folder of .safetensors checkpoints inside the folders this server shares ({shared}): "
        "its path inside one of them, or its full path. Its checkpoints join the list above.",
    )
    if problem:
        st.sidebar.error(plain(problem[0].upper() + problem[1:] + "."))


def _device_picker() -> str:
    devices = available_devices()
    wanted = st.query_params.get("device", "cpu")
    if "device" not in st.session_state:
        st.session_state["device"] = wanted if wanted in devices else "cpu"
    if wanted not in devices:
        # Kept for the session: the link or bookmark that asked for it is gone after the first rerun.
        what = DEVICE_NAMES.get(wanted) or plain(repr(wanted))  # from the link: a crafted one must stay text
        st.session_state["_device_note"] = (
            f"{what} was asked for, but this machine has none that PyTorch can use: running on the CPU."
        )
    if "_device_note" in st.session_state:
        st.sidebar.warning(st.session_state["_device_note"])
    if len(devices) == 1:
        st.sidebar.caption("Device: CPU (no GPU found on this machine)")
        st.session_state["device"] = "cpu"
    else:
        st.sidebar.radio("Device", devices, key="device", format_func=DEVICE_NAMES.get, horizontal=True)
    device = st.session_state["device"]
    st.query_params["device"] = device
    return device


def _remember(selection: Selection) -> Selection:
    st.session_state["_selection"] = selection
    return selection


def selection() -> Selection:
    """What the sidebar resolved in this run (pages run after it)."""
    return st.session_state["_selection"]


def require_model() -> LatentModel:
    """The chosen model; otherwise explain why there is none (and offer to train one) and stop the page."""
    current = selection()
    if current.model is not None:
        return current.model
    if not current.files:
        from app.training_panel import first_run_panel

        first_run_panel(current.folders)
    else:
        name = plain(current.chosen.path.name) if current.chosen else "?"
        st.error(f"**Could not open {name}.** {plain(current.problem)}\n\nPick another checkpoint in the sidebar.")
    st.stop()
    raise AssertionError("unreachable: st.stop() ends the run")
