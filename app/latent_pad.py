"""The latent pad: a Streamlit component (API v2) that runs a model's decoder in the browser, so the digit follows
the pointer every frame while the server stays out of the loop.

What travels: each decoder's weights once per model per browser session (8-bit rows and a scale per row when a weight
matrix is exactly that, as in an `export --int8` file; fp16 when every weight is exactly an fp16 number, as in the
other shipped slim checkpoints; else fp32; base64 of the little-endian bytes), together with a subset of
the atlas and prior samples to draw behind the pad. The browser keeps them in a tab-wide cache keyed by a content
fingerprint and reports, through the component's state, which fingerprints it holds; Python then leaves the weights
out of later runs. The chosen code comes back only when the pointer is released (or a key run ends), so Python does
not rerun during a drag.

Why plain JS (`latent_pad.js`, ~400 lines) and no library: the decoder is a Linear/ReLU stack ending in a sigmoid,
three matrix-vector products on Float32Arrays; a tensor library (TensorFlow.js, ONNX Runtime Web) would add megabytes
and an npm build for less than a page of loops, and the app serves nothing from a CDN. The canvas, pointer events and
`performance.measure` are all in the browser already.

Until the browser has said it is ready (or when the student switches to server-side sliders, or the URL says
`?pad=off`), pages show their server-side controls instead; `PadState.ready` tells them which.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

if TYPE_CHECKING:  # PyTorch and the app's views load on first use: `preload_chart_code` runs before them
    from aae_core.inference import LatentModel
    from app.latent import Projection

HERE = Path(__file__).resolve().parent
HELD_KEY = "_latent_pad_held"  # fingerprints the browser reported holding (the browser is the truth)
READY_KEY = "_latent_pad_ready"  # the browser has decoded once in this session
SERVER_KEY = "_latent_pad_server_side"  # the student's choice, kept across pages (a widget's key would not be)
ATLAS_POINTS = 2000
PRIOR_POINTS = 800
NOTICE = "The in-browser decoder has not started (yet): the server decodes these controls."
ACTIVATIONS = {"ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Identity": "identity", "ELU": "elu"}


class UnsupportedDecoder(ValueError):
    """The decoder is not a Linear/activation stack that `latent_pad.js` reproduces exactly."""


@dataclass(frozen=True)
class PadState:
    """What the browser last sent back: whether it decodes, and the code, class and view it released."""

    ready: bool
    code: np.ndarray | None = None
    label: int = 0
    view: dict[str, float] | None = None


@functools.cache
def _component() -> Callable[..., Any]:
    """Registered on first use (reading the JS and CSS then), never at import."""
    return st.components.v2.component(
        "latent_pad",
        html="",
        css=(HERE / "latent_pad.css").read_text(encoding="utf-8"),
        js=(HERE / "latent_pad.js").read_text(encoding="utf-8"),
    )


PRELOAD_JS = """
export default function () { // fetch and compile Plotly's chunk while the server still imports PyTorch
  if (window.__plotlyPreloaded) return;
  window.__plotlyPreloaded = true;
  const main = document.querySelector('script[type=module][src*="static/js/index."]');
  if (main && CHUNK) import(new URL(CHUNK, main.src).href).catch(() => {}); // the app would load it later anyway
}
"""


def preload_chart_code() -> None:
    """An invisible component that has the browser load Plotly's code (4.7 MB, the first map's largest wait) at once.

    Streamlit fetches it only when the first chart arrives, after the script has imported PyTorch and built the map;
    mounted before those, the fetch and compile overlap them. Light: no PyTorch, no model.
    """
    _preload_component()(key="latent_pad_preload", height=0)


@functools.cache
def _preload_component() -> Callable[..., Any]:
    static = Path(st.__file__).parent / "static" / "static" / "js"
    chunk = next((p.name for p in sorted(static.glob("PlotlyChart.*.js"))), "")  # its name changes per version
    return st.components.v2.component("latent_pad_preload", js=f"const CHUNK = {chunk!r};\n" + PRELOAD_JS)


def decoder_layers(model: LatentModel) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(weight (out, in), bias (out,), activation) per Linear of the decoder, the sigmoid of `decode` last.

    Raises UnsupportedDecoder unless the model decodes as `AutoEncoder.decode` does (sigmoid of an nn.Sequential of
    Linear and element-wise activations, a class one-hot after z), which is what the browser reproduces.
    """
    from torch import nn

    from aae_core.models import AutoEncoder

    network = model.model
    if not (isinstance(network, AutoEncoder) and type(network).decode is AutoEncoder.decode):
        raise UnsupportedDecoder(f"the {model.kind} model decodes in its own way")
    if type(network).decode_logits is not AutoEncoder.decode_logits or not isinstance(network.decoder, nn.Sequential):
        raise UnsupportedDecoder(f"the {model.kind} model's decoder is not a plain MLP")
    layers: list[list[Any]] = []
    for module in network.decoder:
        if isinstance(module, nn.Linear):
            weight = module.weight.detach().float().cpu().numpy()
            bias = module.bias if module.bias is not None else None
            bias = np.zeros(weight.shape[0], np.float32) if bias is None else bias.detach().float().cpu().numpy()
            layers.append([weight, bias, "identity"])
        elif type(module).__name__ in ACTIVATIONS and layers and layers[-1][2] == "identity":
            layers[-1][2] = ACTIVATIONS[type(module).__name__]
        else:
            raise UnsupportedDecoder(f"a {type(module).__name__} layer in the decoder")
    if not layers or layers[-1][2] != "identity":
        raise UnsupportedDecoder("the decoder does not end in a linear layer")
    layers[-1][2] = "sigmoid"
    return [(w, b, act) for w, b, act in layers]


