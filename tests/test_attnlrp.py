"""LRP through attention (AttnLRP, Achtibat et al. 2024, arXiv:2402.05602): the
``transformer`` composite against a numpy re-implementation of its rules on a bias-free
transformer (the same maps on every backend: the weights are drawn by numpy),
conservation, the explicit attention forward, the trained planted-token transformer of
``test_attention``, and the user's model left unchanged."""

import keras
import numpy as np
import pytest

import kerascope
from kerascope.engine import keras_internals
from kerascope.methods.lrp import attention as attn
from tests.test_attention import planted_transformer

layers = keras.layers
T, VOCAB, D, HEADS, KEY_DIM, CLASSES = 5, 16, 8, 2, 4, 3


def pinned(model, seed, scale=0.6):
    """Weights drawn by numpy (the same on every backend); LN gammas near 1."""
    rng = np.random.default_rng(seed)
    values = []
    for variable in model.weights:
        shape = tuple(variable.shape)
        if "gamma" in variable.path:
            values.append(1.0 + 0.2 * rng.normal(size=shape))
        else:
            values.append(scale * rng.normal(size=shape))
    model.set_weights([v.astype(np.float32) for v in values])
    return model


def one_block(seed=0):
    """embed -> LN (no beta) -> MHA (no bias) -> ``h + mha`` -> head on position 0."""
    ids = keras.Input((T,), dtype="int32")
    h = layers.Embedding(VOCAB, D, name="embed")(ids)
    n = layers.LayerNormalization(center=False, name="ln")(h)
    h = h + layers.MultiHeadAttention(HEADS, KEY_DIM, use_bias=False, name="mha")(n, n)
    logits = layers.Dense(CLASSES, use_bias=False, name="head")(h[:, 0])
    return pinned(keras.Model(ids, logits), seed)


def two_blocks(seed=1):
    """Pre-LN blocks with ``Add`` layers, a GELU feed-forward, a causal mask; no bias."""
    ids = keras.Input((T,), dtype="int32")
    h = layers.Embedding(VOCAB, D, name="embed")(ids)
    for i in range(2):
        n = layers.LayerNormalization(center=False)(h)
        a = layers.MultiHeadAttention(HEADS, KEY_DIM, use_bias=False)(n, n, use_causal_mask=i == 0)
        h = layers.Add()([h, a])
        n = layers.LayerNormalization(center=False)(h)
        f = layers.Dense(16, activation="gelu", use_bias=False)(n)
        h = layers.Add()([h, layers.Dense(D, use_bias=False)(f)])
    logits = layers.Dense(CLASSES, use_bias=False, name="head")(h[:, -1])
    return pinned(keras.Model(ids, logits), seed)


def _np(variable):
    return keras.ops.convert_to_numpy(variable).astype(np.float64)


