"""kerascope.rendering: sign-aware colours, Captum's outlier clipping, overlays, titles."""

import matplotlib
import numpy as np
import pytest

from kerascope import rendering


def _signed_map():
    """Left third -1, middle third 0, right third +1 (12 x 12)."""
    values = np.zeros((12, 12))
    values[:, :4] = -1.0
    values[:, 8:] = 1.0
    return values


def test_negative_region_is_on_the_negative_side_of_the_diverging_map():
    colours = rendering.overlay(_signed_map(), signed=True).astype(int)  # no image: pure colours
    cmap = matplotlib.colormaps[rendering.DIVERGING]
    negative_end = np.rint(np.asarray(cmap(0.0)[:3]) * 255)
    positive_end = np.rint(np.asarray(cmap(1.0)[:3]) * 255)
    centre = np.rint(np.asarray(cmap(0.5)[:3]) * 255)
    np.testing.assert_allclose(colours[6, 1], negative_end, atol=1)
    np.testing.assert_allclose(colours[6, 10], positive_end, atol=1)
    np.testing.assert_allclose(colours[6, 6], centre, atol=1)
    blue, red = colours[6, 1], colours[6, 10]
    assert blue[2] > blue[0] + 60 and red[0] > red[2] + 60  # blue below zero, red above
    assert colours[6, 6].min() > 230  # zero is white


def test_signed_map_is_centred_at_zero_not_at_its_midrange():
    # Values in [-0.25, 1]: a min-max scaling would put -0.25 at the blue end and
    # 0.375 at the centre; centred at zero, 0 is white and -0.25 a light blue.
    values = np.zeros((8, 8))
    values[:, :2] = -0.25
    values[:, 6:] = 1.0
    colours = rendering.overlay(values, signed=True, outlier_perc=0).astype(int)
    assert colours[0, 4].min() > 230  # 0 -> white
    light_blue = colours[0, 0]
    assert light_blue[2] > light_blue[0] and light_blue.min() > 120  # light, not the blue end


def test_negative_region_over_an_image_stays_blue_and_zero_shows_the_image():
    image = np.full((12, 12, 3), 0.5)
    picture = rendering.overlay(_signed_map(), image, signed=True).astype(int)
    left, middle, right = picture[6, 1], picture[6, 6], picture[6, 10]
    assert left[2] > left[0] + 30
    assert right[0] > right[2] + 30
    np.testing.assert_allclose(middle, [128, 128, 128], atol=2)  # weight 0 where the map is 0


def test_render_draws_the_negative_region_blue_in_the_titled_figure():
    values = np.zeros((16, 16))
    values[:, :8] = -1.0
    values[:, 8:] = 1.0
    with_bar = rendering.render(values, method="integrated_gradients", target=3, signed=True,
                                labels=[str(i) for i in range(10)], probability=0.9)
    without = rendering.render(values, signed=True, colorbar=False, heading="")
    assert with_bar.dtype == np.uint8 and with_bar.shape[1] > without.shape[1]
    pixels = with_bar.reshape(-1, 3).astype(int)
    strong_blue = np.sum((pixels[:, 2] - pixels[:, 0]) > 100)
    strong_red = np.sum((pixels[:, 0] - pixels[:, 2]) > 100)
    assert strong_blue > 500 and strong_red > 500


def test_unsigned_maps_use_the_sequential_colormap_without_blue():
    values = np.linspace(0, 1, 64).reshape(8, 8)
    colours = rendering.overlay(values, signed=False, outlier_perc=0).astype(int)
    cmap = matplotlib.colormaps[rendering.SEQUENTIAL]
    np.testing.assert_allclose(colours[0, 0], np.rint(np.asarray(cmap(0.0)[:3]) * 255), atol=1)
    np.testing.assert_allclose(colours[-1, -1], np.rint(np.asarray(cmap(1.0)[:3]) * 255), atol=1)
    assert np.all(colours[..., 2] <= colours[..., 0])  # never bluer than red


def test_clip_scale_follows_captums_outlier_perc():
    values = np.ones(1000)
    values[0] = 10.0  # 1% of the mass in one outlier
    # Sorted cumulative mass reaches 98% of 1010 at the 990th one: the outlier is clipped.
    assert rendering.clip_scale(values, outlier_perc=2) == 1.0
    assert rendering.clip_scale(values, outlier_perc=0) == 10.0
    assert rendering.clip_scale(-values, outlier_perc=2, signed=True) == 1.0
    assert rendering.clip_scale(np.zeros(5)) == 0.0
    normalized, scale = rendering.normalize(values, signed=False, outlier_perc=2)
    assert scale == 1.0 and normalized.max() == 1.0 and normalized[1] == 1.0
    with pytest.raises(ValueError, match="outlier_perc"):
        rendering.clip_scale(values, outlier_perc=100)


