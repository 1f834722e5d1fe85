"""The drawing pad: strokes framed as MNIST was, a drawn 7 among the 7s, the pad on the Your digit page, and a drawn
prior trained live and stored in its checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from aae_core.inference import load_model
from aae_core.priors import DrawnPrior, make_prior
from app.digit_input import DigitInputError, mnist_style, strokes_to_image
from app.sketch import MAX_POINTS, Drawing, drawing_points, parse_drawing, preset_strokes, thinned
from tests.conftest import APP_ENTRY, APP_PAGES
from tests.test_app import images

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"
LABELLED_MIXTURE = SHIPPED / "labelled-prior-2d-mixture.safetensors"  # what the app opens first

# Digits as a student draws them on the pad, in canvas units (0..1, y down), deliberately off-centre and small.
SEVEN = (((0.2, 0.15), (0.6, 0.15), (0.35, 0.65)),)
ONE = (((0.62, 0.3), (0.7, 0.22), (0.68, 0.9)),)
ZERO = (tuple((0.4 + 0.15 * np.cos(a), 0.45 + 0.25 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 60)),)


def centre_of_mass(image: np.ndarray) -> np.ndarray:
    ys, xs = np.indices(image.shape)
    return np.array([(ys * image).sum(), (xs * image).sum()]) / image.sum()


def ink_box(image: np.ndarray, level: float = 0.05) -> tuple[int, int]:
    rows, cols = np.flatnonzero((image > level).any(axis=1)), np.flatnonzero((image > level).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


@pytest.mark.parametrize("strokes", [SEVEN, ONE, ZERO], ids=["7", "1", "0"])
@pytest.mark.parametrize("pen", [0.04, 0.07, 0.12])
def test_drawn_strokes_are_framed_as_mnist_was(strokes, pen):
    image = strokes_to_image(strokes, (28, 28), pen)
    assert image.shape == (28, 28) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.max() > 0.9
    height, width = ink_box(image)
    assert height <= 20 and width <= 20 and max(height, width) >= 19  # fitted to the 20×20 box, aspect kept
    assert np.abs(centre_of_mass(image) - 13.5).max() <= 1.0


def test_small_frames_are_filled_and_centred_like_the_8x8_digits():
    image = strokes_to_image(SEVEN, (8, 8), 0.07)
    rows, cols = ink_box(image, 0.2)
    assert rows == 8 and cols < 8  # a digit spans all 8 rows, as scikit-learn's do
    column_mass = image.sum(axis=0)
    assert abs((np.arange(8) * column_mass).sum() / column_mass.sum() - 3.5) < 1.5


def test_mnist_style_keeps_the_digit_whole_when_its_centre_of_mass_is_far_from_its_middle():
    image = np.zeros((100, 100), dtype=np.float32)
    image[10:90, 40:44] = 1.0  # a stem...
    image[10:14, 20:80] = 1.0
    image[10:20, 20:80] = 1.0  # ...under a heavy bar: the mass sits high
    framed = mnist_style(image, (28, 28))
    assert ink_box(framed) == (20, 15)  # the whole digit: moved down only as far as the frame allows
    assert framed[-1].max() > 0.5 and centre_of_mass(framed)[0] < 13.5


def test_an_empty_pad_gets_a_message_not_an_error():
    with pytest.raises(DigitInputError, match="the pad is empty"):
        strokes_to_image((), (28, 28), 0.07)


def test_the_browsers_drawing_is_checked_point_by_point():
    drawing = parse_drawing(
        {
            "strokes": [[[0.1, 0.2], [1.5, -3], ["x", 0], [float("nan"), 0], [True, 0.5], [0.3]], "no", []],
            "pen": 99,
        }
    )
    assert drawing.strokes == (((0.1, 0.2), (1.0, 0.0)),) and drawing.pen == 0.15
    assert parse_drawing(None).empty and parse_drawing({"strokes": "lots"}).empty
    huge = parse_drawing({"strokes": [[[0.5, 0.5]] * 4000] * 5})
    assert huge.point_count == MAX_POINTS


def test_strokes_become_points_in_the_latent_range_with_z2_up():
    points = drawing_points(Drawing((((0.0, 0.0),), ((0.5, 0.5), (1.0, 0.5)))), extent=4.0, spacing=0.1)
    np.testing.assert_allclose(points[0], [-4.0, 4.0])  # a click at the top-left corner
    line = points[1:]
    assert len(line) == 6 and np.allclose(line[:, 1], 0.0) and np.allclose(line[[0, -1], 0], [0.0, 4.0])
    assert len(thinned(np.zeros((1000, 2)), 100)) == 100


@pytest.mark.parametrize("name", ["ring", "smiley", "letter A"])
def test_every_preset_is_a_drawn_prior_inside_the_latent_range(name):
    points = drawing_points(preset_strokes(name), extent=4.0)
    prior = make_prior("drawn", 2, points=points.tolist(), blur=0.3)
    assert isinstance(prior, DrawnPrior) and 50 < len(points) <= DrawnPrior.MAX_POINTS
    assert np.abs(points).max() <= 4.0


def test_a_drawn_seven_lands_among_the_sevens_of_the_label_regularized_model():
    model = load_model(LABELLED_MIXTURE)
    code = model.encode(torch.from_numpy(strokes_to_image(SEVEN, model.image_shape, 0.07)[None])).cpu().numpy()
    nearest = model.atlas.labels[np.argsort(np.linalg.norm(model.atlas.codes - code, axis=1))[:25]]
    assert np.bincount(nearest, minlength=10).argmax() == 7
    component = model.prior.component_log_prob(torch.as_tensor(code, dtype=torch.float32)).argmax()
    assert int(component) == 7  # one blob per digit: component i holds the i's


# ---------------------------------------------------------------------------------------------------- the pages


@pytest.fixture
def app(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("AAE_CHECKPOINT_DIRS", str(SHIPPED))
    runs = tmp_path / "runs"
    monkeypatch.setenv("AAE_RUNS_DIR", str(runs))

    def open_page(page: str, model: str = "labelled-prior-2d-mixture", folder: Path = SHIPPED) -> AppTest:
        monkeypatch.setenv("AAE_CHECKPOINT_DIRS", str(folder))
        at = AppTest.from_file(APP_ENTRY, default_timeout=120)
        at.query_params["model"] = model
        at.run()
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    open_page.runs = runs
    return open_page


def pad_state(strokes, pen: float = 0.07) -> dict:
    """What the pad's JavaScript sends when a stroke ends."""
    return {"drawing": {"strokes": [[list(p) for p in stroke] for stroke in strokes], "pen": pen}}


