"""keras-explainable's API on kerascope (``from kerascope.compat import keras_explainable``):
the seed page's code, the shapes, the shortcuts' post-processing, filters, inspection,
meta methods and ``visualize``, on every backend."""

import inspect

import keras
import numpy as np
import pytest
from PIL import Image

import kerascope
from kerascope.compat import keras_explainable as ke
from tests.models import set_numpy_weights

BACKEND = keras.backend.backend()


def xception_stand_in(size=32, classes=10, seed=0):
    """Offline stand-in for the page's ``Xception(classifier_activation=None)``: a small
    convolutional network ending in ``avg_pool`` -> ``predictions`` (logits)."""
    inputs = keras.Input((size, size, 3))  # size None: any spatial size
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="block_conv")(h)
    h = keras.layers.GlobalAveragePooling2D(name="avg_pool")(h)
    outputs = keras.layers.Dense(classes, name="predictions")(h)
    return set_numpy_weights(keras.Model(inputs, outputs, name="xception"), seed, scale=1.0)


def sample_images(n=4, size=32, seed=0):
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, 3), np.uint8)
    for i in range(n):  # a bright square somewhere on a noisy background
        images[i] = rng.integers(0, 60, (size, size, 3))
        r, c = rng.integers(0, size - 12, 2)
        images[i, r:r + 12, c:c + 12] = 200 + 20 * (i % 3)
    return images


def resize(maps, size):
    """The page's ``tf.image.resize`` (bilinear, no antialiasing) in Keras 3."""
    return keras.ops.image.resize(maps, size, interpolation="bilinear", antialias=False)


def test_seed_page_code_runs(tmp_path):
    # The gradient back-prop page of keras-explainable
    # (../shared/seeds/keras-explainable-gradient-backprop-doc.md), import changed
    # (keras_explainable -> kerascope.compat.keras_explainable). Offline stand-ins: the
    # ImageNet Xception -> xception_stand_in(), its images -> sample_images(); the
    # TensorFlow-only calls of the last cell become Keras 3 (tf.function -> the function
    # itself: kerascope compiles its own passes; tf.image.resize -> keras.ops.image.resize;
    # .numpy() -> keras.ops.convert_to_numpy).
    from kerascope.compat import keras_explainable as ke
    from kerascope.compat.keras_explainable import filters, methods

    images = sample_images()
    model = xception_stand_in()

    print(f'Xception pretrained over ImageNet was loaded.')  # noqa: F541
    print(f"Spatial map sizes: {model.get_layer('avg_pool').input.shape}")

    inputs = images / 127.5 - 1
    logits = model.predict(inputs, verbose=0)
    indices = np.argsort(logits, axis=-1)[:, ::-1]
    explaining_units = indices[:, :1]  # First most likely class.

    logits, maps = ke.gradients(model, inputs, explaining_units)

    ke.utils.visualize([*images, *maps], to_file=tmp_path / "gradients.png")

    logits, maps = ke.explain(
        methods.gradient.gradients,
        model,
        inputs,
        explaining_units,
        postprocessing=filters.absolute_normalize,
    )

    gradients = ke.methods.gradient.gradients
    _, direct_maps = gradients(model, inputs, explaining_units)

    direct_maps = ke.filters.absolute_normalize(maps)
    direct_maps = resize(direct_maps, (32, 32))
    direct_maps = keras.ops.convert_to_numpy(direct_maps)

    np.testing.assert_array_almost_equal(maps, direct_maps)
    print('Maps computed with `explain` and `methods.gradient.gradients` are the same!')

    # The page means the direct call's maps (it filters ``maps`` again by a slip):
    _, direct = ke.methods.gradient.gradients(model, inputs, explaining_units)
    expected = keras.ops.convert_to_numpy(resize(ke.filters.absolute_normalize(direct),
                                                 (32, 32)))
    np.testing.assert_array_almost_equal(maps, expected)
    assert maps.shape == (4, 32, 32, 1) and logits.shape == (4, 1)
    np.testing.assert_allclose(logits[:, 0], model.predict(inputs, verbose=0).max(-1),
                               rtol=1e-5)
    picture = np.asarray(Image.open(tmp_path / "gradients.png"))
    assert picture.shape[0] > 100 and len(np.unique(picture)) > 50


