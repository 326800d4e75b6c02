"""Tests for the backend-free image utilities (kerascope.utils)."""

import os

import matplotlib
import numpy as np
import pytest
from PIL import Image

from kerascope.utils.display import (
    apply_colormap,
    filter_display,
    grid_display,
    heatmap_display,
    overlay,
)
from kerascope.utils.image import (
    apply_grey_patch,
    image_to_uint_255,
    normalize_map,
    resize_map,
    to_uint8,
    transform_to_normalized_grayscale,
)
from kerascope.utils.saver import save_grayscale, save_rgb


# --------------------------------------------------------------------------- to_uint8


def test_to_uint8_clips_instead_of_wrapping():
    values = np.array([300.0, -5.0, 256.0, 128.0])
    # A bare cast wraps around (or is undefined) for out-of-range floats; we must clip.
    out = to_uint8(values, value_range=(0, 255))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [255, 0, 255, 128])
    # Inferred range ([0, 255] because max > 1) clips the same way.
    np.testing.assert_array_equal(to_uint8(values), [255, 0, 255, 128])
    assert np.array([300.0]).astype(np.int64).astype(np.uint8)[0] == 44  # what wrapping gives


def test_to_uint8_inferred_ranges():
    np.testing.assert_array_equal(to_uint8(np.array([0.0, 0.5, 1.0])), [0, 128, 255])
    np.testing.assert_array_equal(to_uint8(np.array([-1.0, 0.0, 1.0])), [0, 128, 255])
    np.testing.assert_array_equal(to_uint8(np.array([0.0, 2.0, 255.0])), [0, 2, 255])
    np.testing.assert_array_equal(to_uint8(np.array([-10, 5, 1000])), [0, 5, 255])


def test_to_uint8_explicit_range_and_special_values():
    out = to_uint8(np.array([-2.0, 0.0, 2.0, 4.0]), value_range=(0.0, 2.0))
    np.testing.assert_array_equal(out, [0, 0, 255, 255])
    out = to_uint8(np.array([np.nan, np.inf, -np.inf, 0.5]), value_range=(0, 1))
    np.testing.assert_array_equal(out, [0, 255, 0, 128])
    np.testing.assert_array_equal(to_uint8(np.array([True, False])), [255, 0])
    with pytest.raises(ValueError):
        to_uint8(np.zeros(3), value_range=(1.0, 1.0))


def test_to_uint8_uint8_passthrough():
    arr = np.array([0, 7, 255], dtype=np.uint8)
    np.testing.assert_array_equal(to_uint8(arr), arr)


# --------------------------------------------------------------------------- image_to_uint_255


def test_image_to_uint_255_tf_explain_facts():
    # [0, 1]-scaled float image: 1/255 -> 1
    img01 = np.array([[0.0, 1.0 / 255.0], [0.5, 1.0]], dtype=np.float32)
    out = image_to_uint_255(img01)
    assert out.dtype == np.uint8
    assert out[0, 1] == 1 and out[0, 0] == 0 and out[1, 1] == 255
    # [-1, 1]-scaled float image: -1/255 -> 127
    img11 = np.array([[-1.0 / 255.0, -1.0], [1.0, 0.0]], dtype=np.float32)
    out = image_to_uint_255(img11)
    assert out[0, 0] == 127 and out[0, 1] == 0 and out[1, 0] == 255


def test_image_to_uint_255_keeps_0_255_floats_and_clips():
    img = np.array([[0.0, 12.0], [200.0, 255.0]], dtype=np.float32)
    np.testing.assert_array_equal(image_to_uint_255(img), [[0, 12], [200, 255]])
    np.testing.assert_array_equal(image_to_uint_255(np.array([[-3.0, 400.0]])), [[0, 255]])
    u8 = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(image_to_uint_255(u8), u8)


# --------------------------------------------------------------------------- grayscale


def test_transform_to_normalized_grayscale_clips_and_standardizes():
    maps = np.array([[[0.0, 0.0], [0.0, 10.0]]])  # mean 2.5, std ~4.33
    out = transform_to_normalized_grayscale(maps)
    assert out.shape == (1, 2, 2) and out.dtype == np.uint8
    # below-mean pixels are negative after standardisation -> clipped to 0 (not wrapped to ~170)
    np.testing.assert_array_equal(out, [[[0, 0], [0, 255]]])


