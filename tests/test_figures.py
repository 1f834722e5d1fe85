"""The app's pure helpers: figures from arrays, PNG grids, projections, grids of codes (no Streamlit)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from aae_core.priors import make_prior
from app import figures, latent


def test_tile_images_lays_out_rows_with_padding():
    images = np.stack([np.full((3, 2), i / 10) for i in range(5)])
    sheet = figures.tile_images(images, columns=2, pad=1, pad_value=1.0)
    assert sheet.shape == (3 * 3 + 2, 2 * 2 + 1)
    assert sheet[0, 0] == 0.0 and sheet[0, 3] == pytest.approx(0.1) and sheet[4, 0] == pytest.approx(0.2)
    assert sheet[3, 0] == 1.0  # the gap between rows
    assert (sheet[8:, 3:] == 1.0).all()  # the empty sixth cell


def test_grid_png_is_an_enlarged_grey_png():
    images = np.random.default_rng(0).random((6, 8, 8))
    png = figures.grid_png(images, columns=3, target_px=300, pad=0)
    picture = Image.open(io.BytesIO(png))
    assert picture.format == "PNG" and picture.mode == "L"
    assert picture.size == (24 * 12, 16 * 12)  # 3×2 digits of 8 px, enlarged 300 // 24 = 12 times


def test_digit_png_keeps_pixels_sharp():
    image = np.zeros((8, 8))
    image[0, 0] = 1.0
    picture = np.asarray(Image.open(io.BytesIO(figures.digit_png(image, target_px=80))))
    assert picture.shape == (80, 80)
    assert set(np.unique(picture)) == {0, 255}  # nearest-neighbour: no blur


def test_latent_map_has_one_trace_per_label_with_indices_and_prior_beneath():
    rng = np.random.default_rng(0)
    points, labels = rng.normal(size=(50, 2)), np.arange(50) % 5
    samples = rng.normal(size=(30, 2))
    figure = figures.latent_map_figure(points, labels, indices=np.arange(100, 150), prior_points=samples, extent=3.0)
    assert [t.name for t in figure.data] == ["prior samples", "0", "1", "2", "3", "4"]
    assert sorted(np.concatenate([t.customdata for t in figure.data[1:]]).tolist()) == list(range(100, 150))
    assert tuple(figure.layout.xaxis.range) == (-3.0, 3.0)
    marked = figures.with_region(figure, (-1, 1), (0, 2))
    assert len(marked.layout.shapes) == 1 and not figure.layout.shapes  # the cached original is untouched
    starred = figures.with_marker(figure, np.array([0.5, 0.5]))
    assert len(starred.data) == len(figure.data) + 1


def test_latent_map_draws_a_density_as_a_heatmap():
    density = latent.prior_density_grid(make_prior("mixture", 2), (-6, 6), (-6, 6), resolution=40)
    figure = figures.latent_map_figure(np.zeros((3, 2)), np.array([0, 1, 1]), prior_density=density)
    assert figure.data[0].type == "heatmap" and np.asarray(figure.data[0].z).shape == (40, 40)


def test_project_codes_keeps_2d_and_uses_pca_above():
    codes = np.random.default_rng(0).normal(size=(200, 2))
    assert np.allclose(latent.project_codes(codes).points, codes)
    stretched = np.random.default_rng(1).normal(size=(300, 5)) * np.array([5.0, 3.0, 0.1, 0.1, 0.1])
    view = latent.project_codes(stretched)
    assert view.points.shape == (300, 2) and view.axis_titles[0].startswith("PC 1")
    assert np.allclose(view.apply(stretched), view.points)
    assert abs(view.components[0, 0]) > 0.99  # the widest axis comes first


def test_tsne_projection_is_not_linear():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # OpenMP in the main thread crawls when the cores are busy
        view = latent.project_codes(np.random.default_rng(0).normal(size=(40, 4)), method="tsne")
    assert view.points.shape == (40, 2) and view.apply(np.zeros((1, 4))) is None


def test_grid_codes_reads_like_the_plot_with_other_dimensions_fixed():
    base = np.array([0.0, 0.0, 7.0])
    codes = latent.grid_codes(base, (0, 2), (-1, 1), (10, 20), resolution=3)
    assert codes.shape == (9, 3)
    assert codes[0].tolist() == [-1.0, 0.0, 20.0]  # top left: smallest x, largest y
    assert codes[-1].tolist() == [1.0, 0.0, 10.0]  # bottom right


def test_interpolate_includes_both_ends():
    path = latent.interpolate(np.zeros(2), np.array([2.0, 4.0]), steps=5)
    assert path.shape == (5, 2) and path[2].tolist() == [1.0, 2.0] and path[-1].tolist() == [2.0, 4.0]


def test_slider_limits_cover_prior_and_codes():
    codes = np.column_stack([np.linspace(-1, 1, 100), np.linspace(-9, 9, 100)])
    limits = latent.slider_limits(codes, prior_scale=1.0)
    assert limits[0] == 1.5 and limits[1] >= 9.0


def test_prior_helpers_say_none_when_there_is_nothing_to_draw():
    assert latent.prior_density_grid(make_prior("swissroll", 2), (-1, 1), (-1, 1)) is None
    assert latent.prior_density_grid(make_prior("gaussian", 3), (-1, 1), (-1, 1)) is None
    assert latent.prior_samples(None, 5) is None
    assert latent.prior_samples(make_prior("gaussian", 3), 5).shape == (5, 3)


def test_display_subset_is_fixed_and_bounded():
    assert latent.display_subset(10).tolist() == list(range(10))
    subset = latent.display_subset(20_000, limit=100)
    assert len(subset) == 100 and (np.diff(subset) > 0).all()
    assert (subset == latent.display_subset(20_000, limit=100)).all()


def test_replay_has_one_frame_per_snapshot_on_a_fixed_scale():
    frames = np.random.default_rng(0).normal(size=(4, 30, 2))
    figure = figures.replay_figure(
        np.array([0, 10, 20, 30]), frames, np.arange(30) % 10, extent=3.0, prior_points=np.zeros((5, 2))
    )
    assert [f.name for f in figure.frames] == ["0", "10", "20", "30"]
    assert all(f.traces == (1,) and len(f.data[0].x) == 30 for f in figure.frames)  # only the codes move
    assert tuple(figure.layout.xaxis.range) == (-3.0, 3.0) and len(figure.layout.sliders[0].steps) == 4
