"""Defects found by checking (issue 23): one test per item, failing before its fix."""

import html.parser
import logging
import types

import numpy as np
import pytest

EVIL = ["<script>alert(1)</script>", '"><img src=x onerror=alert(2)>']


class _Page(html.parser.HTMLParser):
    """Collects elements that would run script and the page's text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.bad = []
        self.text = []
        self.attrs = []

    def handle_starttag(self, tag, attrs):
        if tag == "script" or any(name.startswith("on") for name, _ in attrs):
            self.bad.append((tag, attrs))
        self.attrs.extend(value or "" for _, value in attrs)

    def handle_data(self, data):
        self.text.append(data)


def _check_page(page, planted):
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser.bad == []
    text = "".join(parser.text)
    for string in planted:
        assert string in text


def test_item1_explanation_report_escapes_user_text():
    from kerascope.report.explanation import Explained, MethodRun, render_report

    a, b = EVIL
    maps = [np.random.default_rng(0).random((1, 8, 8))]
    run = MethodRun(name=a, maps=maps, parameters={b: a}, family=b, summary=a, paper=b)
    data = Explained(
        names=[a], pixels=[np.zeros((8, 8, 3), np.uint8)], inputs=[np.zeros((1, 8, 8, 3))],
        probabilities=np.array([[0.7, 0.3]]), targets=np.array([[0]]), runs=[run],
        labels=[a, b], masks=[np.ones((8, 8), bool)], model_name=b, backend=a,
        input_shape=b, preprocess=a, version=b, keras_version=a, date=b,
        probability_note=a, notes=[b])
    _check_page(render_report(data), EVIL)
    data.targets = np.array([[1]])
    _check_page(render_report(data), EVIL)


def test_item1_trust_report_escapes_user_text():
    from kerascope.report.trust import metrics_section, render_trust_report, sanity_section

    a, b = EVIL
    info = types.SimpleNamespace(higher_is_better=True, summary=a, paper=b, family=a)
    rows = [{"method": a, "metric": b, "value": 0.5, "std": 0.1, "n": 1,
             "higher_is_better": True}]
    result = types.SimpleNamespace(
        measures=[a], rows=lambda: [{"step": 0, "label": b, a: 0.5, a + "_std": 0.0}])
    sections = [metrics_section(rows, {b: info}, {b: b"png"}),
                sanity_section([(a, b, result, b"png", b"png")])]
    _check_page(render_trust_report(a, {a: b, b: a}, sections), EVIL)


def test_item1_visual_log_escapes_user_text(tmp_path):
    from kerascope.report import VisualHandler, VisualRecord

    a, b = EVIL
    path = tmp_path / "log.html"
    handler = VisualHandler(path, title=a)
    logger = logging.getLogger(b)
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        logger.debug(VisualRecord(a, np.zeros((4, 4, 3), np.uint8), footnote=b))
        logger.debug(VisualRecord(b, None, footnote={a: a}))
        logger.info(a + b)
    finally:
        logger.removeHandler(handler)
        handler.close()
    _check_page(path.read_text(encoding="utf-8"), EVIL)


def _dense_model(outputs=1):
    import keras

    inp = keras.Input((4,))
    heads = [keras.layers.Dense(3, activation="softmax")(inp) for _ in range(outputs)]
    return keras.Model(inp, heads if outputs > 1 else heads[0])


@pytest.mark.parametrize("outputs, index", [(1, 1), (2, 2), (2, -1)])
def test_item2_output_index_out_of_range_is_a_value_error(outputs, index):
    import kerascope

    model = _dense_model(outputs)
    x = np.ones((2, 4), "float32")
    with pytest.raises(ValueError, match=rf"output_index.*{outputs} output"):
        kerascope.explain("saliency", model, x, output_index=index)
    _, maps = kerascope.explain("saliency", model, x, output_index=outputs - 1)
    assert np.shape(maps) == (2, 4) and np.all(np.isfinite(maps))


@pytest.mark.parametrize("path", ["cat.png", b"cat.png", "pathlib"])
def test_item3_a_path_is_not_an_input_array(path):
    import pathlib

    import kerascope

    path = pathlib.Path("cat.png") if path == "pathlib" else path
    with pytest.raises(ValueError, match=r"x: .*not an input array.*kerascope\.io\.load_images"):
        kerascope.explain("saliency", _dense_model(), path)
    assert kerascope.load_images is kerascope.io.load_images


def test_item4_fixed_seed_smoothgrad_is_bit_identical_under_threads():
    import threading

    import keras

    import kerascope

    keras.utils.set_random_seed(0)
    inp = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(h))
    x = np.random.default_rng(0).random((4, 12, 12, 3)).astype("float32")
    reference = kerascope.smoothgrad(model, x, seed=3, num_samples=8)[1]
    ig_reference = kerascope.integrated_gradients(model, x, n_steps=8)[1]
    for _ in range(6):
        start = threading.Barrier(3)
        results = {}

        def smoothgrad(i):
            start.wait()
            results[i] = kerascope.smoothgrad(model, x, seed=3, num_samples=8)[1]

        def integrated():
            start.wait()
            results["ig"] = kerascope.integrated_gradients(model, x, n_steps=8)[1]

        threads = [threading.Thread(target=smoothgrad, args=(0,)),
                   threading.Thread(target=smoothgrad, args=(1,)),
                   threading.Thread(target=integrated)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert np.array_equal(results[0], reference)
        assert np.array_equal(results[1], reference)
        np.testing.assert_allclose(results["ig"], ig_reference, rtol=1e-5, atol=1e-7)


def test_item14_seed_post_recipe_takes_its_sizes_from_the_model_input():
    import keras

    import kerascope.feature_visualization as fv
    from kerascope import demo

    model = demo.load_model()  # the bundled 28x28 digits model
    recipe = fv.seed_post_recipe()
    recipe["steps"] = 60  # fewer steps than the post's 200, still on target
    images = fv.visualize(model, [fv.class_logit(c) for c in range(10)], seed=0, **recipe)
    assert images.shape == (10, 28, 28, 1)
    predicted = np.argmax(keras.ops.convert_to_numpy(model(images)), axis=-1)
    assert (predicted == np.arange(10)).sum() >= 9
    told = fv.seed_post_recipe(image_shape=(28, 28, 1))
    assert told["learning_rate"] == pytest.approx(
        recipe["learning_rate"].resolve((28, 28, 1)))


@pytest.mark.parametrize("method", ["feature_ablation", "lime", "kernel_shap"])
def test_item11_image_methods_default_to_superpixels_and_find_the_object(method):
    import kerascope
    from kerascope import demo
    from kerascope.report.explanation import mask_share

    model = demo.load_colour_model()
    images, labels, masks = demo.load_colour_samples()
    x, y, masks = images[:4], labels[:4], masks[:4]
    options = {} if method == "feature_ablation" else {"num_samples": 400, "seed": 0}
    result = kerascope.explain(method, model, x, y, **options)  # no feature_mask
    maps = np.asarray(result[1])
    used = result.extras["feature_mask"]
    assert used.shape == (4, 64, 64, 1) and 10 < len(np.unique(used[0])) < 200
    shares = [mask_share(maps[i], masks[i]) for i in range(4)]
    uniform = float(masks.mean())
    assert np.mean(shares) > 2 * uniform, (shares, uniform)


def test_item12_report_has_a_compact_view_per_input_grouped_by_family():
    import re

    from kerascope.report.explanation import Explained, MethodRun, render_report

    rng = np.random.default_rng(0)
    runs = [MethodRun(name=f"m{r}", maps=[rng.random((1, 8, 8)) for _ in range(3)],
                      family=("gradients", "cam", "perturbation")[r % 3]) for r in range(7)]
    data = Explained(
        names=["a.png", "b.png", "c.png"], pixels=[np.zeros((8, 8, 3), np.uint8)] * 3,
        inputs=[np.zeros((1, 8, 8, 3))] * 3, probabilities=np.full((3, 2), 0.5),
        targets=np.zeros((3, 1), int), runs=runs, labels=["x", "y"])
    page = render_report(data)
    sections = re.findall(r"<section class='by-input' id='input-(\d)'>(.*?)</section>", page, re.S)
    assert [s[0] for s in sections] == ["0", "1", "2"]
    for _, body in sections:
        assert sorted(re.findall(r'<img class="map" alt="(m\d)"', body)) == [r.name for r in runs]
        assert re.findall(r"class='family-name'>(\w+)<", body) == ["gradients", "cam",
                                                                   "perturbation"]
        assert body.count('alt="colour bar"') == len(runs) and body.count("target 0 (x)") == 7
    assert '<table class="explanations">' in page  # the wide table stays as a second view
    _check_page(page, ["a.png", "b.png"])


def test_item15_metric_functions_show_the_rows_they_score(capsys):
    """Every registered metric takes ``verbose=``: 1 draws a Keras progress bar of the
    perturbed rows it scores, 0 and the default (arrays, not a terminal) print nothing;
    the values do not change."""
    import inspect

    import keras

    from kerascope import metrics

    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    x = np.random.default_rng(0).normal(size=(5, 4, 4, 1)).astype("float32")
    maps = np.abs(x[..., 0])
    quiet = metrics.deletion(model, x, 0, maps=maps, steps=4, verbose=0).value
    assert capsys.readouterr().out == ""
    default = metrics.deletion(model, x, 0, maps=maps, steps=4).value
    assert capsys.readouterr().out == ""
    shown = metrics.deletion(model, x, 0, maps=maps, steps=4, verbose=1).value
    printed = capsys.readouterr().out
    assert "25" in printed  # 5 inputs x 5 points of the curve (4 steps and the start)
    assert quiet == default == shown
    for info in metrics.catalog():
        assert "verbose" in inspect.signature(info.fn).parameters, info.name
