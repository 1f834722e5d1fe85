"""The latent pad (app/latent_pad.py, app/latent_pad.js): its Python side in AppTest, and its decoder in Chromium.

AppTest runs no JavaScript, so the pad's state is sent back as the browser sends it: a WidgetState whose JSON value
is what `latent_pad.js` passes to setStateValue, next to the other widgets' states.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from aae_core.checkpoint import load_checkpoint, save_checkpoint, slim_checkpoint
from aae_core.config import TrainConfig
from aae_core.inference import load_model
from aae_core.priors import make_prior
from aae_core.trainer import train
from app import latent_pad
from tests.conftest import APP_ENTRY, APP_PAGES, small_config

pytest.importorskip("streamlit")
from streamlit.proto.WidgetStates_pb2 import WidgetStates  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "checkpoints").glob("*.safetensors"))
CHROMIUM = Path("/usr/bin/chromium")
MAP, MANIFOLD, SLIDERS, COMPARE = "pages_/latent_map.py", "pages_/manifold.py", "pages_/sliders.py", "pages_/compare.py"


@pytest.fixture(scope="module")
def pad_models(tmp_path_factory, digits) -> Path:
    """A 2-D AAE, a 2-D VAE, a 4-D AAE and a conditional (supervised) AAE, small and briefly trained."""
    folder = tmp_path_factory.mktemp("pad-checkpoints")
    quick = TrainConfig(epochs=1, seed=0, snapshots_per_epoch=1, snapshot_size=50)
    runs = {
        "aae-mixture": (small_config("aae"), make_prior("mixture", 2)),
        "vae-gaussian": (small_config("vae"), make_prior("gaussian", 2)),
        "aae-4d": (small_config("aae", latent_dim=4), make_prior("gaussian", 4)),
        "supervised": (small_config("supervised", num_classes=10), make_prior("gaussian", 2)),
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name, (config, prior) in runs.items():
            train(config, quick, prior, digits, folder / f"{name}.safetensors", device="cpu", progress=False)
    finally:
        torch.set_num_threads(threads)
    return folder


@pytest.fixture
def app(pad_models, monkeypatch, tmp_path):
    monkeypatch.setenv("AAE_CHECKPOINT_DIRS", str(pad_models))
    monkeypatch.setenv("AAE_RUNS_DIR", str(tmp_path / "runs"))

    def open_page(page: str, model: str = "aae-mixture", **query: str) -> AppTest:
        at = AppTest.from_file(APP_ENTRY, default_timeout=60)
        at.query_params.update({"model": model, **query})
        at.run()
        if page != APP_PAGES[0]:
            at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return open_page


def pads(at: AppTest) -> list:
    """The latent pad elements of the page (AppTest shows components as unknown elements)."""
    found = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if getattr(proto, "component_name", None) == "latent_pad":
            found.append(node)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return found


def data_of(at: AppTest) -> dict:
    (pad,) = pads(at)
    return json.loads(pad.proto.json)


def browser_says(at: AppTest, **value) -> AppTest:
    """Rerun as after the pad's setStateValue("pad", value) in the browser."""
    (pad,) = pads(at)
    states = at._tree.get_widget_states()
    kept = [w for w in states.widgets if w.id != pad.proto.id]
    sent = WidgetStates()
    sent.widgets.extend(kept)
    state = sent.widgets.add()
    state.id = pad.proto.id
    state.json_value = json.dumps({"pad": value})
    at._run(sent)
    assert not at.exception, [e.value for e in at.exception]
    return at


def hello(at: AppTest) -> AppTest:
    """The pad's first report from a browser that holds no decoder yet."""
    return browser_says(at, ready=False, held=[], seq=0)


def ready(at: AppTest, seq: int = 0, **more) -> AppTest:
    fingerprints = [m["fingerprint"] for m in data_of(at)["models"]]
    return browser_says(at, ready=True, held=fingerprints, seq=seq, **more)