def test_transform_to_normalized_grayscale_channels_and_constant():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(3, 5, 7, 3))
    out = transform_to_normalized_grayscale(maps)
    assert out.shape == (3, 5, 7)
    expected = transform_to_normalized_grayscale(maps.sum(-1))
    np.testing.assert_array_equal(out, expected)
    # constant map: value 0 everywhere (no division by zero)
    np.testing.assert_array_equal(transform_to_normalized_grayscale(np.ones((1, 4, 4))), 0)
    # tiny gradients are standardized by their own std, not floored to 1/sqrt(n) as
    # TensorFlow's per_image_standardization does (which renders them black)
    small = np.array([[[0.0, 0.0], [0.0, 0.001]], [[0.0, 0.0004], [0.0, 0.0]]])
    out = transform_to_normalized_grayscale(small)
    assert out[0, 1, 1] == 255 and out[1, 0, 1] == 255
    assert out[0, 0, 0] == 0


def test_transform_to_normalized_grayscale_is_per_image():
    a = np.array([[0.0, 1.0], [2.0, 3.0]])
    batch = np.stack([a, a * 1000.0])
    out = transform_to_normalized_grayscale(batch)
    np.testing.assert_array_equal(out[0], out[1])


# --------------------------------------------------------------------------- normalize_map


def test_normalize_map_modes():
    m = np.array([[-2.0, 0.0], [1.0, 2.0]])
    np.testing.assert_allclose(normalize_map(m, "minmax"), [[0, 0.5], [0.75, 1]])
    np.testing.assert_allclose(normalize_map(m, "abs"), [[1, 0], [0.5, 1]])
    np.testing.assert_allclose(normalize_map(m, "positive"), [[0, 0], [0.5, 1]])
    assert normalize_map(m).dtype == np.float32
    with pytest.raises(ValueError):
        normalize_map(m, "bogus")


def test_normalize_map_constant_and_per_sample():
    for mode in ("minmax", "abs", "positive"):
        out = normalize_map(np.full((2, 3, 3), 4.0 if mode != "positive" else -1.0), mode)
        assert not np.isnan(out).any()
        if mode == "minmax":
            np.testing.assert_array_equal(out, 0)
    batch = np.stack([np.array([[0.0, 1.0]]), np.array([[0.0, 10.0]])])
    np.testing.assert_allclose(normalize_map(batch, per_sample=True)[:, 0, 1], [1, 1])
    np.testing.assert_allclose(normalize_map(batch, per_sample=False)[:, 0, 1], [0.1, 1])


# --------------------------------------------------------------------------- grey patch


def test_apply_grey_patch_non_square_x_is_column():
    image = np.zeros((4, 10, 3), dtype=np.float32)
    out = apply_grey_patch(image, top_left_x=6, top_left_y=1, patch_size=2)
    assert out.shape == image.shape
    expected = np.zeros_like(image)
    expected[1:3, 6:8] = 127.5
    np.testing.assert_array_equal(out, expected)
    assert not image.any()  # input untouched
    # patch crossing the right border is cut, not wrapped
    out = apply_grey_patch(image, top_left_x=9, top_left_y=3, patch_size=3, value=1.0)
    assert out.sum() == 3 and (out[3, 9] == 1).all()
    with pytest.raises(ValueError):
        apply_grey_patch(image, -1, 0, 2)


# --------------------------------------------------------------------------- resize


def test_resize_map_keeps_float_values_and_orientation():
    m = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)  # 1 x 3
    out = resize_map(m, (2, 6))
    assert out.shape == (2, 6) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.all(np.diff(out[0]) >= 0)  # still increasing along the columns
    assert len(np.unique(out)) > 2  # not quantised
    np.testing.assert_allclose(out[0], out[1])
    small = np.array([[1e-3, 2e-3], [3e-3, 4e-3]])
    np.testing.assert_allclose(resize_map(small, (2, 2)), small, rtol=1e-6)
    assert resize_map(np.ones((3, 5, 2)), (6, 4)).shape == (6, 4, 2)


# --------------------------------------------------------------------------- grids


