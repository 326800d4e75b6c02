"""Layer rules (kerascope.engine.rules) applied by ModelView during a pass.

The central property: a rule that replaces a layer by a custom-gradient copy of
itself (same forward, backward by vjp of that forward) changes nothing, so outputs
and input gradients must match the plain pass to float32 rounding, for every
layer kind the LRP family will need, on a nested model with a skip connection.
Modified backwards must then show up exactly where linearity says they do.
"""

import pathlib

import keras
import numpy as np
import pytest

from kerascope import backend

from kerascope.engine import rules, targets
from kerascope.engine.keras_internals import sublayers
from kerascope.engine.runner import PassRunner
from kerascope.engine.surgery import ModelView
from tests.models import reference_model, set_numpy_weights

REFERENCE = pathlib.Path(__file__).parent / "data" / "guided_reference.npz"

CONVS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
)
POOLING = (
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
    keras.layers.GlobalAveragePooling2D,
)
MERGES = (keras.layers.Add, keras.layers.Concatenate)


def _block():
    """The nested model: conv -> (BN -> separable conv) + skip -> depthwise conv."""
    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="block_conv")(inputs)
    branch = keras.layers.BatchNormalization(name="block_bn")(h)
    branch = keras.layers.SeparableConv2D(4, 3, padding="same", activation="relu",
                                          name="block_sep")(branch)
    h = keras.layers.Add(name="block_add")([h, branch])
    h = keras.layers.DepthwiseConv2D(3, padding="same", activation="tanh", name="block_dw")(h)
    return keras.Model(inputs, h, name="block")


def nested_model():
    """Nested block, then Conv3D and Conv1D branches concatenated, pooling, Dense."""
    inputs = keras.Input((8, 8, 3))
    h = _block()(inputs)
    c3 = keras.layers.Reshape((8, 8, 4, 1))(h)
    c3 = keras.layers.Conv3D(2, (3, 3, 2), padding="same", activation="relu", name="conv3d")(c3)
    c3 = keras.layers.Reshape((8, 8, 8))(c3)
    c1 = keras.layers.Reshape((64, 4))(h)
    c1 = keras.layers.Conv1D(3, 3, padding="same", activation="relu", name="conv1d")(c1)
    c1 = keras.layers.Reshape((8, 8, 3))(c1)
    h = keras.layers.Concatenate(name="concat")([c3, c1])
    h = keras.layers.MaxPooling2D(name="max_pool")(h)
    h = keras.layers.AveragePooling2D(2, name="avg_pool")(h)
    h = keras.layers.Activation("relu", name="act")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    h = keras.layers.Dense(6, name="dense")(h)
    h = keras.layers.ReLU(name="relu")(h)
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(h)
    model = keras.Model(inputs, outputs, name="nested")
    set_numpy_weights(model, seed=3, scale=1.0)
    bn = model.get_layer("block").get_layer("block_bn")
    rng = np.random.default_rng(5)
    bn.set_weights([  # gamma, beta, moving mean, moving variance (positive)
        rng.uniform(0.5, 1.5, 4).astype(np.float32),
        rng.normal(0, 0.2, 4).astype(np.float32),
        rng.normal(0, 0.3, 4).astype(np.float32),
        rng.uniform(0.5, 2.0, 4).astype(np.float32),
    ])
    return model


@pytest.fixture(scope="module")
def model():
    return nested_model()


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32)


TARGETS = np.array([0, 1, 2, 1], np.int32)


def _passes(model, x, rule_set=(), layers=()):
    runner = PassRunner.for_model(model, targets.UnitScore(rank=False), batch_size=8,
                                  layers=layers, rules=rule_set)
    return runner.backprop(x, TARGETS)


def _leaf_names(model, types):
    return {layer.name for layer in sublayers(model) if isinstance(layer, types)}


def _recording(replace, seen):
    """``replace`` that also records the names of the layers it was applied to."""

    def record(layer, call):
        seen.add(layer.name)
        return replace(layer, call)

    return record


def _assert_same(ruled, plain):
    np.testing.assert_allclose(ruled.outputs, plain.outputs, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ruled.scores, plain.scores, rtol=1e-5, atol=1e-6)
    scale = np.abs(plain.input_grads).max()
    assert scale > 1e-3  # the gradients are not trivially zero
    np.testing.assert_allclose(ruled.input_grads, plain.input_grads, rtol=1e-5,
                               atol=1e-5 * scale)


@backend.custom_gradient
def same_relu(x):
    """ReLU with the backward of keras.ops.relu, through vjp."""
    return keras.ops.relu(x), lambda g: backend.vjp(keras.ops.relu, (x,), g)


@backend.custom_gradient
def same_tanh(x):
    return keras.ops.tanh(x), lambda g: backend.vjp(keras.ops.tanh, (x,), g)


