"""The same weights give the same maps on tensorflow, jax and torch.

Every backend is compared against one stored reference (tests/data/gradients_reference.npz,
written by tests/data/make_gradients_reference.py), so all three agree with each other.
"""

import pathlib

import numpy as np
import pytest

from kerascope import filters
from tests.data.make_gradients_reference import CASES, build_model, compute

REFERENCE = pathlib.Path(__file__).parent / "data" / "gradients_reference.npz"


@pytest.fixture(scope="module")
def maps_and_reference():
    reference = np.load(REFERENCE)
    model = build_model()
    weights = [reference[f"weight_{i}"] for i in range(len(model.get_weights()))]
    model.set_weights(weights)
    return compute(model), reference


@pytest.mark.parametrize("case", sorted(CASES))
def test_maps_match_reference(case, maps_and_reference):
    maps, reference = maps_and_reference
    expected = reference[case]
    got = maps[case]
    assert got.shape == expected.shape
    spatial = got.ndim - 2
    diff = np.abs(filters.absolute_normalize(got, spatial) - filters.absolute_normalize(expected, spatial))
    assert diff.max() <= 1e-4, f"{case}: max abs diff {diff.max():.2e} vs the {reference['backend']} reference"
