"""README's examples run as written, and callbacks write TensorBoard images in a
default install (or refuse at construction)."""

import pathlib
import re
import sys

import keras
import numpy as np
import pytest

from kerascope.callbacks.summary import read_images

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _tested_blocks():
    text = README.read_text(encoding="utf-8")
    return re.findall(r"<!-- tested by tests/test_readme.py -->\n```python\n(.*?)```", text, re.S)


def test_readme_has_the_tested_examples():
    blocks = _tested_blocks()
    assert len(blocks) == 2
    assert "GradCAMCallback" in blocks[0] and "VisualRecord" in blocks[1]
    first = README.read_text().split("```bash\n", 1)[1].split("```", 1)[0]
    assert first.strip().endswith("kerascope demo") and ".[jax]" in first


def test_readme_callback_example_writes_tensorboard_images(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(_tested_blocks()[0], "README.md (callbacks)", "exec"), {})
    runs = list((tmp_path / "logs" / "grad_cam").iterdir())
    assert len(runs) == 1
    images = read_images(runs[0])
    assert list(images) == ["Grad CAM"]
    assert [step for step, _ in images["Grad CAM"]] == [0, 1]
    picture = images["Grad CAM"][0][1]
    assert picture.ndim == 3 and picture.shape[0] >= 28 and picture.std() > 0
    if keras.backend.backend() != "tensorflow":
        assert "tensorflow" not in sys.modules  # the tensorboard package wrote them


def test_readme_visual_logging_example_writes_its_pages(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(_tested_blocks()[1], "README.md (visual logging)", "exec"), {})
    import logging

    for handler in logging.getLogger("pipeline").handlers[:]:
        handler.close()
        logging.getLogger("pipeline").removeHandler(handler)
    pipeline = (tmp_path / "pipeline.html").read_text()
    assert pipeline.count("<img") == 10 + 4
    batches = (tmp_path / "batches.html").read_text()
    assert batches.count("<img") == 2 * 5 and "epoch 1: first training batch" in batches


def test_callbacks_refuse_at_construction_without_a_writer(tmp_path, monkeypatch):
    from kerascope import backend
    from kerascope.callbacks import GradCAMCallback, VanillaGradientsCallback

    images = np.zeros((2, 8, 8, 1), np.float32)
    monkeypatch.setattr(backend, "backend_name", lambda: "jax")  # no tf.summary route
    for name in ("tensorboard", "tensorboard.compat", "tensorboard.compat.proto",
                 "tensorboard.compat.proto.event_pb2"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match="VanillaGradientsCallback: .*tensorboard package"):
        VanillaGradientsCallback((images, None), class_index=0, output_dir=tmp_path)
    from kerascope.callbacks.metrics import MetricsCallback

    with pytest.raises(ImportError, match="MetricsCallback: .*tensorboard package"):
        MetricsCallback((images, None), output_dir=tmp_path)
    monkeypatch.undo()
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="output_dir: .*cannot be created"):
        GradCAMCallback((images, None), class_index=0, output_dir=blocker / "logs")