def reference(model, ids, target, mode):
    """AttnLRP of ``one_block`` written out in numpy (epsilon -> 0): ``(map over
    tokens, relevance the softmax rule absorbed)``."""
    mha = model.get_layer("mha")
    e = _np(model.get_layer("embed").embeddings)[ids]
    gamma = _np(model.get_layer("ln").gamma)
    sigma = np.sqrt(e.var(-1, keepdims=True) + model.get_layer("ln").epsilon)
    n = gamma * (e - e.mean(-1, keepdims=True)) / sigma
    wq, wk, wv = (_np(d.kernel) for d in (mha.query_dense, mha.key_dense, mha.value_dense))
    wo = _np(mha.output_dense.kernel)
    q, k, v = (np.einsum("td,dhk->thk", n, w) for w in (wq, wk, wv))
    qs = q / np.sqrt(KEY_DIM)
    scores = np.einsum("shk,thk->hts", k, qs)
    a = np.exp(scores - scores.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    c = np.einsum("hts,shk->thk", a, v)
    o = np.einsum("thk,hkd->td", c, wo)
    h = e + o
    head = _np(model.get_layer("head").kernel)[:, target]
    r_h = np.zeros_like(h)
    r_h[0] = h[0] * head  # epsilon at the head: R_j = h_j w_j (R_out = the logit)
    r_e = e * r_h / h  # h = e + o: epsilon over the sum
    r_o = o * r_h / h
    r_c = c * np.einsum("hkd,td->thk", wo, r_o / o)
    s = r_c / c
    if mode == "cp":
        r_a = np.zeros_like(a)
        r_v = v * np.einsum("hts,thk->shk", a, s)
    else:
        r_a = 0.5 * a * np.einsum("shk,thk->hts", v, s)
        r_v = 0.5 * v * np.einsum("hts,thk->shk", a, s)
    r_scores = scores * (r_a - a * r_a.sum(-1, keepdims=True))
    u = r_scores / scores
    r_k = 0.5 * k * np.einsum("thk,hts->shk", qs, u)
    r_q = 0.5 * qs * np.einsum("shk,hts->thk", k, u)
    r_n = sum(n * np.einsum("dhk,thk->td", w, r / z)
              for w, r, z in ((wq, r_q, q), (wk, r_k, k), (wv, r_v, v)))
    g = gamma / sigma * r_n / n  # LN: epsilon with sigma held constant
    r_e = r_e + e * (g - g.mean(-1, keepdims=True))
    return r_e.sum(-1), r_a.sum() - r_scores.sum()


@pytest.fixture(scope="module")
def block():
    x = np.random.default_rng(2).integers(0, VOCAB, (3, T)).astype(np.int32)
    return one_block(), x, np.array([0, 2, 1])


def test_equals_numpy_reference_and_absorbs_only_at_the_softmax(block):
    # "cp" (nothing absorbed) is checked by conservation below; one compiled pass here
    model, x, targets = block
    mode = "attnlrp"
    result = kerascope.explain("lrp", model, x, targets, composite="transformer",
                               attention=mode, epsilon=1e-9)
    expected = [reference(model, ids, t, mode) for ids, t in zip(x, targets)]
    maps = np.array([m for m, _ in expected])
    absorbed = np.array([a for _, a in expected])
    assert result[1].shape == (len(x), T)
    # float32 against float64, through 1/z at every rule: 6e-6 of the largest seen
    np.testing.assert_allclose(result[1], maps, rtol=1e-3, atol=1e-4 * np.abs(maps).max())
    # every rule conserves on this bias-free model but the softmax rule, whose bias-like
    # rest is absorbed (arXiv:2402.05602, the softmax proposition): none with "cp"
    np.testing.assert_allclose(result.extras["conservation"], -absorbed,
                               atol=1e-3 * np.abs(maps).max())
    assert np.abs(absorbed).max() > 1e-2  # the test sees the softmax rule at work


def test_conserves_on_a_bias_free_transformer_with_attention_held_constant():
    model = two_blocks()
    x = np.random.default_rng(3).integers(0, VOCAB, (4, T)).astype(np.int32)
    targets = np.array([0, 1, 2, 0])
    result = kerascope.explain("lrp", model, x, targets, composite="transformer",
                               attention="cp", epsilon=1e-9)
    scores = result[0][np.arange(len(x)), targets]
    sums = result[1].sum(-1)
    assert np.abs(scores).min() > 0.1
    # epsilon 1e-9 on the linear parts; the Add layers' norm rule keeps zennit's 1e-6
    # stabilizer, |z| >= ~1e-2 there: a residual below 1e-4 of the score, float32 sums
    np.testing.assert_allclose(sums, scores, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.extras["conservation"], sums - scores, atol=1e-5)


def _attention_inputs(cross):
    rng = np.random.default_rng(4)
    q = rng.normal(size=(2, 5, D)).astype(np.float32)
    v = rng.normal(size=(2, 7 if cross else 5, D)).astype(np.float32)
    return q, v


@pytest.mark.parametrize("case", ["attention_mask", "causal", "both", "axes"])
def test_explicit_attention_equals_the_layer(case):
    keras.utils.set_random_seed(5)
    q, v = _attention_inputs(case == "attention_mask")
    kwargs = {}
    if case in ("attention_mask", "both"):
        kwargs["attention_mask"] = np.random.default_rng(6).random((2, 5, v.shape[1])) > 0.4
    if case in ("causal", "both"):
        kwargs["use_causal_mask"] = True
    if case == "axes":  # attention over two axes: (B, 3, 4, D)
        q, v = q[:, :4].reshape(2, 2, 2, D), v[:, :4].reshape(2, 2, 2, D)
        mha = layers.MultiHeadAttention(HEADS, KEY_DIM, attention_axes=(1, 2))
    else:
        mha = layers.MultiHeadAttention(HEADS, KEY_DIM, dropout=0.3)
    expected, scores = mha(q, v, return_attention_scores=True, **kwargs)
    undo = keras_internals.replace_compute_attention(
        mha, attn.attention_call(mha, attn.AttentionRule()))
    try:
        got, got_scores = mha(q, v, return_attention_scores=True, **kwargs)
    finally:
        undo()
    assert "_compute_attention" not in vars(mha)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got),
                               keras.ops.convert_to_numpy(expected), atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(got_scores),
                               keras.ops.convert_to_numpy(scores), atol=1e-6)


def test_planted_token_ranked_first():
    model, x, _, where = planted_transformer()
    x, where = x[:100], where[:100]
    # over every position, the class token included ("pos" adds a learned table: its
    # relevance passes to the embedding); its residuals are x + y: the norm rule
    _, maps = kerascope.explain("lrp", model, x, "predicted", composite="transformer",
                                layer_rules=[("pos", "pass")])
    hits = (maps.argmax(-1) == where).mean()
    assert hits >= 0.9, hits


def _snapshot(model):
    everything = keras_internals.sublayers(model) + keras_internals.add_operations(model)
    return ([w.tobytes() for w in model.get_weights()],
            [sorted(k for k in vars(obj) if k in ("call", "_compute_attention", "activation"))
             for obj in everything])


class _Boom(attn.LayerNormRule):
    def layer_call(self, layer, call):
        raise RuntimeError("boom")


def test_model_unchanged_and_errors(block):
    model, x, targets = block
    before = _snapshot(model)
    outputs = keras.ops.convert_to_numpy(model(x))
    # the relevance at another layer's output: (N, T), summed over its channels
    at_ln = kerascope.lrp(model, x, targets, composite="transformer", layer="ln")
    assert at_ln[1].shape == (len(x), T) and np.isfinite(at_ln[1]).all()
    assert _snapshot(model) == before
    with pytest.raises(RuntimeError, match="boom"):
        kerascope.lrp(model, x, targets, composite="transformer",
                      layer_rules=[("ln", _Boom())])
    assert _snapshot(model) == before
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x)), outputs)
    with pytest.raises(ValueError, match=r"composite 'epsilon'.*'mha'.*composite='transformer'"):
        kerascope.lrp(model, x, targets, composite="epsilon",
                      layer_rules=[("embed", "gradient"), ("ln", "pass")])
    with pytest.raises(ValueError, match="attention"):
        kerascope.lrp(model, x, targets, composite="transformer", attention="nope")
