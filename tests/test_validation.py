"""Bad input gets a ValueError that names the argument and what was expected."""

import numpy as np
import pytest

import kerascope
from kerascope.engine import surgery
from kerascope.methods import IntegratedGradients
from tests.models import small_cnn


@pytest.fixture(scope="module")
def model():
    return small_cnn()


def test_wrong_rank(model):
    with pytest.raises(ValueError, match=r"x: expected rank 4 .*single sample"):
        kerascope.gradients(model, np.zeros((12, 12, 3), np.float32), 0)


def test_wrong_shape(model):
    with pytest.raises(ValueError, match=r"x: expected shape .*axis 1"):
        kerascope.gradients(model, np.zeros((2, 10, 12, 3), np.float32), 0)


def test_non_finite(model):
    x = np.zeros((2, 12, 12, 3), np.float32)
    x[1, 3, 3, 0] = np.nan
    with pytest.raises(ValueError, match="x: inputs contain NaN"):
        kerascope.gradients(model, x, 0)


def test_class_index_out_of_range(model):
    x = np.zeros((2, 12, 12, 3), np.float32)
    with pytest.raises(ValueError, match=r"class_index: 5 is out of range .* 5 units"):
        kerascope.gradients(model, x, 5)
    with pytest.raises(ValueError, match="class_index: must be >= 0"):
        kerascope.gradients(model, x, [0, -1])
    with pytest.raises(ValueError, match="targets: got 3 targets for 2 inputs"):
        kerascope.gradients(model, x, [0, 1, 2])
    with pytest.raises(ValueError, match=r"targets: top_k\(9\)"):
        kerascope.gradients(model, x, kerascope.top_k(9))


def test_unknown_layer_name(model):
    with pytest.raises(ValueError, match=r"layer_name: no layer named 'conv_c'.*Did you mean .*'conv_a'"):
        surgery.ModelView(model, layers=["conv_c"])


def test_empty_batch(model):
    with pytest.raises(ValueError, match="x: empty batch"):
        kerascope.gradients(model, np.zeros((0, 12, 12, 3), np.float32), 0)


def test_bad_options(model):
    x = np.zeros((2, 12, 12, 3), np.float32)
    with pytest.raises(ValueError, match="batch_size"):
        kerascope.gradients(model, x, 0, batch_size=0)
    with pytest.raises(ValueError, match="n_steps"):
        IntegratedGradients(n_steps=0)
    with pytest.raises(ValueError, match="method"):
        kerascope.explain("no_such_method", model, x, 0)  # (lrp exists now)
    with pytest.raises(ValueError, match="channel_reduction"):
        kerascope.gradients(model, x, 0, channel_reduction="median")
    with pytest.raises(ValueError, match="model: expected a keras.Model"):
        kerascope.gradients(lambda t: t, x, 0)