def as_int8(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """`weight` (out, in) as int8 rows and a float32 scale per row, when their products are exactly its values (the
    weights of an `export --int8` file), else None."""
    import torch

    from aae_core.checkpoint import quantize

    original = torch.from_numpy(np.ascontiguousarray(weight, np.float32))
    values, scale = quantize(original)
    if not torch.equal(values.float() * scale[:, None], original):
        return None
    return values.numpy(), scale.numpy()


def _b64(array: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).astype(dtype).tobytes()).decode("ascii")


@st.cache_resource(max_entries=32, show_spinner=False)
def _cached_payload(_model: LatentModel, key: tuple) -> dict[str, Any]:
    """`decoder_payload`, built once per model and server (~30 ms and 2 MB of text for a shipped model)."""
    del key  # the cache key of _model
    return decoder_payload(_model)


def decoder_payload(model: LatentModel) -> dict[str, Any]:
    """The decoder (and the atlas and prior samples the pad draws behind it) as JSON for the browser."""
    from app import latent

    _model = model
    layers = decoder_layers(_model)
    # 8 bits only when every matrix is exactly 8-bit (the browser then computes the very fp32 values the server holds)
    eight_bit = [as_int8(w) for w, _, _ in layers]
    if not all(eight_bit):
        eight_bit = [None] * len(layers)
    floats = [b for _, b, _ in layers] + [w for (w, _, _), q in zip(layers, eight_bit, strict=True) if q is None]
    exact_half = all(np.array_equal(a.astype(np.float16).astype(np.float32), a) for a in floats)
    dtype = "<f2" if exact_half else "<f4"  # fp16 only when it loses nothing
    digest = hashlib.sha256(repr((_model.latent_dim, _model.num_classes, _model.image_shape)).encode())
    encoded = []
    for (weight, bias, act), packed in zip(layers, eight_bit, strict=True):
        layer = {"rows": int(weight.shape[0]), "cols": int(weight.shape[1]), "act": act, "b": _b64(bias, dtype)}
        if packed is None:
            layer["w"] = _b64(weight, dtype)
        else:
            layer["w"], layer["scale"] = _b64(packed[0], "i1"), _b64(packed[1], "<f4")
        digest.update(f"{weight.shape}{act}".encode() + layer["w"].encode() + layer.get("scale", "").encode())
        digest.update(layer["b"].encode())
        encoded.append(layer)
    atlas = None
    if _model.atlas is not None:
        shown = latent.display_subset(len(_model.atlas.codes), ATLAS_POINTS)
        labels = np.asarray(_model.atlas.labels[shown]) % 256
        atlas = {"codes": _b64(_model.atlas.codes[shown], "<f4"), "labels": _b64(labels, "u1")}
    samples = latent.prior_samples(_model.prior, PRIOR_POINTS)
    return {
        "fingerprint": digest.hexdigest()[:16],
        "dtype": "f16" if exact_half else "f32",
        "latent_dim": _model.latent_dim,
        "num_classes": _model.num_classes,
        "shape": list(_model.image_shape),
        "layers": encoded,
        "atlas": atlas,
        "prior": None if samples is None else _b64(samples, "<f4"),
    }


def payload_for(model: LatentModel) -> dict[str, Any] | None:
    """The model's browser decoder, or None when the browser cannot reproduce it (the page keeps server controls)."""
    from app import views

    try:
        return _cached_payload(model, views.model_key(model))
    except UnsupportedDecoder:
        return None


def supported(models: Sequence[LatentModel]) -> bool:
    """Whether the browser can run every one of these decoders."""
    return all(payload_for(m) is not None for m in models)


def browser_ready() -> bool:
    """Whether this session's browser has reported a working pad (so pages may drop their server controls)."""
    return bool(st.session_state.get(READY_KEY))


