"""kerascope.inputs.files.load_images: files and folders, formats, channels, sizes, preprocessing."""

import keras
import numpy as np
import pytest
from PIL import Image

from kerascope.inputs import files as kio


def _model(shape=(8, 8, 3), rescaling=False):
    inputs = keras.Input(shape)
    h = keras.layers.Rescaling(1 / 255.0)(inputs) if rescaling else inputs
    h = keras.layers.Conv2D(2, 3, padding="same")(h)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(h))
    return keras.Model(inputs, outputs)


def _pixels(seed, size=(8, 8), channels=3):
    return np.random.default_rng(seed).integers(0, 256, size + (channels,), dtype=np.uint8)


@pytest.fixture
def folder(tmp_path):
    """One smooth RGB picture saved in every supported format, plus a text file."""
    rows, cols = np.mgrid[0:8, 0:8]
    pixels = np.stack([rows * 30, cols * 30, 255 - rows * 15], axis=-1).astype(np.uint8)
    for name, fmt in (("a.png", "PNG"), ("b.bmp", "BMP"), ("c.tiff", "TIFF"), ("d.webp", "WEBP"),
                      ("e.jpg", "JPEG")):
        options = {"lossless": True} if fmt == "WEBP" else {}
        Image.fromarray(pixels).save(tmp_path / name, fmt, **options)
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path, pixels


def test_folder_reads_every_format_and_warns_about_the_rest(folder):
    path, pixels = folder
    with pytest.warns(UserWarning, match="notes.txt"):
        images = kio.read_images(path, _model())
    assert [f.name for f in images.files] == ["a.png", "b.bmp", "c.tiff", "d.webp", "e.jpg"]
    assert images.x.shape == (5, 8, 8, 3) and images.x.dtype == np.float32
    expected = pixels.astype(np.float32) / 255.0
    for lossless in images.x[:4]:
        np.testing.assert_allclose(lossless, expected, atol=1e-6)
    assert np.abs(images.x[4] - expected).mean() < 0.05  # JPEG is lossy


def test_named_non_image_missing_file_and_empty_folder_are_errors(folder, tmp_path_factory):
    path, _ = folder
    with pytest.raises(ValueError, match=r"images: .*notes\.txt.* is not an image file"):
        kio.load_images([path / "a.png", path / "notes.txt"], _model())
    with pytest.raises(ValueError, match="no such file"):
        kio.load_images(path / "missing.png", _model())
    empty = tmp_path_factory.mktemp("empty")
    (empty / "readme.md").write_text("x")
    with pytest.raises(ValueError, match="holds no image files"):
        kio.load_images(empty, _model())


def test_unreadable_image_file_is_an_error(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="broken.png.*cannot be read as an image"):
        kio.load_images(tmp_path / "broken.png", _model())


def test_channels_are_converted_to_the_models(tmp_path):
    gray = _pixels(1, channels=1)[..., 0]
    rgba = _pixels(2, channels=4)
    Image.fromarray(gray, "L").save(tmp_path / "gray.png")
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    x = kio.load_images([tmp_path / "gray.png", tmp_path / "rgba.png"], _model(), "0-255")
    np.testing.assert_array_equal(x[0], np.repeat(gray[..., None], 3, axis=-1))  # L -> RGB
    np.testing.assert_array_equal(x[1], rgba[..., :3])  # alpha dropped
    x = kio.load_images(tmp_path / "rgba.png", _model((8, 8, 1)), "0-255")
    luminance = rgba[..., :3].astype(np.float64) @ [0.299, 0.587, 0.114]
    np.testing.assert_allclose(x[0, ..., 0], np.rint(luminance), atol=0.5)
    x = kio.load_images(tmp_path / "gray.png", _model((8, 8, 4)), "0-255")
    np.testing.assert_array_equal(x[0, ..., 3], 255)  # opaque alpha added
    with pytest.raises(ValueError, match=r"cannot convert .*gray.png.* to the model's 2 channels"):
        kio.load_images(tmp_path / "gray.png", _model((8, 8, 2)))


def test_images_are_resized_to_the_model_or_kept_for_any_size(tmp_path):
    Image.fromarray(_pixels(3, (20, 30))).save(tmp_path / "big.png")
    Image.fromarray(_pixels(4, (6, 5))).save(tmp_path / "small.png")
    x = kio.load_images(tmp_path, _model())
    assert x.shape == (2, 8, 8, 3)
    any_size = kio.load_images(tmp_path, _model((None, None, 3)))
    assert isinstance(any_size, list)
    assert [a.shape for a in any_size] == [(1, 20, 30, 3), (1, 6, 5, 3)]
    assert kio.load_images(tmp_path, _model(), size=(4, 4)).shape == (2, 4, 4, 3)


def test_sixteen_bit_images_are_scaled_to_eight_bits(tmp_path):
    values = np.full((8, 8), 65535, dtype=np.uint16)
    values[:4] = 0
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    x = kio.load_images(tmp_path / "deep.png", _model((8, 8, 1)), "0-1")
    np.testing.assert_allclose(x[0, 4:], 1.0)
    np.testing.assert_allclose(x[0, :4], 0.0)


@pytest.mark.parametrize("preset", ["0-1", "-1-1", "0-255", "vgg16", "resnet50", "mobilenet_v2",
                                    "efficientnet", "xception", "densenet"])
def test_presets_match_their_definitions(tmp_path, preset):
    pixels = _pixels(5)
    Image.fromarray(pixels).save(tmp_path / "p.png")
    x = kio.load_images(tmp_path / "p.png", _model(), preset)[0]
    p = pixels.astype(np.float32)
    if preset in kio.PRESETS:
        expected = {"0-1": p / 255, "-1-1": p / 127.5 - 1, "0-255": p}[preset]
    else:
        module = getattr(keras.applications, kio.APPLICATIONS[preset])
        expected = np.asarray(module.preprocess_input(p[None].copy()))[0]
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="preprocess: unknown preset"):
        kio.load_images(tmp_path / "p.png", _model(), "imagenet")


def test_default_preprocessing_follows_a_leading_rescaling_layer(tmp_path):
    pixels = _pixels(6)
    Image.fromarray(pixels).save(tmp_path / "p.png")
    assert kio.infer_preprocess(_model(rescaling=True)) == "0-255"
    assert kio.infer_preprocess(_model()) == "0-1"
    np.testing.assert_allclose(kio.load_images(tmp_path / "p.png", _model(rescaling=True))[0], pixels)
    np.testing.assert_allclose(kio.load_images(tmp_path / "p.png", _model())[0], pixels / 255.0,
                               rtol=1e-6)


def test_value_range_of_presets():
    black, white = kio.value_range("-1-1")
    np.testing.assert_allclose(black, -1.0)
    np.testing.assert_allclose(white, 1.0)
    black, _ = kio.value_range("vgg16")
    np.testing.assert_allclose(black, [-103.939, -116.779, -123.68], atol=1e-3)


def test_a_model_whose_input_is_not_an_image_is_refused(tmp_path):
    Image.fromarray(_pixels(7)).save(tmp_path / "p.png")
    inputs = keras.Input((10,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match=r"model: the model's input shape \(None, 10\) is not"):
        kio.load_images(tmp_path / "p.png", model)


def test_loaded_images_feed_the_model(tmp_path):
    Image.fromarray(_pixels(8)).save(tmp_path / "p.png")
    model = _model()
    x = kio.load_images(tmp_path / "p.png", model)
    probabilities = keras.ops.convert_to_numpy(model(x))
    assert probabilities.shape == (1, 3)
    np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)