def test_custom_gradient_copies_of_dense_and_conv_layers_change_nothing(model, x):
    plain = _passes(model, x)
    seen = set()
    rule_set = (rules.LayerRule((keras.layers.Dense,) + CONVS,
                                _recording(rules.same_backward, seen)),)
    ruled = _passes(model, x, rule_set)
    _assert_same(ruled, plain)
    # every Dense and Conv layer was replaced, the nested ones and the stripped head too
    expected = _leaf_names(model, (keras.layers.Dense,) + CONVS)
    assert expected == {"block_conv", "block_sep", "block_dw", "conv3d", "conv1d", "dense",
                        "head"}
    assert seen == expected


def test_rules_for_batchnorm_pooling_merges_and_activations_change_nothing(model, x):
    plain = _passes(model, x)
    seen = set()
    replace = _recording(rules.same_backward, seen)
    rule_set = (
        rules.LayerRule(keras.layers.BatchNormalization, replace),
        rules.LayerRule(POOLING, replace),
        rules.LayerRule(MERGES, replace),
        rules.ActivationRule("relu", same_relu),
        rules.ActivationRule("tanh", same_tanh),
    )
    ruled = _passes(model, x, rule_set)
    _assert_same(ruled, plain)
    assert seen == {"block_bn", "max_pool", "avg_pool", "gap", "block_add", "concat"}


def test_every_rule_at_once_changes_nothing(model, x):
    plain = _passes(model, x)
    everything = (keras.layers.Dense, keras.layers.BatchNormalization) + CONVS + POOLING + MERGES
    rule_set = (
        rules.LayerRule(everything, rules.same_backward),
        rules.ActivationRule("relu", same_relu),
    )
    _assert_same(_passes(model, x, rule_set), plain)


def _scaled_backward(factor):
    def backward(layer, call, inputs, output, upstream):
        return tuple(factor * g for g in backend.vjp(call, inputs, upstream))

    return rules.backward_rule(backward)


def test_a_ruled_layer_inside_a_nested_model_is_reached(model, x):
    """Every path from the input runs through the nested block's first conv, so
    doubling its backward doubles the input gradient (and changes no output)."""
    plain = _passes(model, x)
    ruled = _passes(model, x, (rules.LayerRule("block_conv", _scaled_backward(2.0)),))
    np.testing.assert_allclose(ruled.outputs, plain.outputs, rtol=1e-5, atol=1e-7)
    scale = np.abs(plain.input_grads).max()
    np.testing.assert_allclose(ruled.input_grads, 2 * plain.input_grads, rtol=1e-5,
                               atol=1e-5 * scale)
    # a predicate reaches it too, and a captured layer sees the ruled output
    by_predicate = rules.LayerRule(lambda layer: layer.name == "block_dw",
                                   _scaled_backward(3.0))
    ruled = _passes(model, x, (by_predicate,), layers=["block_dw"])
    captured = _passes(model, x, layers=["block_dw"])
    np.testing.assert_allclose(ruled.layer_outputs[0], captured.layer_outputs[0], rtol=1e-6)
    np.testing.assert_allclose(ruled.layer_grads[0], captured.layer_grads[0], rtol=1e-5)
    np.testing.assert_allclose(ruled.input_grads, 3 * plain.input_grads, rtol=1e-5,
                               atol=1e-5 * scale)


@pytest.mark.parametrize("merge", ["block_add", "concat"])
def test_multi_input_rules_get_one_argument_per_input(model, x, merge):
    """Backprop is linear in the upstream gradient: sending 2g to the first input
    only plus 2g to the second only gives twice the plain gradient."""

    def only(which):
        def backward(layer, call, inputs, output, upstream):
            grads = backend.vjp(call, inputs, upstream)
            assert len(inputs) == 2 and len(grads) == 2
            return tuple(2 * g if i == which else 0 * g for i, g in enumerate(grads))

        return rules.LayerRule(merge, rules.backward_rule(backward))

    plain = _passes(model, x).input_grads
    first = _passes(model, x, (only(0),)).input_grads
    second = _passes(model, x, (only(1),)).input_grads
    scale = np.abs(plain).max()
    np.testing.assert_allclose(first + second, 2 * plain, rtol=1e-4, atol=1e-5 * scale)
    assert np.abs(first - plain).max() > 1e-3 * scale
    assert np.abs(second - plain).max() > 1e-3 * scale


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(REFERENCE))