def test_grid_display_shapes_and_zero_fill():
    images = np.ones((7, 28, 28), dtype=np.float32)
    grid = grid_display(images)
    assert grid.shape == (84, 84) and grid.dtype == np.float32
    assert grid[:56].all() and grid[56:, :28].all()  # 7 cells filled row by row
    assert not grid[56:, 28:].any()  # the two empty cells are zeros
    rgb = grid_display(list(np.full((5, 4, 6, 3), 9, dtype=np.uint8)), num_columns=5)
    assert rgb.shape == (4, 30, 3) and rgb.dtype == np.uint8


def test_grid_display_order_and_too_small_grid():
    images = np.arange(4, dtype=np.int32).reshape(4, 1, 1) + 1
    np.testing.assert_array_equal(grid_display(images, 2, 2), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(grid_display(images, num_rows=1), [[1, 2, 3, 4]])
    with pytest.warns(UserWarning):
        grid = grid_display(np.ones((7, 28, 28)), num_rows=2, num_columns=2)
    assert grid.shape == (4 * 28, 2 * 28)  # tf-explain: the columns are kept, rows grow


def test_filter_display_keeps_the_values():
    activations = np.array([[[[1.0], [2.0]], [[1.0], [2.0]]]])  # (1, 2, 2, 1)
    out = filter_display(activations)
    assert out.dtype == np.float64  # as tf-explain: ExtractActivations scales the grid
    np.testing.assert_array_equal(out, [[1, 2], [1, 2]])


def test_filter_display_channels_into_batch():
    act = np.zeros((2, 3, 3, 2))
    act[0, ..., 1] = 1.0  # image 0, channel 1 -> second cell
    act[1, ..., 0] = 0.5  # image 1, channel 0 -> third cell
    out = filter_display(act)
    assert out.shape == (6, 6)
    assert (out[:3, 3:] == 1.0).all() and (out[3:, :3] == 0.5).all()
    assert not out[:3, :3].any() and not out[3:, 3:].any()
    np.testing.assert_array_equal(filter_display(np.full((1, 2, 2, 3), 7.0))[:2], 7.0)


# --------------------------------------------------------------------------- colormaps


@pytest.mark.parametrize("name", ["viridis", "jet", "gray"])
def test_apply_colormap_endpoints_match_matplotlib(name):
    cmap = matplotlib.colormaps[name]
    out = apply_colormap(np.array([[0.0, 1.0, -3.0, 7.0]]), name)
    assert out.shape == (1, 4, 3) and out.dtype == np.uint8
    lo = np.asarray(cmap(0.0, bytes=True))[:3]
    hi = np.asarray(cmap(1.0, bytes=True))[:3]
    np.testing.assert_array_equal(out[0, 0], lo)
    np.testing.assert_array_equal(out[0, 1], hi)
    np.testing.assert_array_equal(out[0, 2], lo)  # clipped, not the "under" colour
    np.testing.assert_array_equal(out[0, 3], hi)
    np.testing.assert_array_equal(apply_colormap(np.array([0.0, 1.0]), cmap), [lo, hi])
    with pytest.raises(ValueError):
        apply_colormap(np.zeros((2, 2)), "not-a-colormap")


# --------------------------------------------------------------------------- overlays


def _hot_corner_case():
    # non-square image (H=20, W=40) and a low-res heatmap hot in its top-right corner
    image = np.full((20, 40, 3), 0.5, dtype=np.float32)
    heat = np.zeros((2, 4), dtype=np.float32)
    heat[0, 3] = 1.0
    return image, heat


def test_heatmap_display_non_square_not_transposed():
    image, heat = _hot_corner_case()
    out = heatmap_display(heat, image, colormap="viridis", image_weight=0.0)
    assert out.shape == (20, 40, 3) and out.dtype == np.uint8
    hot = np.asarray(matplotlib.colormaps["viridis"](1.0, bytes=True))[:3]
    cold = np.asarray(matplotlib.colormaps["viridis"](0.0, bytes=True))[:3]
    np.testing.assert_array_equal(out[0, 39], hot)  # top-right is hot
    np.testing.assert_array_equal(out[19, 0], cold)  # bottom-left is cold
    np.testing.assert_array_equal(out[19, 39], cold)
    # brightness (hot = yellow) concentrated in the top-right quadrant
    lum = out.astype(float).sum(-1)
    assert lum[:10, 20:].mean() > lum[10:, :20].mean() + 50
    r, c = np.unravel_index(np.argmax(lum), lum.shape)
    assert r < 10 and c >= 30


def test_heatmap_display_blend_and_grayscale_input():
    image, heat = _hot_corner_case()
    out = heatmap_display(heat, image, image_weight=0.7)
    hot = np.asarray(matplotlib.colormaps["viridis"](1.0, bytes=True))[:3].astype(float)
    img_u8 = 128.0  # 0.5 -> 128 via image_to_uint_255
    np.testing.assert_allclose(out[0, 39], np.rint(0.7 * img_u8 + 0.3 * hot), atol=1)
    gray = np.linspace(0, 255, 20 * 40, dtype=np.float32).reshape(20, 40)
    for g in (gray, gray[..., None]):
        res = heatmap_display(heat, g, image_weight=1.0)
        assert res.shape == (20, 40, 3)
        np.testing.assert_array_equal(res[..., 0], res[..., 2])
        np.testing.assert_array_equal(res[..., 0], to_uint8(gray))
    # constant heatmap -> coldest colour, no NaN/garbage
    const = heatmap_display(np.full((3, 3), 5.0), image, image_weight=0.0)
    np.testing.assert_array_equal(
        const, np.broadcast_to(apply_colormap(np.zeros(1))[0], (20, 40, 3))
    )


def test_overlay_alpha_is_heatmap_weight():
    image, heat = _hot_corner_case()
    np.testing.assert_array_equal(
        overlay(image, heat, alpha=0.25, colormap="jet"),
        heatmap_display(heat, image, colormap="jet", image_weight=0.75),
    )
    only_image = overlay(image, heat, alpha=0.0)
    np.testing.assert_array_equal(only_image, np.full((20, 40, 3), 128, dtype=np.uint8))


# --------------------------------------------------------------------------- saver


def test_save_rgb_roundtrip_nested_dirs(tmp_path):
    rng = np.random.default_rng(1)
    grid = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    out_dir = tmp_path / "a" / "b" / "c"
    path = save_rgb(grid, out_dir, "grid.png")
    assert path == out_dir / "grid.png" and path.is_file()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(im), grid)
    assert os.listdir(out_dir) == ["grid.png"]  # no temp file left behind


