"""The HTML report and visual logging: self-contained pages that render in headless
Chromium with every image, the numbers they print, and the visual-logging callback."""

import logging
import re

import keras
import numpy as np
import pytest

from kerascope import report
from kerascope.cli.reading import InputFiles
from kerascope.cli.runner import explain_run
from tests import chromium
from tests.models import region_model

needs_chromium = pytest.mark.skipif(chromium.BINARY is None, reason=chromium.SKIP_REASON)


def _self_contained(page):
    assert not re.search(r'(src|href)\s*=\s*["\'](?!data:|#)', page), "a resource is fetched"
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert "<script" not in page


@pytest.fixture(scope="module")
def region_report(tmp_path_factory):
    """The report of four methods on a model whose class 0 reads only the top-left 7x7
    region of its input, with that region as the object mask."""
    folder = tmp_path_factory.mktemp("report")
    model, mask = region_model()
    rng = np.random.default_rng(0)
    images = rng.random((3, 28, 28, 1)).astype(np.float32)
    pixels = [np.rint(image * 255).astype(np.uint8) for image in images]
    inputs = InputFiles([f"random {i}" for i in range(3)], pixels, [x[None] for x in images],
                        "0-1: p / 255", masks=[mask] * 3)
    out = folder / "out"
    runs, targets, probabilities = explain_run(
        model, inputs, ["vanilla_gradients", "integrated_gradients", "occlusion", "grad_cam"],
        target=("index", 0), labels=["region", "everything"], batch_size=16, out=out,
        quiet=True, model_name="region_model")
    return out / "report.html", model, images, runs, mask


def test_report_states_the_header_and_the_pipeline(region_report):
    path, model, images, runs, _ = region_report
    page = path.read_text()
    _self_contained(page)
    for text in ("region_model", keras.backend.backend(), "(None, 28, 28, 1)",
                 f"{model.count_params():,}", "0-1: p / 255", "kerascope", "date",
                 "Pipeline: what the model was fed"):
        assert text in page, text
    for image in images:  # min / max / mean of what was fed
        assert f"<td>{image.min():.4g}</td><td>{image.max():.4g}</td><td>{image.mean():.4g}</td>" \
            in page
    for run in runs:
        assert f"{run.seconds:.2f}" in page
    assert "fill_value=0.0" in page  # per-method parameters
    assert page.count('class="map"') == 3 * 4
    assert "target 0 (region)" in page


def test_mask_share_is_reported_per_method(region_report):
    path, _, _, runs, mask = region_report
    page = path.read_text()
    # class 0 only sees the masked region: all gradient mass lies inside it
    gradients = next(run for run in runs if run.name == "vanilla_gradients")
    for maps in gradients.maps:
        assert report.mask_share(maps[0], mask) == pytest.approx(1.0)
        assert np.abs(maps[0][~mask]).max() == 0.0
    assert page.count("100% in mask") >= 6  # gradients and IG on three inputs
    shares = re.findall(r"<span class='share'>(\d+)%</span>", page)
    assert shares[:2] == ["100", "100"]


def test_mask_share_values():
    mask = np.zeros((4, 4), bool)
    mask[:2] = True
    values = np.zeros((4, 4))
    values[0, 0], values[3, 3] = 3.0, -1.0
    assert report.mask_share(values, mask) == pytest.approx(0.75)
    assert np.isnan(report.mask_share(np.zeros((4, 4)), mask))
    assert report.mask_share(np.ones((2, 2)), mask) == pytest.approx(0.5)  # resized to the mask


def test_top_k_keeps_the_order_of_probabilities():
    assert report.top_k(np.array([[0.1, 0.7, 0.2]]), 2) == [[(1, 0.7), (2, 0.2)]]


@needs_chromium
def test_report_renders_in_chromium_with_every_image(region_report, tmp_path):
    path = region_report[0]
    probe, screenshot = chromium.render(path, tmp_path, selector="td img.map, td.input img")
    assert probe["images"], "no image found"
    assert all(image["w"] > 0 and image["complete"] for image in probe["images"])
    assert len(probe["cells"]) == 3 * 4 + 3
    for cell in probe["cells"]:
        assert cell["w"] > 20 and cell["h"] > 20
        assert chromium.non_background_share(screenshot, cell) > 0.5, cell


@needs_chromium
def test_report_prints_to_pdf(region_report, tmp_path):
    pdf = tmp_path / "report.pdf"
    chromium._run([f"--print-to-pdf={pdf}", "--no-pdf-header-footer",
                   region_report[0].absolute().as_uri()], tmp_path)
    assert pdf.is_file() and pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000


# -- visual logging --------------------------------------------------------------------------
def _logger(name, path):
    logger = logging.getLogger(name)
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    handler = report.VisualHandler(path)
    logger.addHandler(handler)
    return logger, handler


