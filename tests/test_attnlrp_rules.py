"""AttnLRP rule functions (arXiv:2402.05602) against their formulas and conservation."""

import numpy as np
from keras import ops

from kerascope.methods.lrp import attention as attn

rng = np.random.default_rng(0)
T = ops.convert_to_tensor  # the rules take backend tensors (torch's vjp needs them)


def test_bilinear_uniform_rule_conserves_and_halves():
    q = rng.normal(size=(2, 3, 4)).astype("float32")
    k = rng.normal(size=(2, 5, 4)).astype("float32")
    r = rng.normal(size=(2, 3, 5)).astype("float32")
    fn = lambda a, b: ops.einsum("nqd,nkd->nqk", a, b)  # noqa: E731
    ra, rb = (ops.convert_to_numpy(t) for t in attn.bilinear_relevance(fn, T(q), T(k), T(r), 1e-9))
    np.testing.assert_allclose(ra.sum(), rb.sum(), rtol=1e-3)
    np.testing.assert_allclose(ra.sum() + rb.sum(), r.sum(), rtol=1e-3)
    z = np.einsum("nqd,nkd->nqk", q, k)
    expected = 0.5 * np.einsum("nqd,nkd,nqk->nqd", q, k, r / z)
    np.testing.assert_allclose(ra, expected, rtol=1e-3, atol=1e-5)


def test_softmax_rule_matches_formula():
    x = rng.normal(size=(3, 6)).astype("float32")
    r = rng.normal(size=(3, 6)).astype("float32")
    s = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
    np.testing.assert_allclose(ops.convert_to_numpy(attn.softmax_relevance(T(x), T(r))),
                               x * (r - s * r.sum(-1, keepdims=True)), rtol=1e-5, atol=1e-6)


def test_layer_norm_rule_conserves():
    x = rng.normal(size=(4, 8)).astype("float32")
    r = rng.normal(size=(4, 8)).astype("float32")
    got = ops.convert_to_numpy(attn.layer_norm_relevance(T(x), T(r), 1e-9))
    np.testing.assert_allclose(got.sum(-1), r.sum(-1), rtol=1e-3, atol=1e-4)
    c = x - x.mean(-1, keepdims=True)
    expected = x * ((r / c) - (r / c).mean(-1, keepdims=True))
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
