"""attention_rollout and generic_attention against a numpy re-implementation of a tiny
pre-LN transformer (weights read from its layers, the gradient with respect to the
attention probabilities by central finite differences), a trained planted-token
transformer, and the capture's properties (user's model unchanged, layers=, order)."""

import functools

import keras
import numpy as np
import pytest

import kerascope
from kerascope.engine import attention as attention_lib
from kerascope.methods import attention as methods

T, VOCAB, D, HEADS, KEY_DIM, CLASSES = 6, 20, 8, 2, 4, 3


class PositionEmbedding(keras.layers.Layer):
    """Adds a learned (T, D) position embedding."""

    def build(self, shape):
        self.table = self.add_weight(shape=tuple(shape[1:]), initializer="random_normal",
                                     name="table")

    def call(self, x):
        return x + self.table


def tiny_transformer(seed=0, blocks=2, length=T, vocab=VOCAB, classes=CLASSES, scale=1.0):
    keras.utils.set_random_seed(seed)
    ids = keras.Input((length,), dtype="int32")
    h = keras.layers.Embedding(vocab, D, name="embed")(ids)
    h = PositionEmbedding(name="pos")(h)
    for i in range(blocks):
        n = keras.layers.LayerNormalization(epsilon=1e-5, name=f"ln{i}")(h)
        h = h + keras.layers.MultiHeadAttention(HEADS, KEY_DIM, name=f"mha{i}")(n, n)
    logits = keras.layers.Dense(classes, name="head")(h[:, 0])
    model = keras.Model(ids, logits)
    if scale != 1.0:
        model.set_weights([w * scale if w.ndim > 1 else w for w in model.get_weights()])
    return model


# -- numpy reference -----------------------------------------------------------------
def _weights(model):
    w = {"embed": keras.ops.convert_to_numpy(model.get_layer("embed").embeddings),
         "pos": keras.ops.convert_to_numpy(model.get_layer("pos").table)}
    head = model.get_layer("head")
    w["head"] = [keras.ops.convert_to_numpy(v) for v in (head.kernel, head.bias)]
    blocks = []
    i = 0
    while any(layer.name == f"mha{i}" for layer in model.layers):
        ln, mha = model.get_layer(f"ln{i}"), model.get_layer(f"mha{i}")
        dense = [mha.query_dense, mha.key_dense, mha.value_dense, mha.output_dense]
        blocks.append({
            "ln": [keras.ops.convert_to_numpy(v).astype(np.float64) for v in (ln.gamma, ln.beta)],
            "qkvo": [[keras.ops.convert_to_numpy(v).astype(np.float64)
                      for v in (d.kernel, d.bias)] for d in dense],
        })
        i += 1
    w["blocks"] = blocks
    return w


def reference_forward(w, ids, override=None):
    """``(logits, probabilities)`` of one sequence; ``override[l]`` replaces layer
    ``l``'s probabilities (H, T, T)."""
    h = (w["embed"][ids] + w["pos"]).astype(np.float64)
    probabilities = []
    for index, block in enumerate(w["blocks"]):
        gamma, beta = block["ln"]
        mu = h.mean(-1, keepdims=True)
        var = h.var(-1, keepdims=True)
        n = (h - mu) / np.sqrt(var + 1e-5) * gamma + beta
        (qk, qb), (kk, kb), (vk, vb), (ok, ob) = block["qkvo"]
        q = np.einsum("td,dhk->thk", n, qk) + qb
        k = np.einsum("td,dhk->thk", n, kk) + kb
        v = np.einsum("td,dhk->thk", n, vk) + vb
        scores = np.einsum("thk,shk->hts", q, k) / np.sqrt(q.shape[-1])
        a = np.exp(scores - scores.max(-1, keepdims=True))
        a = a / a.sum(-1, keepdims=True)
        if override is not None and override.get(index) is not None:
            a = override[index]
        probabilities.append(a)
        context = np.einsum("hts,shk->thk", a, v)
        h = h + np.einsum("thk,hkd->td", context, ok) + ob
    kernel, bias = w["head"]
    return h[0] @ kernel + bias, probabilities