def test_maps_are_kerascope_maps_units_last():
    model = xception_stand_in()
    x = sample_images() / 127.5 - 1
    y = np.array([[3, 1], [0, 2], [5, 5], [9, 0]])
    logits, maps = ke.methods.gradient.gradients(model, x, y)
    outputs, reference = kerascope.gradients(model, x, y, channel_reduction="abs_mean")
    assert maps.shape == (4, 32, 32, 2) and logits.shape == (4, 2)
    np.testing.assert_allclose(maps, np.moveaxis(reference, 1, -1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(logits, np.take_along_axis(outputs, y, -1), rtol=1e-6)
    # every unit when y is None
    logits, maps = ke.methods.gradient.gradients(model, x[:2])
    assert logits.shape == (2, 10) and maps.shape == (2, 32, 32, 10)


def test_cam_shortcuts_post_process_and_resize():
    model = xception_stand_in()
    x = sample_images() / 127.5 - 1
    y = np.array([[1], [2], [3], [4]])
    _, raw = ke.methods.cams.gradcam(model, x, y)
    _, reference = kerascope.grad_cam(model, x, y, layer_name="block_conv", upsample=False,
                                      relu=False)
    assert raw.shape == (4, 16, 16, 1)
    np.testing.assert_allclose(raw, np.moveaxis(reference, 1, -1), rtol=1e-4, atol=1e-6)
    _, maps = ke.gradcam(model, x, y)
    expected = keras.ops.convert_to_numpy(resize(ke.filters.positive_normalize(raw), (32, 32)))
    assert maps.shape == (4, 32, 32, 1) and maps.min() >= 0
    np.testing.assert_allclose(maps, expected, atol=1e-5)
    # CAM: 16 x 16 = 256 positions times Grad-CAM on this GAP -> Dense head
    _, cam = ke.methods.cams.cam(model, x, y)
    np.testing.assert_allclose(cam, 256 * raw, rtol=1e-4, atol=1e-5)
    for shortcut, resized in ((ke.cam, True), (ke.gradcampp, True), (ke.scorecam, False),
                              (ke.full_gradients, False)):
        logits, maps = shortcut(model, x, y)
        assert maps.shape == (4, 32, 32, 1), shortcut.__name__
        peaks = maps.max(axis=(1, 2, 3))
        assert maps.min() >= 0 and np.all(peaks <= 1 + 1e-6), shortcut.__name__
        # normalized at the method's resolution: exactly 1 unless resized afterwards
        # (a map with no positive part is all zeros)
        assert peaks.max() > 0.5 if resized else np.allclose(peaks[peaks > 0], 1.0), (
            shortcut.__name__)


def test_exposed_models_work_as_plain_ones():
    model = xception_stand_in()
    exposed = ke.inspection.expose(model)
    assert [t.shape[1:] for t in exposed.outputs] == [(10,), (16, 16, 16)]
    assert ke.inspection.get_logits_layer(model).name == "predictions"
    assert ke.inspection.get_global_pooling_layer(model).name == "avg_pool"
    x = sample_images(2) / 127.5 - 1
    for method in (ke.methods.cams.cam, ke.methods.cams.gradcam, ke.methods.cams.gradcampp):
        plain = method(model, x, [[4], [7]])
        via_exposed = method(exposed, x, [[4], [7]])
        np.testing.assert_allclose(via_exposed[1], plain[1], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(via_exposed[0], plain[0], rtol=1e-6)
    inner = keras.Sequential([keras.Input((32, 32, 3)), model], name="outer")
    assert ke.inspection.get_nested_layer(inner, ("xception", "avg_pool")).name == "avg_pool"
    layers, biases = ke.inspection.layers_with_biases(model)
    assert [layer.name for layer in layers][-1] == "predictions" and len(biases) == 3


def test_full_gradients_is_kerascope_full_grad():
    model = xception_stand_in()
    x = sample_images(2) / 127.5 - 1
    logits, maps = ke.methods.gradient.full_gradients(model, x, [[2, 5], [0, 1]])
    assert maps.shape == (2, 32, 32, 2) and maps.min() >= 0
    result = kerascope.full_grad(model, x, [[2, 5], [0, 1]])
    np.testing.assert_allclose(result.extras["input_attribution"]
                               + result.extras["bias_attribution"], logits, rtol=1e-4,
                               atol=1e-4)


def test_filters():
    x = np.array([0.0, -1.0, 2.0, -3.0]).reshape(1, 2, 2, 1)
    np.testing.assert_array_equal(ke.filters.positive(x).ravel(), [0, 0, 2, 0])
    np.testing.assert_array_equal(ke.filters.negative(x).ravel(), [0, -1, 0, -3])  # not positive
    np.testing.assert_allclose(ke.filters.negative_normalize(x).ravel(), [0, 1 / 3, 0, 1])
    np.testing.assert_allclose(ke.filters.positive_normalize(x).ravel(), [0, 0, 1, 0])
    np.testing.assert_allclose(ke.filters.absolute_normalize(x).ravel(), [0, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(ke.filters.normalize(x).ravel(), [0.6, 0.4, 1, 0])
    np.testing.assert_array_equal(ke.filters.normalize(np.ones((1, 2, 2, 1))), 0)


def test_meta_methods():
    model = xception_stand_in()
    x = sample_images(2) / 127.5 - 1
    y = np.array([[1], [2]])
    _, plain = ke.methods.gradient.gradients(model, x, y)
    quiet = ke.methods.meta.smooth(ke.methods.gradient.gradients, repetitions=3, noise=0.0)
    assert quiet.__name__ == "gradients_smooth"
    np.testing.assert_allclose(quiet(model, x, y)[1], plain, rtol=1e-5, atol=1e-7)
    noisy = ke.methods.meta.smooth(ke.methods.gradient.gradients, repetitions=4, noise=0.2)
    logits, maps = ke.explain(noisy, model, x, y)
    assert maps.shape == (2, 32, 32, 1) and not np.allclose(maps, plain)
    # tta: the unscaled pass and scale 0.5, each mirrored: 4 maps, divided by 4
    flexible = xception_stand_in(size=None)
    tta = ke.methods.meta.tta(ke.methods.cams.cam, scales=[0.5], hflip=True)
    _, maps = tta(flexible, x, y)
    _, reference = kerascope.tta(flexible, x, y, method="cam", scales=(1.0, 0.5), hflip=True,
                                 upsample=False, layer_name="block_conv")
    np.testing.assert_allclose(maps, np.moveaxis(reference, 1, -1), rtol=1e-4, atol=1e-5)
    _, maps = ke.explain(tta, flexible, x, y, batch_size=1)
    assert maps.shape == (2, 32, 32, 1)


def test_explain_streams_steps_and_callbacks():
    model = xception_stand_in()
    x = sample_images(5) / 127.5 - 1
    y = np.arange(5)[:, None]

    class Count(keras.callbacks.Callback):
        batches = 0

        def on_predict_batch_end(self, batch, logs=None):
            Count.batches += 1
            assert logs["outputs"][1].shape[1:] == (32, 32, 1)

    logits, maps = ke.explain(ke.methods.cams.gradcam, model, x, y, batch_size=2,
                              callbacks=[Count()], verbose=0)
    assert maps.shape == (5, 32, 32, 1) and Count.batches == 3
    stream = ((x[i:i + 2], y[i:i + 2]) for i in range(0, 5, 2))
    logits_s, maps_s = ke.explain(ke.methods.cams.gradcam, model, stream, steps=2, verbose=0)
    np.testing.assert_allclose(maps_s, maps[:4], rtol=1e-5, atol=1e-6)
    _, small = ke.explain(ke.methods.cams.gradcam, model, x, y, resizing=False, verbose=0)
    assert small.shape == (5, 16, 16, 1)


def test_signatures_follow_keras_explainable():
    params = inspect.signature(ke.explain).parameters
    assert list(params)[:8] == ["method", "model", "x", "y", "batch_size", "verbose", "steps",
                                "callbacks"]
    assert params["spatial_axis"].default == (-3, -2) and params["resizing"].default is True
    assert params["postprocessing"].default is None
    for function in (ke.methods.gradient.gradients, ke.methods.gradient.full_gradients,
                     ke.methods.cams.cam, ke.methods.cams.gradcam, ke.methods.cams.gradcampp,
                     ke.methods.cams.scorecam):
        names = list(inspect.signature(function).parameters)
        assert names[:6] == ["model", "inputs", "indices", "indices_axis",
                             "indices_batch_dims", "spatial_axis"], function.__name__
    visualize = inspect.signature(ke.utils.visualize).parameters
    assert list(visualize)[:10] == ["images", "titles", "overlays", "overlay_alpha", "rows",
                                    "cols", "figsize", "cmap", "overlay_cmap", "to_file"]
    assert visualize["overlay_alpha"].default == 0.75


def test_traced_inputs_are_refused_clearly():
    if BACKEND != "tensorflow":
        pytest.skip("tf.function tracing exists on the TensorFlow backend only")
    import tensorflow as tf

    model = xception_stand_in()
    traced = tf.function(ke.methods.gradient.full_gradients)  # gradients: traceable
    with pytest.raises(ValueError, match="tf.function"):
        traced(model, tf.zeros((1, 32, 32, 3)), tf.zeros((1, 1), tf.int32))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.function: TensorFlow")
@pytest.mark.parametrize("head", ["logits", "softmax"])
def test_gradients_traced_by_tf_function_match_the_direct_call(head):
    # issue 23 item 13: the docs page's tf.function(gradients, jit_compile=True, ...)
    import tensorflow as tf

    model = xception_stand_in(classes=5)
    if head == "softmax":
        model = keras.Model(model.inputs, keras.layers.Softmax()(model.outputs[0]))
    x = sample_images(3).astype("float32") / 255.0
    units = np.array([[0, 3], [1, 2], [4, 4]])
    traced = tf.function(ke.methods.gradient.gradients, jit_compile=True,
                         reduce_retracing=True)
    for indices in (units, None):
        logits, maps = ke.methods.gradient.gradients(model, x, indices)
        traced_logits, traced_maps = traced(model, tf.constant(x), indices)
        assert traced_maps.shape == maps.shape
        np.testing.assert_allclose(traced_maps.numpy(), maps, atol=1e-5)
        np.testing.assert_allclose(traced_logits.numpy(), logits, atol=1e-5)