def server_side_toggle(label: str = "Use server-side sliders") -> bool:
    """A toggle (remembered across pages; `?pad=off` in the URL turns it on) for the server-side controls."""
    if SERVER_KEY not in st.session_state:
        st.session_state[SERVER_KEY] = st.query_params.get("pad") == "off"
    widget = SERVER_KEY + "_toggle"
    st.session_state[widget] = st.session_state[SERVER_KEY]

    def remember() -> None:
        st.session_state[SERVER_KEY] = st.session_state[widget]

    return st.toggle(label, key=widget, on_change=remember, help="Decode on the server instead of in this browser")


def _changed(key: str, on_release: Callable[[PadState], None] | None) -> None:
    """The browser sent a new state (a callback: runs before the page script)."""
    value = (st.session_state.get(key) or {}).get("pad")
    if not isinstance(value, dict):
        return
    held = value.get("held")
    if isinstance(held, list):
        st.session_state[HELD_KEY] = {str(f) for f in held}
    if value.get("ready") is True:
        st.session_state[READY_KEY] = True
    seq = value.get("seq")
    if isinstance(seq, int) and seq != st.session_state.get(f"_seq:{key}", 0):
        st.session_state[f"_seq:{key}"] = seq
        if on_release is not None:
            on_release(_as_state(value))


def _as_state(value: dict[str, Any]) -> PadState:
    code = value.get("code")
    try:
        array = np.asarray(code, dtype=np.float64) if isinstance(code, list) and code else None
    except (TypeError, ValueError):
        array = None
    if array is not None and (array.ndim != 1 or not np.isfinite(array).all()):
        array = None
    label = value.get("label")
    view = value.get("view")
    return PadState(
        ready=bool(st.session_state.get(READY_KEY)),
        code=array,
        label=int(label) if isinstance(label, int) else 0,
        view=view if isinstance(view, dict) else None,
    )


def latent_pad(
    models: Sequence[LatentModel],
    *,
    key: str,
    mode: str = "pad",
    code: Sequence[float] | None = None,
    label: int = 0,
    extent: float | None = None,
    view: dict[str, float] | None = None,
    dims: tuple[int, int] = (0, 1),
    base: Sequence[float] | None = None,
    projection: Projection | None = None,
    captions: Sequence[str] | None = None,
    on_release: Callable[[PadState], None] | None = None,
    digit_px: int = 196,
) -> PadState | None:
    """Mount the pad for `models` (same latent size; one code decoded by each) and return what the browser sent.

    `mode` "pad": drag a code over [-extent, extent]² (sliders in the browser for dimensions above 2, a class picker
    for conditional models); "grid": the n×n decodes of `view` = {low, high, resolution} over `dims`, the other
    dimensions at `base`; "map": decode under the pointer over a 2-D `projection`'s plane. `on_release` gets a
    released state before the page script runs. None when the browser cannot run these decoders.
    """
    from app import views

    payloads = [payload_for(m) for m in models]
    if any(p is None for p in payloads):
        st.caption("This model's decoder does not run in the browser; the server decodes.")
        return None
    first = models[0]
    # Weights go out only once the browser has said what it holds (its first report, a run later): the first page
    # a visitor opens then draws without waiting for them, and a browser that has them never gets them again.
    held = st.session_state.get(HELD_KEY)
    spoken = held is not None
    held = held or set()
    limits = np.resize(np.asarray(views.slider_limits(first), dtype=float), first.latent_dim)
    for other in models[1:]:
        limits = np.maximum(limits, np.resize(views.slider_limits(other), first.latent_dim))
    conditional = next((m for m in models if m.num_classes), None)
    data = {
        "mode": mode,
        "models": [
            {
                "fingerprint": p["fingerprint"],
                "name": m.name,
                "caption": captions[n] if captions else m.name,
                **({"payload": p} if spoken and p["fingerprint"] not in held else {}),
            }
            for n, (m, p) in enumerate(zip(models, payloads, strict=True))
        ],
        "latent_dim": first.latent_dim,
        "limits": [float(v) for v in limits],
        "class_names": [str(c) for c in conditional.class_names[: conditional.num_classes]] if conditional else [],
        "code": [float(v) for v in (code if code is not None else np.zeros(first.latent_dim))],
        "label": int(label or 0),
        "extent": float(extent if extent is not None else max(limits[: min(2, len(limits))])),
        "view": view,
        "dims": [int(d) for d in dims],
        "base": [float(v) for v in (base if base is not None else np.zeros(first.latent_dim))],
        "projection": None
        if projection is None or projection.components is None
        else {"mean": projection.mean.tolist(), "components": projection.components.tolist()},
        "held": sorted(held),
        "ready": bool(st.session_state.get(READY_KEY)),
        "seq": int(st.session_state.get(f"_seq:{key}", 0)),
        "digit_px": digit_px,
    }
    result = _component()(key=key, data=data, on_pad_change=functools.partial(_changed, key, on_release))
    value = result.get("pad") if hasattr(result, "get") else None
    return _as_state(value) if isinstance(value, dict) else PadState(ready=bool(st.session_state.get(READY_KEY)))