@pytest.mark.parametrize("rule_set, key", [
    (rules.GUIDED_BACKPROP_RULES, "guided"),
    (rules.DECONVNET_RULES, "deconv"),
    ((), "vanilla"),
])
def test_guided_and_deconvnet_rule_sets_match_the_numpy_reference(ref, rule_set, key):
    model = reference_model(ref)
    runner = PassRunner.for_model(model, targets.UnitScore(rank=False), rules=rule_set)
    grads = runner.backprop(ref["x"], ref["targets"].astype(np.int32)).input_grads
    scale = np.abs(ref[key]).max()
    np.testing.assert_allclose(grads, ref[key], rtol=1e-4, atol=1e-5 * scale)
    # with the Dense and Conv layers themselves replaced as well: the fused ReLU is
    # its own step after the layer rule, still guided
    both = (rules.LayerRule((keras.layers.Dense, keras.layers.Conv2D), rules.same_backward),)
    runner = PassRunner.for_model(model, targets.UnitScore(rank=False),
                                  rules=both + tuple(rule_set))
    grads = runner.backprop(ref["x"], ref["targets"].astype(np.int32)).input_grads
    np.testing.assert_allclose(grads, ref[key], rtol=1e-4, atol=1e-5 * scale)


def _snapshot(model):
    layers = sublayers(model)
    return {
        "calls": [("call" in vars(layer)) for layer in layers],
        "activations": [vars(layer).get("activation") for layer in layers],
        "weights": [np.array(w) for w in model.get_weights()],
    }


def test_users_model_is_unchanged_after_ruled_passes(x):
    model = nested_model()
    before = _snapshot(model)
    out_before = keras.ops.convert_to_numpy(model(x))
    everything = (keras.layers.Dense, keras.layers.BatchNormalization) + CONVS + POOLING + MERGES
    _passes(model, x, (rules.LayerRule(everything, rules.same_backward),)
            + rules.GUIDED_BACKPROP_RULES)

    def broken(layer, call):
        raise RuntimeError("rule failed")

    with pytest.raises(RuntimeError, match="rule failed"):
        ModelView(model, rules=rules.LayerRule("conv1d", broken)).forward(x)
    after = _snapshot(model)
    assert not any(after["calls"])
    assert all(a is b for a, b in zip(before["activations"], after["activations"]))
    assert model.get_layer("head").activation is keras.activations.softmax
    for a, b in zip(before["weights"], after["weights"]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), out_before, rtol=1e-6)


def test_view_key_and_compile_cache_follow_the_rules_identity(ref):
    model = reference_model(ref)
    plain = ModelView(model)
    guided = ModelView(model, rules=rules.GUIDED_BACKPROP_RULES)
    assert guided.key != plain.key
    assert guided.key == ModelView(model, rules=rules.GUIDED_BACKPROP_RULES).key
    assert guided.key != ModelView(model, rules=rules.DECONVNET_RULES).key
    runner = PassRunner.for_model(model, targets.UnitScore(rank=False),
                                  rules=rules.GUIDED_BACKPROP_RULES)
    x, t = ref["x"], ref["targets"].astype(np.int32)
    runner.backprop(x, t)
    traces = backend.trace_count()
    PassRunner.for_model(model, targets.UnitScore(rank=False),
                         rules=rules.GUIDED_BACKPROP_RULES).backprop(x, t)
    assert backend.trace_count() == traces


def test_activation_rules_reach_relu_and_activation_layers_and_fused_activations():
    inputs = keras.Input((3,))
    h = keras.layers.Dense(4, activation="relu", name="fused")(inputs)
    h = keras.layers.ReLU(name="relu_layer")(h)
    h = keras.layers.Activation("relu", name="act_layer")(h)
    h = keras.layers.ReLU(max_value=6.0, name="relu6")(h)  # not a plain ReLU
    outputs = keras.layers.Dense(2, name="out")(h)
    model = keras.Model(inputs, outputs)
    plan = ModelView(model, rules=rules.GUIDED_BACKPROP_RULES).ruled_layers
    assert {layer.name: how for layer, how, _ in plan} == {
        "fused": "activation", "relu_layer": "relu_call", "act_layer": "activation"}
    # a layer rule on a ReLU layer wins over the activation rule
    both = (rules.LayerRule(keras.layers.ReLU, rules.same_backward),) + rules.DECONVNET_RULES
    plan = {layer.name: how for layer, how, _ in ModelView(model, rules=both).ruled_layers}
    assert plan["relu_layer"] == "call" and plan["relu6"] == "call"


def test_bad_rules_are_rejected_naming_the_argument(ref):
    model = reference_model(ref)
    with pytest.raises(ValueError, match="rules"):
        ModelView(model, rules=[rules.guided_relu])
    with pytest.raises(ValueError, match="match"):
        rules.LayerRule(3, rules.same_backward)
    with pytest.raises(ValueError, match="replace"):
        rules.LayerRule("dense", "not a function")
    with pytest.raises(ValueError, match="match"):
        rules.ActivationRule(keras.layers.ReLU, rules.guided_relu)


