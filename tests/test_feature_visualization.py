"""Feature visualization (issue 6): objectives, parametrizations, the compiled ascent."""

import keras
import numpy as np
import pytest
from PIL import Image

import kerascope.demo as demo
from kerascope import backend
from kerascope import feature_visualization as fv
from kerascope.core.feature_visualization import FilterVisualization
from kerascope.feature_visualization.objectives import Context
from tests.models import set_numpy_weights


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """PyTorch's intra-op threads thrash on a small shared CPU (a 10-image step of the
    digits CNN takes ~20x longer with 2 threads under load): use one, then restore."""
    if keras.backend.backend() != "torch":
        yield
        return
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    return demo.load_model()


def tiny_rgb_cnn(size=32, seed=3):
    inputs = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(8, 3, activation="relu", name="rgb_conv_a")(inputs)
    h = keras.layers.Conv2D(8, 3, strides=2, activation="relu", name="rgb_conv_b")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(4, activation="softmax", name="rgb_logits")(h)
    return set_numpy_weights(keras.Model(inputs, outputs, name="tiny_rgb"), seed, 1.0)


def nested_cnn():
    inner_in = keras.Input((10, 10, 1))
    inner_out = keras.layers.Conv2D(4, 3, activation="relu", name="inner_conv")(inner_in)
    inner = keras.Model(inner_in, inner_out, name="inner")
    inputs = keras.Input((10, 10, 1))
    h = keras.layers.Flatten()(inner(inputs))
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(h)
    return set_numpy_weights(keras.Model(inputs, outputs, name="outer"), 2, 1.0)


def layer_model(model, name):
    return keras.Model(model.inputs, model.get_layer(name).output)


# ----------------------------------------------------------------- acceptance