def test_save_grayscale_roundtrip_and_float_clipping(tmp_path):
    grid = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    path = save_grayscale(grid[..., None], tmp_path / "x", "gray")
    assert path.name == "gray.png"
    with Image.open(path) as im:
        assert im.mode == "L"
        np.testing.assert_array_equal(np.asarray(im), grid)
    path = save_grayscale(np.array([[300.0, -5.0], [0.0, 255.0]]), tmp_path, "f.png")
    with Image.open(path) as im:
        np.testing.assert_array_equal(np.asarray(im), [[255, 0], [0, 255]])


def test_save_overwrites_existing_file(tmp_path):
    save_rgb(np.zeros((2, 2, 3), dtype=np.uint8), tmp_path, "o.png")
    path = save_rgb(np.full((3, 3, 3), 200, dtype=np.uint8), tmp_path, "o.png")
    with Image.open(path) as im:
        assert im.size == (3, 3) and np.asarray(im).min() == 200


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((2, 2, 2)), np.zeros((1, 2, 2, 3))])
def test_save_rejects_bad_shapes_without_writing(tmp_path, bad):
    out_dir = tmp_path / "never"
    for save in (save_grayscale, save_rgb):
        with pytest.raises(ValueError, match="grid"):
            save(bad, out_dir, "bad.png")
    assert not out_dir.exists()


def test_utils_do_not_import_backends():
    import ast
    import kerascope.utils.display as display_mod
    import kerascope.utils.image as image_mod
    import kerascope.utils.saver as saver_mod

    banned = {"tensorflow", "jax", "torch"}
    for mod in (image_mod, display_mod, saver_mod):
        with open(mod.__file__, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            roots = {n.split(".")[0] for n in names}
            assert not roots & banned, (mod.__name__, names)
            # keras only lazily, inside the functions that take or return backend tensors
            assert not (id(node) in top_level and "keras" in roots), (mod.__name__, names)