@pytest.mark.parametrize(("page", "decoders"), [(MAP, 1), (MANIFOLD, 1), (SLIDERS, 1), (COMPARE, 2)])
def test_the_pad_mounts_on_each_page_with_its_decoders(app, page, decoders):
    at = app(page)
    assert not any("payload" in m for m in data_of(at)["models"])  # the first run waits for the browser's word
    data = data_of(hello(at))
    assert len(data["models"]) == decoders
    assert data["mode"] == {MAP: "map", MANIFOLD: "grid"}.get(page, "pad")
    layers = data["models"][0]["payload"]["layers"]
    assert [(la["cols"], la["rows"]) for la in layers] == [(2, 64), (64, 64), (64, 64)]
    assert [la["act"] for la in layers] == ["relu", "relu", "sigmoid"]


def test_weights_travel_once_and_not_again_once_the_browser_holds_them(app):
    at = hello(app(SLIDERS))
    first = data_of(at)["models"][0]
    assert "payload" in first and len(json.dumps(first)) > 20_000  # 64·64 floats and more
    assert any(s.label == "z1" for s in at.slider)  # until the browser is ready, the server decodes
    ready(at)
    again = data_of(at)
    assert "payload" not in again["models"][0] and again["held"] == [first["fingerprint"]] and again["ready"]
    assert len(json.dumps(again)) < 2_000  # a rerun now sends the code, not the decoder
    assert not [s for s in at.slider if s.label == "z1"]  # the pad replaced the server-side sliders
    at.switch_page(MANIFOLD).run()
    assert "payload" not in data_of(at)["models"][0]  # another page, same browser: still not sent
    browser_says(at, ready=True, held=[], seq=0)  # a browser that lost its cache gets them again
    assert "payload" in data_of(at)["models"][0]


def test_a_released_code_comes_back_to_python_and_the_buttons_move_the_pad(app):
    at = ready(app(SLIDERS))
    browser_says(at, ready=True, held=data_of(at)["held"], seq=1, code=[1.5, -0.25], label=0)
    assert data_of(at)["code"] == [1.5, -0.25]
    assert any("z = (1.50, -0.25)" in c.value for c in at.caption)
    at.button(key="reset_code").click().run()
    assert data_of(at)["code"] == [0.0, 0.0]
    at.button(key="sample_prior").click().run()
    assert data_of(at)["code"] != [0.0, 0.0]
    at.toggle(key=latent_pad.SERVER_KEY + "_toggle").set_value(True).run()  # the server sliders take over there
    assert not pads(at) and all(s.value != 0.0 for s in at.slider if s.label.startswith("z"))


def test_the_pad_releases_a_class_and_a_code_above_two_dimensions(app):
    at = ready(app(SLIDERS, model="supervised"))
    browser_says(at, ready=True, held=data_of(at)["held"], seq=1, code=[0.5, 0.5], label=7)
    assert data_of(at)["label"] == 7 and len(data_of(at)["class_names"]) == 10
    at = ready(app(SLIDERS, model="aae-4d"))
    browser_says(at, ready=True, held=data_of(at)["held"], seq=1, code=[0.5, 0.5, -1.0, 1.0], label=0)
    assert data_of(at)["code"] == [0.5, 0.5, -1.0, 1.0]


def test_until_the_browser_is_ready_the_server_side_sliders_decode_and_the_url_can_ask_for_them(app):
    at = app(SLIDERS)
    assert latent_pad.NOTICE in [c.value for c in at.caption]
    assert [s.label for s in at.slider if s.label.startswith("z")] == ["z1", "z2"]
    at = app(SLIDERS, pad="off")
    assert not pads(at) and at.toggle(key=latent_pad.SERVER_KEY + "_toggle").value


def test_the_manifold_box_follows_the_range_released_in_the_browser(app):
    at = ready(app(MANIFOLD))
    assert not [s for s in at.slider if s.key == "manifold_resolution"]
    browser_says(at, ready=True, held=data_of(at)["held"], seq=1, view={"low": -1.0, "high": 2.0, "resolution": 9})
    box = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["shapes"][0]
    assert (box["x0"], box["x1"], box["y0"], box["y1"]) == (-1.0, 2.0, -1.0, 2.0)
    assert data_of(at)["view"] == {"low": -1.0, "high": 2.0, "resolution": 9}


