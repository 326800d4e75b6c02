"""tf-explain's class API: same names, arguments and uint8 grids; paper-correct maths."""

import pathlib
import runpy

import numpy as np
import pytest
from PIL import Image

import kerascope
from kerascope.core.gradients_inputs import GradientsInputs
from kerascope.core.integrated_gradients import IntegratedGradients
from kerascope.core.smoothgrad import SmoothGrad
from kerascope.core.vanilla_gradients import VanillaGradients
from kerascope.utils.display import grid_display
from kerascope.utils.image import transform_to_normalized_grayscale
from tests.models import small_cnn

TUTORIAL = pathlib.Path(__file__).parent / "tutorials" / "vanilla_gradients_after_training.py"


def test_vanilla_gradients_grid_and_save(tmp_path, rng):
    model = small_cnn()
    x = rng.random((7, 12, 12, 3)).astype(np.float32)
    explainer = VanillaGradients()
    grid = explainer.explain((x, None), model, class_index=2)
    assert grid.dtype == np.uint8 and grid.shape == (36, 36)
    _, maps = kerascope.gradients(model, x, 2)
    np.testing.assert_array_equal(grid, grid_display(transform_to_normalized_grayscale(maps)))
    path = explainer.save(grid, tmp_path / "out" / "nested", "vanilla.png")
    np.testing.assert_array_equal(np.asarray(Image.open(path)), grid)


def test_grayscale_rendering_clips_instead_of_wrapping(rng):
    model = small_cnn()
    x = rng.random((1, 12, 12, 3)).astype(np.float32)
    grid = VanillaGradients().explain((x, None), model, 0)
    _, maps = kerascope.gradients(model, x, 0)
    standardized = (maps[0] - maps[0].mean()) / maps[0].std()
    assert np.all(grid[standardized * 255 >= 255] == 255)
    assert np.all(grid[standardized <= 0] == 0)


def test_a_list_of_images_is_accepted(rng):
    model = small_cnn()
    images = [rng.random((12, 12, 3)).astype(np.float32) for _ in range(2)]
    grid = GradientsInputs().explain((images, None), model, 1)
    assert grid.shape == (12, 24)


def test_integrated_gradients_multiplies_by_the_input():
    import keras

    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
    w = np.zeros((16, 2), np.float32)
    w[:, 1] = 1.0
    model.set_weights([w, np.zeros(2, np.float32)])
    x = np.zeros((1, 4, 4, 1), np.float32)
    x[0, 0, 0, 0] = 1.0
    grid = IntegratedGradients().explain((x, None), model, class_index=1, n_steps=10)
    # tf-explain returns the mean gradient (all ones: a blank map); the paper's IG
    # is w * x, non-zero at the one lit pixel only.
    assert grid[0, 0] == 255 and np.all(grid.reshape(-1)[1:] == 0)


def test_smoothgrad_without_noise_equals_vanilla(rng):
    model = small_cnn()
    x = rng.random((2, 12, 12, 3)).astype(np.float32)
    smooth = SmoothGrad().explain((x, None), model, 3, num_samples=3, noise=0.0)
    vanilla = VanillaGradients().explain((x, None), model, 3)
    assert np.abs(smooth.astype(int) - vanilla.astype(int)).max() <= 1


def test_bad_validation_data():
    with pytest.raises(ValueError, match="validation_data"):
        VanillaGradients().explain(np.zeros((1, 12, 12, 3)), small_cnn(), 0)


def test_seed_tutorial_after_training_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    from kerascope.demo import mnist

    monkeypatch.setattr(mnist, "TRAIN_SIZE", 100)
    monkeypatch.setattr(mnist, "TEST_SIZE", 60)
    namespace = runpy.run_path(str(TUTORIAL), run_name="__main__")
    explanation = namespace["explanation"]
    assert explanation.dtype == np.uint8 and explanation.shape == (28, 28)
    assert explanation.max() == 255
    assert "Test accuracy" in capsys.readouterr().out