def test_visual_records_of_every_kind_land_in_one_page(tmp_path):
    rng = np.random.default_rng(0)
    logger, handler = _logger("kerascope.test.pipeline", tmp_path / "log.html")
    batch = rng.random((4, 16, 16, 3)).astype(np.float32)
    logger.debug(report.VisualRecord("loaded", batch, "float images in [0, 1]"))
    page = (tmp_path / "log.html").read_text()
    assert page.rstrip().endswith("</html>") and page.count("<img") == 4  # complete at once
    logger.debug(report.VisualRecord("as a tensor", keras.ops.convert_to_tensor(batch[:2])))
    logger.debug(report.VisualRecord("element", (batch[:2] * 2 - 1, np.array([1, 0]))))
    logger.debug(report.VisualRecord("dict", {"image": (batch[:1] * 255).astype(np.uint8),
                                              "label": np.array([3])}))
    logger.debug(report.VisualRecord("grayscale batch", rng.random((5, 10, 12))))
    logger.debug(report.VisualRecord("one image, channels first", rng.random((3, 10, 12))))
    logger.debug(report.VisualRecord("channels first", rng.random((2, 3, 9, 9))))
    logger.info("plain text < escaped >")
    handler.close()
    page = (tmp_path / "log.html").read_text()
    _self_contained(page)
    assert page.count("<img") == 4 + 2 + 2 + 1 + 5 + 1 + 2
    assert "plain text &lt; escaped &gt;" in page
    assert "2x16x16x3" not in page and "16x16x3 float32" in page  # per-image captions
    assert "shown as [-1, 1]" in page and "uint8" in page
    assert page.count("</html>") == 1


def test_visual_handler_appends(tmp_path):
    logger, handler = _logger("kerascope.test.append", tmp_path / "log.html")
    logger.debug(report.VisualRecord("first", np.zeros((8, 8))))
    handler.close()
    logger.handlers.clear()
    handler = report.VisualHandler(tmp_path / "log.html", mode="a")
    logger.addHandler(handler)
    logger.debug(report.VisualRecord("second", np.ones((8, 8))))
    handler.close()
    page = (tmp_path / "log.html").read_text()
    assert page.count("<img") == 2 and page.count("</html>") == 1


def test_str_of_a_record_is_html_as_visual_logging(tmp_path):
    logger = logging.getLogger("kerascope.test.filehandler")
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = logging.FileHandler(tmp_path / "plain.html", mode="w")
    logger.addHandler(handler)
    logger.debug(report.VisualRecord("Sample Image", np.zeros((8, 8, 3), np.uint8),
                                     {"footnote": "sample image"}, fmt="jpeg"))
    handler.close()
    text = (tmp_path / "plain.html").read_text()
    assert "data:image/jpeg;base64," in text and "sample image" in text


@needs_chromium
def test_visual_log_renders_in_chromium_with_every_image(tmp_path):
    rng = np.random.default_rng(1)
    logger, handler = _logger("kerascope.test.chromium", tmp_path / "log.html")
    logger.debug(report.VisualRecord("batch", rng.random((3, 20, 20, 3))))
    logger.debug(report.VisualRecord("tensor", keras.ops.convert_to_tensor(rng.random((2, 8, 8)))))
    logger.debug(report.VisualRecord("pair", (rng.random((2, 12, 12, 1)), np.array([0, 1]))))
    handler.close()
    probe, screenshot = chromium.render(tmp_path / "log.html", tmp_path / "chromium",
                                        selector="figure img")
    assert len(probe["images"]) == 3 + 2 + 2
    assert all(image["w"] > 0 and image["complete"] for image in probe["images"])
    for cell in probe["cells"]:
        assert chromium.non_background_share(screenshot, cell) > 0.5, cell


def test_tf_data_elements_are_logged(tmp_path):
    tf = pytest.importorskip("tensorflow")
    x = np.random.default_rng(2).random((6, 8, 8, 3)).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((x, np.arange(6))).batch(4)
    logger, handler = _logger("kerascope.test.tfdata", tmp_path / "log.html")
    logger.debug(report.VisualRecord("element", next(iter(dataset))))
    logger.debug(report.VisualRecord("dataset", dataset))
    handler.close()
    assert (tmp_path / "log.html").read_text().count("<img") == 8


# -- the visual-logging callback -----------------------------------------------------------
class _Recording(report.VisualLoggingCallback):
    def log(self, epoch, element):
        x = element[0] if isinstance(element, (list, tuple)) else element
        self.seen = getattr(self, "seen", []) + [np.asarray(report.to_numpy(x))]
        super().log(epoch, element)


def _model():
    inputs = keras.Input((6, 6, 3))
    h = keras.layers.Conv2D(2, 3, activation="relu", kernel_initializer="ones")(inputs)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(2, activation="softmax", kernel_initializer="ones")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    return model


def test_callback_logs_the_first_batch_the_model_receives_each_epoch(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.random((12, 6, 6, 3)).astype(np.float32)
    y = (rng.random(12) > 0.5).astype(np.int64)
    plain = _model()
    plain.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    model = _model()
    callback = _Recording(tmp_path / "batches.html", max_images=4)
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, callbacks=[callback])
    callback.close()
    assert callback.logged == [0, 1]
    for seen in callback.seen:
        np.testing.assert_allclose(seen, x[:4], rtol=1e-6)
    for a, b in zip(plain.get_weights(), model.get_weights()):  # training unchanged
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert "VisualLoggingCallback" not in repr(model.train_function)  # restored
    page = (tmp_path / "batches.html").read_text()
    assert page.count("<img") == 8 and "epoch 1: first training batch" in page


def test_callback_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="path"):
        report.VisualLoggingCallback()
    with pytest.raises(ValueError, match="every_n_epochs"):
        report.VisualLoggingCallback(tmp_path / "x.html", every_n_epochs=0)
