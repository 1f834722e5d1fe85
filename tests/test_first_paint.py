"""The cold server's first latent map: a picture of the checkpoint's codes, sent before PyTorch is imported, then
replaced by the interactive map.

Each test runs the app (AppTest) in a fresh Python process, where PyTorch is not loaded yet, as on a cold
`streamlit run`; an import hook notes when `torch` is first imported, among the elements the script sends.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from aae_core.header import FORMAT_VERSION, read_atlas_preview
from app.first_paint import codes_picture

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "checkpoints" / "labelled-prior-2d-mixture.safetensors"

# What the child process runs: every element the script sends, and the moment torch is first imported, in order.
CHILD = r"""
import json, sys
from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext
from streamlit.testing.v1 import AppTest

assert "torch" not in sys.modules
events = []

class NoteTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and "torch" not in events:
            events.append("torch")
        return None

sys.meta_path.insert(0, NoteTorch())
enqueue = ScriptRunContext.enqueue

def noting(self, msg):
    if msg.HasField("delta") and msg.delta.HasField("new_element"):
        element = msg.delta.new_element
        kind = element.WhichOneof("type")
        if kind == "plotly_chart":
            events.append([t["type"] for t in json.loads(element.plotly_chart.spec)["data"]])
        elif kind == "imgs":
            events.append("picture")
        elif kind in ("alert", "exception"):
            events.append(kind)
    return enqueue(self, msg)

ScriptRunContext.enqueue = noting
at = AppTest.from_file(sys.argv[1], default_timeout=240)
at.run()
charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
print(json.dumps({"events": events, "exception": [e.value for e in at.exception],
                  "errors": [e.value for e in at.error], "charts": [[t["type"] for t in c["data"]] for c in charts],
                  "pictures": len(at.get("image"))}))
"""


def run_cold(folder: Path, runs: Path) -> dict:
    env = {**os.environ, "AAE_CHECKPOINT_DIRS": str(folder), "AAE_RUNS_DIR": str(runs), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(REPO / "app" / "streamlit_app.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not SHIPPED.exists(), reason="the shipped checkpoints are not here")
def test_the_first_map_shows_the_codes_before_torch_is_imported_then_the_prior(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(SHIPPED, folder)
    result = run_cold(folder, tmp_path / "runs")
    assert not result["exception"], result["exception"]
    events = result["events"]
    assert "torch" in events
    assert events.index("picture") < events.index("torch")  # the codes were on their way before PyTorch's import
    assert not any(isinstance(e, list) for e in events[: events.index("torch")])  # a picture, not a Plotly chart
    assert result["charts"] == [["heatmap"] + ["scatter"] * 10]  # in the end, one map: the prior beneath the codes
    assert result["pictures"] == 0  # ... in the picture's place


@pytest.mark.skipif(not SHIPPED.exists(), reason="the shipped checkpoints are not here")
def test_a_model_that_cannot_be_opened_takes_its_early_map_away(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    with safe_open(str(SHIPPED), framework="numpy") as f:
        metadata, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    weight = next(k for k in tensors if k.startswith("model.decoder") and k.endswith("weight"))
    tensors[weight] = np.full_like(tensors[weight], np.nan)  # a diverged run: its atlas is fine, its weights not
    save_file(tensors, str(folder / SHIPPED.name), metadata=metadata)
    result = run_cold(folder, tmp_path / "runs")
    events = result["events"]
    assert events[0] == "picture" and events.index("torch") > 0  # its codes were drawn early ...
    assert result["charts"] == [] and result["pictures"] == 0  # ... and taken away: no map of a broken model
    assert any("NaN or infinite" in e for e in result["errors"]), result["errors"]


def test_the_light_atlas_reader_refuses_what_it_cannot_trust(tmp_path):
    if SHIPPED.exists():
        atlas = read_atlas_preview(SHIPPED)
        assert atlas is not None and atlas.codes.shape == (len(atlas.labels), 2) and np.isfinite(atlas.codes).all()
    (tmp_path / "empty.safetensors").write_bytes(b"")
    (tmp_path / "junk.safetensors").write_bytes(b"\x80\x04" + b"x" * 100)
    header = {"format": "aae_core", "format_version": 1, "model": {"config": {"latent_dim": 2}}, "prior": {}}
    metadata = {"aae_core": json.dumps({**header, "dataset": {"classes": ["a", "b"]}})}
    good = {"atlas.codes": np.zeros((4, 2), np.float32), "atlas.labels": np.array([0, 1, 1, 0], np.int64)}
    cases = {
        "nonfinite": {**good, "atlas.codes": np.array([[0, 0], [np.inf, 0], [0, 0], [0, 0]], np.float32)},
        "label-out-of-range": {**good, "atlas.labels": np.array([0, 1, 2, 0], np.int64)},
        "ragged": {**good, "atlas.labels": np.array([0, 1, 1], np.int64)},
        "three-d": {**good, "atlas.codes": np.zeros((4, 3), np.float32)},
        "float-labels": {**good, "atlas.labels": np.zeros(4, np.float32)},
        "no-labels": {"atlas.codes": good["atlas.codes"]},
    }
    for name, tensors in cases.items():
        save_file(tensors, str(tmp_path / f"{name}.safetensors"), metadata=metadata)
    save_file(good, str(tmp_path / "good.safetensors"), metadata=metadata)
    save_file(good, str(tmp_path / "newer.safetensors"), metadata={"aae_core": metadata["aae_core"].replace(
        '"format_version": 1', f'"format_version": {FORMAT_VERSION + 1}')})  # fmt: skip
    assert read_atlas_preview(tmp_path / "good.safetensors") is not None
    for name in [*cases, "empty", "junk", "newer", "missing"]:
        assert read_atlas_preview(tmp_path / f"{name}.safetensors") is None, name


def test_the_picture_puts_each_code_where_the_map_does_in_its_class_colour():
    from io import BytesIO

    from PIL import Image

    points = np.array([[0.0, 0.0], [-1.8, 1.8], [1.8, -1.8]])
    image = np.asarray(Image.open(BytesIO(codes_picture(points, np.array([0, 1, -1]), extent=2.0, size=101))))
    assert image.shape == (101, 101, 3)
    assert tuple(image[50, 50]) == (0x1F, 0x77, 0xB4)  # class 0 at the centre
    assert tuple(image[5, 5]) == (0xFF, 0x7F, 0x0E)  # class 1 top left: y grows upwards
    assert tuple(image[95, 95]) == (0, 0, 0)  # unlabelled: black, bottom right
    assert tuple(image[5, 95]) == (255, 255, 255)  # nothing at the top right