def test_seed_post_recipe_makes_every_digit_class_certain(digits):
    recipe = fv.seed_post_recipe(image_shape=(28, 28, 1), value_range=(0.0, 1.0))
    assert recipe["steps"] == 200 and recipe["normalize_gradients"] == "l2"
    images = fv.visualize(digits, [fv.class_logit(c) for c in range(10)],
                          value_range=(0.0, 1.0), seed=0, progress=False, **recipe)
    assert images.shape == (10, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    probs = np.asarray(digits.predict(images, verbose=0))
    np.testing.assert_array_equal(probs.argmax(axis=1), np.arange(10))
    assert probs[np.arange(10), np.arange(10)].min() >= 0.99


def test_article_recipe_raises_conv_channels_tenfold(digits):
    channels = list(range(8))
    recipe = fv.seed_article_recipe()
    assert recipe["steps"] == 100 and recipe["normalize_gradients"] == "rms"
    recipe.update(learning_rate=10 / 255, parametrization=fv.PixelImage(centre=0.1, spread=0.125))
    images = fv.visualize(digits, [fv.channel("conv_2", c) for c in channels],
                          value_range=(0.0, 1.0), progress=False, **recipe)
    conv = layer_model(digits, "conv_2")
    rng = np.random.default_rng(123)  # starting noise: same law as the initial image
    noise = (0.1 + (rng.random((32, 28, 28, 1)) - 0.5) * 0.125).astype(np.float32)
    before = np.asarray(conv.predict(noise, verbose=0)).mean(axis=(0, 1, 2))[channels]
    after = np.asarray(conv.predict(images, verbose=0)).mean(axis=(1, 2))[channels, channels]
    ratios = after / np.maximum(before, 1e-6)
    assert ratios.min() > 2.0  # every channel rises well above its noise response
    assert np.median(ratios) >= 10.0 and (ratios >= 10.0).sum() >= 4


# Shared by the seed and retrace tests: one compilation serves both.
SMALL_RUN = dict(steps=4, learning_rate=0.05, optimizer="adam",
                 transforms=[fv.Jitter(2), fv.RandomRotate(5)],
                 regularizers=[0.01 * fv.total_variation()], progress=False)


def test_same_seed_same_images_other_seed_other_images(digits):
    objectives = [fv.channel("conv_1", 3), fv.class_logit(7)]
    a = fv.visualize(digits, objectives, seed=11, **SMALL_RUN)
    b = fv.visualize(digits, objectives, seed=11, **SMALL_RUN)
    c = fv.visualize(digits, objectives, seed=12, **SMALL_RUN)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_fourier_decorrelated_image_on_rgb_model_stays_in_range():
    model = tiny_rgb_cnn()
    objectives = [fv.class_logit(c) for c in range(4)]
    settings = dict(parametrization=fv.FourierImage(decorrelate=True),
                    transforms=fv.standard_transforms(32), optimizer="adam",
                    learning_rate=0.2, seed=0, progress=False, return_values=True)
    start, start_values = fv.visualize(model, objectives, steps=1, **settings)
    images, values = fv.visualize(model, objectives, steps=30, **settings)
    assert images.shape == (4, 32, 32, 3) and np.isfinite(images).all()
    assert images.min() > 0.0 and images.max() < 1.0
    assert (values > start_values + 0.02).all()
    assert images.std(axis=(1, 2)).mean() > 3 * start.std(axis=(1, 2)).mean()


def test_fourier_image_maps_any_spectrum_into_the_value_range():
    rng = np.random.default_rng(2)
    param = fv.FourierImage().build((9, 10, 3), (-1.0, 1.0))
    assert param._decorrelate  # 3 channels: decorrelated by default
    params = [keras.ops.convert_to_tensor(p * 1000.0) for p in param.init(rng, 2)]
    image = keras.ops.convert_to_numpy(param.image(params))
    assert image.shape == (2, 9, 10, 3)
    assert image.min() >= -1.0 and image.max() <= 1.0 and image.std() > 0.5
    assert not fv.FourierImage().build((9, 10, 1), (0.0, 1.0))._decorrelate


def test_second_call_with_same_shapes_does_not_retrace(digits):
    fv.visualize(digits, [fv.channel("conv_1", 0), fv.class_logit(0)], seed=0, **SMALL_RUN)
    traces = backend.trace_count()
    # Other units, weights, regularizer weight, seed and learning rate: same step.
    other = [3.0 * fv.channel("conv_1", 9), fv.class_logit(6)]
    images = fv.visualize(digits, other, seed=5, **dict(
        SMALL_RUN, learning_rate=0.3, regularizers=[0.5 * fv.total_variation()]))
    assert backend.trace_count() == traces
    assert images.shape == (2, 28, 28, 1)


# ----------------------------------------------------------------- pieces


def test_objectives_and_regularizers_closed_forms():
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(2, 4, 5, 3)).astype(np.float32)
    dense = rng.normal(size=(2, 6)).astype(np.float32)
    logits = rng.normal(size=(2, 10)).astype(np.float32)
    image = rng.random((2, 6, 7, 1)).astype(np.float32)
    conv, fc = keras.layers.Layer(name="conv"), keras.layers.Layer(name="fc")
    t = keras.ops.convert_to_tensor
    ctx = Context(t(image), {id(conv): t(acts), id(fc): t(dense)}, t(logits), t(logits), -1)
    vector = np.array([1.0, -2.0, 0.5], np.float32)

    def value(objective):
        for _, term in objective.terms:
            term.layer = {"conv": conv, "fc": fc}.get(term.layer_ref)
        flat = [t(v) for v in objective.values()]
        return keras.ops.convert_to_numpy(objective.evaluate(ctx, flat))

    tv = (np.abs(np.diff(image, axis=1)).sum(axis=(1, 2, 3))
          + np.abs(np.diff(image, axis=2)).sum(axis=(1, 2, 3))) / 42.0
    expected = {
        "channel": (fv.channel("conv", 2), acts[..., 2].mean(axis=(1, 2))),
        "neuron": (fv.neuron("conv", 1, (3, 0)), acts[:, 3, 0, 1]),
        "centre": (fv.neuron("conv", 1), acts[:, 2, 2, 1]),
        "dense": (fv.neuron("fc", 4), dense[:, 4]),
        "logit": (fv.class_logit(7), logits[:, 7]),
        "direction": (fv.direction("conv", vector), (acts @ vector).mean(axis=(1, 2))),
        "l1": (fv.l1(0.5), np.abs(image - 0.5).sum(axis=(1, 2, 3))),
        "l2": (fv.l2(), (image ** 2).sum(axis=(1, 2, 3))),
        "tv": (fv.total_variation(), tv),
        "algebra": (2.0 * fv.class_logit(1) - fv.channel("conv", 0) / 4 + fv.l2(),
                    2 * logits[:, 1] - acts[..., 0].mean(axis=(1, 2)) / 4
                    + (image ** 2).sum(axis=(1, 2, 3))),
    }
    for name, (objective, reference) in expected.items():
        np.testing.assert_allclose(value(objective), reference, rtol=1e-5, atol=1e-5,
                                   err_msg=name)
    assert sum([fv.class_logit(0), fv.class_logit(1)]).terms[1][0] == 1.0


def test_fourier_inverse_transform_inverts_numpy_rfft2():
    rng = np.random.default_rng(1)
    for h, w in ((6, 8), (5, 7)):
        param = fv.FourierImage(decorrelate=False).build((h, w, 2), (0.0, 1.0))
        image = rng.normal(size=(3, 2, h, w))
        spectrum = np.fft.rfft2(image) / param._scale
        params = [keras.ops.convert_to_tensor(spectrum.real.astype(np.float32)),
                  keras.ops.convert_to_tensor(spectrum.imag.astype(np.float32))]
        spatial = keras.ops.convert_to_numpy(param.spatial(params))
        np.testing.assert_allclose(spatial, np.transpose(image, (0, 2, 3, 1)) / 4.0,
                                   rtol=1e-4, atol=1e-4)