def reference_gradients(w, ids, target, eps=1e-5):
    """d logit[target] / d A_l by central differences (every later layer recomputed)."""
    _, probabilities = reference_forward(w, ids)
    grads = []
    for index, a in enumerate(probabilities):
        g = np.zeros_like(a)
        for position in np.ndindex(a.shape):
            up, down = a.copy(), a.copy()
            up[position] += eps
            down[position] -= eps
            plus = reference_forward(w, ids, {index: up})[0][target]
            minus = reference_forward(w, ids, {index: down})[0][target]
            g[position] = (plus - minus) / (2 * eps)
        grads.append(g)
    return probabilities, grads


def reference_maps(w, x, targets, head_fusion="mean", discard_ratio=0.0):
    rollouts, generics = [], []
    for ids, target in zip(x, targets):
        probabilities, grads = reference_gradients(w, ids, target)
        # rollout, written out
        result = np.eye(ids.shape[0])
        for a in probabilities:
            fused = {"mean": a.mean(0), "max": a.max(0), "min": a.min(0)}[head_fusion]
            if discard_ratio:
                flat = fused.flatten()
                count = int(flat.size * discard_ratio)
                order = np.argsort(flat, kind="stable")[:count]
                order = order[order != 0]
                flat[order] = 0
                fused = flat.reshape(fused.shape)
            hat = 0.5 * fused + 0.5 * np.eye(fused.shape[0])
            hat = hat / hat.sum(-1, keepdims=True)
            result = hat @ result
        rollouts.append(result[0])
        relevance = np.eye(ids.shape[0])
        for a, g in zip(probabilities, grads):
            relevance = relevance + np.maximum(g * a, 0).mean(0) @ relevance
        generics.append(relevance[0])
    return np.array(rollouts), np.array(generics)


@pytest.fixture(scope="module")
def tiny():
    model = tiny_transformer(scale=2.0)
    x = np.random.default_rng(1).integers(0, VOCAB, (3, T)).astype(np.int32)
    return model, x


@pytest.mark.parametrize("head_fusion", ["mean", "max"])
def test_matches_numpy_reference(tiny, head_fusion):
    model, x = tiny
    targets = np.array([0, 2, 1])
    w = _weights(model)
    rollout_ref, generic_ref = reference_maps(w, x, targets, head_fusion)
    _, rollout = kerascope.explain("attention_rollout", model, x, targets,
                                   head_fusion=head_fusion)
    outputs, generic = kerascope.explain("generic_attention", model, x, targets)
    ref_logits = np.array([reference_forward(w, ids)[0] for ids in x])
    np.testing.assert_allclose(outputs, ref_logits, atol=1e-4)
    np.testing.assert_allclose(rollout, rollout_ref, atol=1e-4)
    np.testing.assert_allclose(generic, generic_ref, atol=1e-4)
    # not trivial: the maps are far from uniform and the gradients matter
    assert np.ptp(rollout[:, 1:]) > 1e-2
    assert np.abs(generic - np.eye(T)[0]).max() > 1e-2


def test_discard_ratio_and_min_fusion_match_reference(tiny):
    model, x = tiny
    targets = np.array([1, 1, 1])
    rollout_ref, _ = reference_maps(_weights(model), x, targets, "min", 0.5)
    _, rollout = kerascope.explain("attention_rollout", model, x, targets,
                                   head_fusion="min", discard_ratio=0.5)
    np.testing.assert_allclose(rollout, rollout_ref, atol=1e-4)


def test_rollout_is_class_agnostic_and_generic_is_not(tiny):
    model, x = tiny
    _, rollout = kerascope.explain("attention_rollout", model, x, [[0, 1, 2]] * len(x))
    _, generic = kerascope.explain("generic_attention", model, x, [[0, 1, 2]] * len(x))
    assert rollout.shape == generic.shape == (len(x), 3, T)
    np.testing.assert_allclose(rollout[:, 0], rollout[:, 1], atol=1e-6)
    np.testing.assert_allclose(rollout[:, 0], rollout[:, 2], atol=1e-6)
    assert np.abs(generic[:, 0] - generic[:, 1]).max() > 1e-3


def test_token_options(tiny):
    model, x = tiny
    _, full = kerascope.explain("attention_rollout", model, x, 0)
    _, dropped = kerascope.explain("attention_rollout", model, x, 0, drop_token=True)
    np.testing.assert_allclose(dropped, full[:, 1:], atol=1e-7)
    # rollout rows are distributions: each row of the product sums to 1
    np.testing.assert_allclose(full.sum(-1), 1.0, atol=1e-5)
    _, mean = kerascope.explain("attention_rollout", model, x, 0, token="mean")
    np.testing.assert_allclose(mean.sum(-1), 1.0, atol=1e-5)
    assert np.abs(mean - full).max() > 1e-3
    with pytest.raises(ValueError, match="drop_token"):
        kerascope.explain("attention_rollout", model, x, 0, token="mean", drop_token=True)