def test_vjp_matches_the_closed_form():
    a = keras.ops.convert_to_tensor(np.array([0.3, -1.2, 2.0], np.float32))
    b = keras.ops.convert_to_tensor(np.array([1.5, 0.5, -0.7], np.float32))
    g = keras.ops.convert_to_tensor(np.array([1.0, -2.0, 0.5], np.float32))
    ga, gb = backend.vjp(lambda u, v: u * v + keras.ops.sin(u), (a, b), g)
    an, bn, gn = (keras.ops.convert_to_numpy(t) for t in (a, b, g))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ga), gn * (bn + np.cos(an)), rtol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gb), gn * an, rtol=1e-6)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="subclassed")
        self.first = keras.layers.Dense(5, activation="relu", name="first")
        self.second = keras.layers.Dense(2, name="second")

    def call(self, x):
        return self.second(self.first(inputs=x))  # a layer called with a keyword input


def test_rules_reach_layers_of_a_subclassed_model_called_by_keyword():
    model = Subclassed()
    x = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    model(x)
    set_numpy_weights(model, seed=2, scale=1.0)
    runner = PassRunner.for_model(model, targets.UnitScore(rank=False))
    t = np.zeros(3, np.int32)
    plain = runner.backprop(x, t)
    ruled = PassRunner.for_model(model, targets.UnitScore(rank=False),
                                 rules=rules.LayerRule("first", _scaled_backward(2.0)))
    ruled = ruled.backprop(x, t)
    np.testing.assert_allclose(ruled.outputs, plain.outputs, rtol=1e-6)
    assert np.abs(plain.input_grads).max() > 1e-3
    np.testing.assert_allclose(ruled.input_grads, 2 * plain.input_grads, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------
# Rule sets chosen with the model in hand: selectors.


def _sequential():
    return keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
        keras.layers.Conv2D(4, 3, activation="relu", name="c2"),
        keras.layers.MaxPooling2D(name="pool"),
        keras.layers.Conv2D(4, 1, name="c3"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(3, name="head"),
    ])


def _names_of(selector, model):
    return [layer.name for layer in selector.select(model)]


def test_selectors_on_a_sequential_model():
    model = _sequential()
    assert _names_of(rules.first_layer(), model) == ["c1"]
    assert _names_of(rules.named("c3", "head"), model) == ["c3", "head"]
    assert _names_of(rules.of_type(keras.layers.Conv2D), model) == ["c1", "c2", "c3"]
    assert _names_of(rules.of_type(keras.layers.Conv2D, except_last=True), model) == ["c1", "c2"]
    assert _names_of(rules.of_type(keras.layers.Conv2D, except_first=True), model) == ["c2", "c3"]
    assert _names_of(rules.of_type((keras.layers.Dense, keras.layers.MaxPooling2D)),
                     model) == ["pool", "head"]
    with pytest.raises(ValueError, match="no layer 'nope'"):
        rules.named("nope").select(model)


def test_selectors_on_a_functional_model_with_a_nested_block():
    model = nested_model()
    leaves = [layer.name for layer in rules.leaf_layers(model)]
    assert leaves[:5] == ["block_conv", "block_bn", "block_sep", "block_add", "block_dw"]
    assert "input_layer" not in " ".join(leaves)
    assert _names_of(rules.first_layer(), model) == ["block_conv"]
    convs = _names_of(rules.of_type(CONVS), model)
    assert convs[:3] == ["block_conv", "block_sep", "block_dw"]
    assert _names_of(rules.of_type(CONVS, except_last=True), model) == convs[:-1]
    assert _names_of(rules.named("block_bn", "conv3d"), model) == ["block_bn", "conv3d"]


def test_a_rule_set_rules_only_the_selected_layers():
    model = _sequential()
    x = np.random.default_rng(3).normal(size=(2, 8, 8, 3)).astype(np.float32)
    set_numpy_weights(model, seed=4, scale=0.5)
    ruleset = rules.RuleSet((rules.first_layer(), _scaled_backward(2.0)),
                            (rules.named("head"), _scaled_backward(3.0)),
                            name="scaled")
    chosen = ruleset.for_model(model)
    assert [layer.name for layer in chosen] == ["c1", "head"]
    assert ruleset.rules(model) is rules.rules_for(ruleset, model)  # one tuple per model
    score = targets.UnitScore(rank=False)
    t = np.zeros(2, np.int32)
    plain = PassRunner.for_model(model, score).backprop(x, t)
    ruled = PassRunner.for_model(model, score, rules=rules.rules_for(ruleset, model))
    ruled = ruled.backprop(x, t)
    np.testing.assert_allclose(ruled.outputs, plain.outputs, rtol=1e-6)
    np.testing.assert_allclose(ruled.input_grads, 6 * plain.input_grads, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="selector, replace"):
        rules.RuleSet("relu")