def test_transforms_closed_forms():
    from kerascope.feature_visualization.transforms import affine_sample

    rng = np.random.default_rng(4)
    x = rng.random((2, 7, 9, 3)).astype(np.float32)
    t = keras.ops.convert_to_tensor
    numpy = keras.ops.convert_to_numpy
    one, zero = t(np.float32(1)), t(np.float32(0))
    np.testing.assert_allclose(numpy(affine_sample(t(x), (one, zero, zero, one))), x)
    flip = affine_sample(t(x), (-one, zero, zero, -one))  # 180 degrees about the centre
    np.testing.assert_allclose(numpy(flip), x[:, ::-1, ::-1], atol=1e-6)
    rolled = fv.Jitter(3).apply(t(x), t(np.float32([2, -3])), (0.0, 1.0))
    np.testing.assert_array_equal(numpy(rolled), np.roll(x, (2, -3), axis=(1, 2)))
    padded = fv.Pad(2).apply(t(x), None, (0.0, 1.0))
    assert numpy(padded).shape == (2, 11, 13, 3) and numpy(padded)[0, 0, 0, 0] == 0.5
    # Zooming in by 2 about the centre of a linear ramp halves its slope.
    ramp = np.tile(np.arange(9, dtype=np.float32), (1, 7, 1))[..., None]
    zoomed = numpy(fv.RandomScale([2.0]).apply(t(ramp), t(np.float32([2.0])), (0.0, 8.0)))
    np.testing.assert_allclose(np.diff(zoomed[0, 3, 2:7, 0]), 0.5, atol=1e-6)


def test_layer_inside_nested_model():
    model = nested_cnn()
    images, values = fv.visualize(model, fv.channel("inner_conv", 1), steps=30,
                                  optimizer="sgd", normalize_gradients="rms",
                                  learning_rate=0.05, parametrization=fv.PixelImage(),
                                  transforms=[], progress=False, return_values=True)
    inner = model.get_layer("inner")
    acts = np.asarray(inner.predict(images, verbose=0))[..., 1].mean()
    np.testing.assert_allclose(values[0], acts, rtol=1e-4, atol=1e-5)
    start = np.asarray(inner.predict(np.full((1, 10, 10, 1), 0.5, np.float32), verbose=0))
    assert acts > start[..., 1].mean() + 0.1


def test_filter_visualization_grid_and_save(digits, tmp_path):
    explainer = FilterVisualization()
    grid = explainer.explain(None, digits, "conv_1", filters=[0, 1, 2, 5], steps=5)
    assert grid.dtype == np.uint8 and grid.shape == (56, 56)
    assert grid.max() == 255 and grid.min() == 0
    explainer.save(grid, str(tmp_path), "filters.png")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "filters.png")), grid)


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "objective, argument",
    [
        (lambda: fv.channel("no_such_layer", 0), "layer"),
        (lambda: fv.channel("conv_1", 16), "index"),
        (lambda: fv.channel("conv_1", -1), "index"),
        (lambda: fv.neuron("conv_1", 0, (30, 0)), "position"),
        (lambda: fv.class_logit(10), "index"),
        (lambda: fv.direction("conv_1", np.ones(3)), "vector"),
    ],
)
def test_bad_objectives_name_the_argument(digits, objective, argument):
    with pytest.raises(ValueError, match=f"^{argument}:"):
        fv.visualize(digits, objective(), steps=1, progress=False)


@pytest.mark.parametrize(
    "options, argument",
    [
        (dict(steps=0), "steps"),
        (dict(steps=-3), "steps"),
        (dict(learning_rate=0.0), "learning_rate"),
        (dict(optimizer="lbfgs"), "optimizer"),
        (dict(normalize_gradients="l3"), "normalize_gradients"),
        (dict(value_range=(1.0, 0.0)), "value_range"),
        (dict(parametrization=fv.FourierImage(decorrelate=True)), "decorrelate"),
    ],
)
def test_bad_options_name_the_argument(digits, options, argument):
    with pytest.raises(ValueError, match=f"^{argument}:"):
        fv.visualize(digits, fv.class_logit(0), **dict(dict(steps=1, progress=False), **options))


def test_filter_visualization_rejects_bad_filters_and_layers(digits):
    with pytest.raises(ValueError, match="^filters:"):
        FilterVisualization().explain(None, digits, "conv_1", filters=[3, 16], steps=1)
    with pytest.raises(ValueError, match="^layer_name:"):
        FilterVisualization().explain(None, digits, "conv_9", steps=1)