def test_is_signed_from_the_catalog_or_the_values():
    assert rendering.is_signed("integrated_gradients")
    assert rendering.is_signed("gradients_inputs")
    assert not rendering.is_signed("grad_cam", np.ones((2, 2)))
    assert rendering.is_signed("grad_cam", -np.ones((2, 2)))  # negative values are never hidden
    assert rendering.is_signed(None, np.array([[0.5, -0.1]]))
    assert not rendering.is_signed(None, np.array([[0.5, 0.1]]))


def test_title_names_method_target_label_and_probability():
    labels = ["cat", "dog"]
    assert rendering.title("grad_cam", 1, labels, 0.873) == "grad_cam · class 1 'dog' · p=0.87"
    assert rendering.title("occlusion", 5) == "occlusion · class 5"
    assert rendering.title("smoothgrad", 0, None, None) == "smoothgrad · class 0"


def test_render_grid_has_a_row_of_inputs_and_one_row_per_target():
    maps = np.random.default_rng(0).normal(size=(3, 2, 10, 10))
    images = np.random.default_rng(1).random((3, 10, 10, 3))
    one = rendering.render_grid(maps[:, :1], images, method="m", targets=np.zeros((3, 1), int))
    two = rendering.render_grid(maps, images, method="m", targets=np.zeros((3, 2), int))
    assert one.dtype == np.uint8 and one.shape[1] == two.shape[1]
    assert two.shape[0] > one.shape[0] * 1.3  # three rows instead of two


def test_to_rgb_ranges_and_layouts():
    np.testing.assert_array_equal(rendering.to_rgb(np.ones((2, 2)))[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(rendering.to_rgb(-np.ones((2, 2, 1)))[0, 0], [0, 0, 0])
    assert rendering.to_rgb(np.zeros((3, 5, 7))).shape == (5, 7, 3)  # channels first
    np.testing.assert_array_equal(rendering.to_rgb(np.full((2, 2, 3), 255.0))[0, 0], [255] * 3)
    with pytest.raises(ValueError, match="image"):
        rendering.to_rgb(np.zeros((2, 2, 7)))


def test_colorbar_strip_runs_from_positive_to_negative():
    strip = rendering.colorbar_strip(True, height=50).astype(int)
    assert strip[0, 0, 0] > strip[0, 0, 2] and strip[-1, 0, 2] > strip[-1, 0, 0]
    sequential = rendering.colorbar_strip(False, height=50).astype(int)
    assert sequential[-1, 0].min() > 230  # zero (bottom) is white


def test_png_roundtrip(tmp_path):
    from PIL import Image

    picture = rendering.overlay(_signed_map(), np.zeros((12, 12)))
    path = rendering.save_png(picture, tmp_path / "sub" / "map.png")
    np.testing.assert_array_equal(np.asarray(Image.open(path)), picture)


def test_a_map_above_zero_is_drawn_from_its_minimum():
    """RISE-like: a constant offset (the mean score) plus a bump. Drawn from 0, the
    whole map is one saturated red; drawn from its minimum, the bump alone is red and
    the rest shows white (issue 23, item 10)."""
    bump = np.zeros((16, 16))
    bump[4:8, 4:8] = 1.0
    values = 5.0 + 0.2 * bump
    assert rendering.offset(values, signed=False) == 5.0
    assert rendering.offset(values, signed=True) == 0.0
    assert rendering.offset(bump, signed=False) == 0.0  # a map that reaches 0: unchanged
    normalized, scale = rendering.normalize(values, signed=False, outlier_perc=0, floor=5.0)
    assert scale == pytest.approx(0.2)
    np.testing.assert_allclose(normalized, bump)
    # the offset map is drawn exactly as the bump alone: red on the bump, white elsewhere
    picture = rendering.overlay(values, signed=False, outlier_perc=0)
    np.testing.assert_array_equal(picture, rendering.overlay(0.2 * bump, signed=False,
                                                              outlier_perc=0))
    assert picture[5, 5].tolist() != picture[12, 12].tolist()