def test_your_digit_encodes_a_drawing_from_the_pad(app):
    at = app(APP_PAGES[6])
    assert "Draw a digit on the pad" in at.info[0].value and not at.error  # an empty pad: a message
    at.session_state["digit_pad"] = pad_state(SEVEN)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [image.caption for image in images(at)][:2] == ["what the model sees", "decode(encode(x))"]
    nearest = next(c.value for c in at.main.caption if c.value.startswith("Nearest evaluation digits"))
    assert nearest.count("(a 7)") >= 3
    assert at.get("plotly_chart")  # the map, with the star
    at.session_state["digit_pad"] = pad_state([])  # Clear
    at.run()
    assert not at.exception and "Draw a digit on the pad" in at.info[0].value


def test_a_drawing_is_framed_for_an_8x8_digits_model_too(app, trained_checkpoint):
    at = app(APP_PAGES[6], model="aae", folder=trained_checkpoint.parent)
    at.session_state["digit_pad"] = pad_state(SEVEN)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "8×8 pixels" in at.expander[0].markdown[0].value
    assert [image.caption for image in images(at)][:2] == ["what the model sees", "decode(encode(x))"]


def test_a_drawing_is_classified_by_a_semi_supervised_model(app):
    at = app(APP_PAGES[6], model="semi-supervised-100")
    at.session_state["digit_pad"] = pad_state(SEVEN)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(c.value.startswith("predicted class: ") for c in at.main.caption)


def test_train_live_trains_against_a_preset_drawn_prior_and_stores_it(app):
    at = app(APP_PAGES[5])
    at.radio(key="live_drawn_shape").set_value("ring").run()
    assert any("points from 1 stroke" in c.value for c in at.caption)
    at.selectbox(key="live_prior").set_value("drawn")
    at.slider(key="live_epochs").set_value(5)
    at.select_slider(key="live_hidden").set_value(64)
    at.button[0].click().run(timeout=180)
    assert not at.exception, [e.value for e in at.exception]
    assert "Trained and saved" in at.success[0].value
    (path,) = [p for p in app.runs.iterdir() if p.suffix == ".safetensors"]
    assert "-drawn-" in path.name
    prior = load_model(path).prior
    expected = drawing_points(preset_strokes("ring"), extent=4.0)
    assert isinstance(prior, DrawnPrior) and prior.blur == pytest.approx(0.3)
    np.testing.assert_allclose(prior.points.numpy(), thinned(expected, 800), atol=1e-3)


def test_train_live_says_what_is_missing_when_nothing_is_drawn(app):
    at = app(APP_PAGES[5])
    at.selectbox(key="live_prior").set_value("drawn")
    at.button[0].click().run()
    assert not at.exception and "drawn prior is empty" in at.error[0].value


def test_the_vae_cannot_use_a_drawn_prior_and_the_page_says_why(app):
    from app.training_panel import TrainingRequest

    points = tuple(map(tuple, drawing_points(preset_strokes("ring"), extent=4.0).tolist()))
    assert TrainingRequest(kind="aae", prior="drawn", points=points).problem() is None
    assert "needs the prior's density" in TrainingRequest(kind="vae", prior="drawn", points=points).problem()
    assert "at least 3" in TrainingRequest(prior="drawn", points=((0.0, 0.0),)).problem()
    assert "2-D" in TrainingRequest(prior="drawn", points=points, latent_dim=3).problem()
    at = app(APP_PAGES[5])
    assert any("needs the prior's *density*" in m.value for m in at.markdown)