def test_layers_option_and_errors(tiny):
    model, x = tiny
    targets = np.zeros(len(x), np.int32)
    _, first = kerascope.explain("attention_rollout", model, x, targets, layers=["mha0"])
    probabilities = [reference_forward(_weights(model), ids)[1][0] for ids in x]
    hat = 0.5 * np.mean(probabilities, axis=1) + 0.5 * np.eye(T)
    np.testing.assert_allclose(first, hat[:, 0] / hat[:, 0].sum(-1, keepdims=True), atol=1e-5)
    with pytest.raises(ValueError, match="not attention layers"):
        kerascope.explain("attention_rollout", model, x, targets, layers=["ln0"])
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no attention layer"):
        kerascope.explain("attention_rollout", plain, np.zeros((1, 4), np.float32), 0)


def test_forward_order_and_model_unchanged(tiny):
    model, x = tiny
    layers = attention_lib.find_attention_layers(model, ["mha1", "mha0"])
    ordered = attention_lib.forward_order(model, layers, x[:1])
    assert [layer.name for layer in ordered] == ["mha0", "mha1"]
    before = model.predict(x, verbose=0)
    kerascope.explain("generic_attention", model, x, 0)
    for layer in layers:
        assert "_compute_attention" not in vars(layer) and "call" not in vars(layer)
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)


def test_methods_keep_no_per_call_state(tiny):
    model, x = tiny
    for name in ("attention_rollout", "generic_attention"):
        method = kerascope.methods.get(name, drop_token=True)
        before = {k: repr(v) for k, v in vars(method).items()}
        method.explain(model, x, 1)
        assert {k: repr(v) for k, v in vars(method).items()} == before, name


def test_functions_on_known_matrices():
    a = np.array([[[[0.5, 0.5], [0.0, 1.0]], [[1.0, 0.0], [0.5, 0.5]]]])  # (1, 2, 2, 2)
    np.testing.assert_allclose(methods.fuse_heads(a, "max")[0], [[1.0, 0.5], [0.5, 1.0]])
    hat = 0.5 * a.mean(1)[0] + 0.5 * np.eye(2)
    np.testing.assert_allclose(methods.rollout([a])[0], hat / hat.sum(-1, keepdims=True))
    g = np.ones_like(a)
    relevance = methods.generic_relevance([a, a], [g, -g])[0]
    np.testing.assert_allclose(relevance, (np.eye(2) + a.mean(1)[0]))
    grid = methods.patch_grid(np.arange(5, dtype=float)[None], (4, 4))
    np.testing.assert_array_equal(grid[0], np.kron([[1, 2], [3, 4]], np.ones((2, 2))))


def planted_data(n, rng, length=8, vocab=12):
    """Class c in {0, 1} is told by token 2 + c planted at one random position; the
    other tokens are noise from 4..vocab-1; position 0 holds the class token 1."""
    x = rng.integers(4, vocab, (n, length)).astype(np.int32)
    x[:, 0] = 1
    y = rng.integers(0, 2, n)
    where = rng.integers(1, length, n)
    x[np.arange(n), where] = 2 + y
    return x, y, where


@functools.lru_cache(maxsize=1)
def planted_transformer():
    """A transformer trained on ``planted_data`` and 200 test sequences ``(model, x, y,
    where)``; trained once per process (tests/test_attnlrp.py explains it too)."""
    rng = np.random.default_rng(0)
    x, y, _ = planted_data(1024, rng)
    model = tiny_transformer(seed=3, blocks=1, length=8, vocab=12, classes=2)
    model.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=64, verbose=0)
    xt, yt, where = planted_data(200, rng)
    return model, xt, yt, where


def test_planted_token_ranked_first():
    model, xt, yt, where = planted_transformer()
    outputs, maps = kerascope.explain("generic_attention", model, xt, "predicted",
                                      drop_token=True)
    assert (outputs.argmax(-1) == yt).mean() > 0.95
    hits = (maps.argmax(-1) + 1 == where).mean()
    assert hits >= 0.9, hits