def test_the_comparison_takes_a_third_model_into_the_same_pad(app):
    at = app(COMPARE)
    third = next(o for o in at.selectbox(key="compare_c").options if o.startswith("supervised"))
    at.selectbox(key="compare_c").set_value(third).run()
    assert not at.exception
    data = data_of(at)
    assert [m["name"] for m in data["models"]] == ["aae-mixture", "vae-gaussian", "supervised"]
    assert len(data["class_names"]) == 10  # the conditional one gets a class picker
    assert len(at.get("plotly_chart")) == 3 and len(at.dataframe[0].value.columns) == 4


def test_the_pad_writes_checkpoint_text_as_text_never_as_html():
    """Model names and class names reach the pad raw (a checkpoint's metadata); the JS never parses them as HTML."""
    source = (REPO / "app" / "latent_pad.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "setHTMLUnsafe"):
        assert sink not in source, sink
    assert '(k === "text" ? (node.textContent = v) : node.setAttribute(k, v))' in source  # the one way text goes in


@pytest.mark.parametrize("name", ["aae-mixture", "supervised", "supervised-int8"])
def test_the_payload_is_the_decoder_layer_for_layer(pad_models, tmp_path, name):
    """What the browser gets, run here in numpy: LatentModel.decode to float rounding (the browser test does JS)."""
    path = pad_models / f"{name}.safetensors"
    if name.endswith("-int8"):  # an `export --int8` copy: its matrices travel as 8-bit rows and a scale per row
        path = save_checkpoint(
            tmp_path / path.name,
            slim_checkpoint(load_checkpoint(pad_models / "supervised.safetensors"), int8=True),
        )
    model = load_model(path)
    payload = latent_pad.decoder_payload(model)
    assert all(("scale" in layer) == name.endswith("-int8") for layer in payload["layers"])
    codes = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    labels = np.arange(5) % max(1, model.num_classes)
    x = np.concatenate([codes, np.eye(model.num_classes, dtype=np.float32)[labels]], 1) if model.num_classes else codes
    dtype = {"f16": "<f2", "f32": "<f4"}[payload["dtype"]]
    for layer in payload["layers"]:
        if "scale" in layer:
            rows = np.frombuffer(base64.b64decode(layer["w"]), "i1").reshape(layer["rows"], layer["cols"])
            w = rows.astype(np.float32) * np.frombuffer(base64.b64decode(layer["scale"]), "<f4")[:, None]
        else:
            w = np.frombuffer(base64.b64decode(layer["w"]), dtype).reshape(layer["rows"], layer["cols"])
        b = np.frombuffer(base64.b64decode(layer["b"]), dtype)
        x = x @ w.T.astype(np.float64) + b
        x = np.maximum(x, 0) if layer["act"] == "relu" else 1 / (1 + np.exp(-x))
    expected = model.decode(codes, labels if model.num_classes else None).reshape(5, -1).numpy()
    assert np.abs(x - expected).max() < 1e-5


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists() or not SHIPPED, reason="needs /usr/bin/chromium and checkpoints/")
def test_the_browser_decodes_every_shipped_model_within_one_grey_level():
    """latent_pad.js's forward pass in Chromium against LatentModel.decode, on fixed codes and classes."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    from tests.test_browser import CHROMIUM_ARGS

    source = (REPO / "app" / "latent_pad.js").read_text()
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto("about:blank")
            page.evaluate(
                "async (src) => { window.pad = await import(URL.createObjectURL(new Blob([src], "
                "{type: 'text/javascript'}))); }",
                source,
            )
            for path in SHIPPED:
                model = load_model(path)
                codes = np.random.default_rng(1).normal(scale=2.0, size=(12, model.latent_dim)).astype(np.float32)
                labels = np.arange(12) % max(1, model.num_classes)
                in_browser = page.evaluate(
                    "([p, codes, labels]) => { const net = pad.unpack(p); "
                    "return codes.map((z, i) => Array.from(pad.decode(net, Float32Array.from(z), 1, labels[i]))); }",
                    [latent_pad.decoder_payload(model), codes.tolist(), labels.tolist()],
                )
                expected = model.decode(codes, labels if model.num_classes else None).reshape(12, -1).numpy()
                assert np.abs(np.array(in_browser) - expected).max() <= 1 / 255, path.name
        finally:
            browser.close()
