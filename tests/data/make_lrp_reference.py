"""Make the zennit references of tests/test_lrp.py, in two steps.

1. kerascope side (any kerascope venv): build the test models with seeded weights,
   write their weights, inputs, targets, target logits and kerascope's maps (one
   backend's, which the others must match) to ``lrp_models.npz``::

       KERAS_BACKEND=torch .venv-torch/bin/python tests/data/make_lrp_reference.py models

2. zennit side (its own env: zennit imports torchvision, kept out of the test
   envs): build a pure-torch twin of each model from those weights, run every
   composite (zennit 0.5.1, BatchNorm merged by ``SequentialMergeBatchNorm`` with
   the merged BatchNorm made an exact identity, see ``_exact_merge``) and
   write ``lrp_reference.npz``: zennit's relevance for a one-hot output times the
   target logit, channels kept, NHWC::

       /work/venvs/zennit/bin/python tests/data/make_lrp_reference.py reference

Models: ``cnn`` (Conv-ReLU x3 with average and max pooling, Flatten, Dense-ReLU,
Dense) and ``bn`` (Conv -> BatchNormalization -> ReLU twice, global average
pooling, Dense); 16x16x3 inputs with negative values.
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "lrp_models.npz")
REFERENCE = os.path.join(HERE, "lrp_reference.npz")
COMPOSITES = ("epsilon", "epsilon_plus", "epsilon_plus_flat", "epsilon_gamma_box",
              "epsilon_alpha2_beta1", "epsilon_alpha2_beta1_flat")
LOW = np.array([-2.0, -2.5, -3.0], np.float32)  # z^B box, per channel
HIGH = np.array([2.0, 2.5, 3.0], np.float32)
TARGETS = np.array([1, 3, 0], np.int32)


def build(kind):
    """The Keras model ``kind`` (``"cnn"`` or ``"bn"``), weights not set."""
    import keras

    layers = keras.layers
    inputs = keras.Input((16, 16, 3))
    if kind == "cnn":
        h = layers.Conv2D(4, 3, padding="same", activation="relu", name="c1")(inputs)
        h = layers.Conv2D(6, 3, padding="same", activation="relu", name="c2")(h)
        h = layers.AveragePooling2D(2, name="avg")(h)
        h = layers.Conv2D(6, 3, padding="same", activation="relu", name="c3")(h)
        h = layers.MaxPooling2D(2, name="max")(h)
        h = layers.Flatten(name="flat")(h)
        h = layers.Dense(8, activation="relu", name="d1")(h)
        outputs = layers.Dense(5, name="d2")(h)
    else:
        h = inputs
        for i, filters in enumerate((4, 6)):
            h = layers.Conv2D(filters, 3, padding="same", name=f"c{i + 1}")(h)
            h = layers.BatchNormalization(name=f"bn{i + 1}")(h)
            h = layers.ReLU(name=f"r{i + 1}")(h)
        h = layers.GlobalAveragePooling2D(name="gap")(h)
        outputs = layers.Dense(5, name="d1")(h)
    return keras.Model(inputs, outputs, name=kind)


def load(kind, path=MODELS):
    """``(model, x, targets)`` of ``kind`` with the stored weights."""
    stored = np.load(path)
    model = build(kind)
    count = int(stored[f"{kind}/count"])
    model.set_weights([stored[f"{kind}/w{i}"] for i in range(count)])
    return model, stored["x"], stored["targets"]


def explain(model, x, targets, composite, **options):
    """kerascope's LRP map of ``composite`` (channels kept) and its extras."""
    import kerascope

    if composite == "epsilon_gamma_box":
        options = {"low": LOW, "high": HIGH, **options}
    result = kerascope.explain("lrp", model, x, targets, composite=composite,
                               channel_reduction=None, **options)
    return result[1], result.extras


def make_models():
    import keras

    rng = np.random.default_rng(0)
    out = {"x": rng.normal(size=(3, 16, 16, 3)).astype(np.float32), "targets": TARGETS}
    for kind in ("cnn", "bn"):
        model = build(kind)
        weights = []
        for variable in model.weights:
            shape = tuple(variable.shape)
            if "moving_variance" in variable.path:
                value = rng.uniform(0.5, 1.5, size=shape)
            elif "gamma" in variable.path:
                value = rng.uniform(0.5, 1.5, size=shape)
            else:
                value = rng.normal(scale=0.3, size=shape)
            weights.append(value.astype(np.float32))
        model.set_weights(weights)
        out[f"{kind}/count"] = np.array(len(weights))
        for i, (variable, value) in enumerate(zip(model.weights, weights)):
            out[f"{kind}/w{i}"] = value
            out[f"{kind}/name{i}"] = np.array(variable.path)
        logits = keras.ops.convert_to_numpy(model(out["x"], training=False))
        out[f"{kind}/logits"] = logits.astype(np.float32)
        for name in COMPOSITES:  # pins the backends to each other (1e-5)
            out[f"{kind}/kerascope/{name}"] = explain(model, out["x"], TARGETS, name)[0]
    out["backend"] = np.array(keras.backend.backend())
    np.savez_compressed(MODELS, **out)


def _twin(kind, stored):
    """The pure-torch twin of ``kind`` (NCHW), weights from ``stored``."""
    import torch
    from torch import nn

    w = [torch.tensor(stored[f"{kind}/w{i}"]) for i in range(int(stored[f"{kind}/count"]))]

    def conv(cin, cout, kernel, bias):
        module = nn.Conv2d(cin, cout, 3, padding=1)
        module.weight.data = kernel.permute(3, 2, 0, 1).contiguous()
        module.bias.data = bias
        return module

    def dense(kernel, bias):
        module = nn.Linear(kernel.shape[0], kernel.shape[1])
        module.weight.data = kernel.T.contiguous()
        module.bias.data = bias
        return module

    class HWCFlatten(nn.Module):  # Keras flattens channels last
        def forward(self, x):
            return x.permute(0, 2, 3, 1).flatten(1)

    if kind == "cnn":
        return nn.Sequential(
            conv(3, 4, w[0], w[1]), nn.ReLU(), conv(4, 6, w[2], w[3]), nn.ReLU(),
            nn.AvgPool2d(2), conv(6, 6, w[4], w[5]), nn.ReLU(), nn.MaxPool2d(2),
            HWCFlatten(), dense(w[6], w[7]), nn.ReLU(), dense(w[8], w[9]),
        ).eval()
    modules = []
    index = 0
    for cin, cout in ((3, 4), (4, 6)):
        modules.append(conv(cin, cout, w[index], w[index + 1]))
        gamma, beta, mean, variance = w[index + 2:index + 6]
        bn = nn.BatchNorm2d(cout, eps=1e-3)
        bn.weight.data, bn.bias.data = gamma, beta
        bn.running_mean.data, bn.running_var.data = mean, variance
        modules += [bn, nn.ReLU()]
        index += 6
    modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), dense(w[index], w[index + 1])]
    return nn.Sequential(*modules).eval()


def _composite(name, canonizers):
    from zennit import composites, rules, types
    import torch

    if name == "epsilon":
        layer_map = composites.layer_map_base() + [(types.Linear, rules.Epsilon(1e-6))]
        return composites.LayerMapComposite(layer_map, canonizers=canonizers)
    classes = {
        "epsilon_plus": composites.EpsilonPlus,
        "epsilon_plus_flat": composites.EpsilonPlusFlat,
        "epsilon_alpha2_beta1": composites.EpsilonAlpha2Beta1,
        "epsilon_alpha2_beta1_flat": composites.EpsilonAlpha2Beta1Flat,
    }
    if name == "epsilon_gamma_box":
        low = torch.tensor(LOW).reshape(1, 3, 1, 1)
        high = torch.tensor(HIGH).reshape(1, 3, 1, 1)
        return composites.EpsilonGammaBox(low=low, high=high, canonizers=canonizers)
    return classes[name](canonizers=canonizers)


def _exact_merge():
    """zennit's ``SequentialMergeBatchNorm``, its merged BatchNorm an exact identity.

    zennit 0.5.1 folds the BatchNorm into the convolution but leaves the BatchNorm
    its ``eps``: with unit variance it then computes ``x / sqrt(1 + eps)``, 0.05 %
    less per BatchNorm (Keras eps 1e-3), under the Pass rule; the composite's forward
    pass is no longer the model's (logits off by 7e-4, maps by 4e-3 to 7e-3). Later
    zennit sets that ``eps`` to 0 (chr5tphr/zennit issues 234, 240); so do we, for
    the canonizer's lifetime.
    """
    from zennit.canonizers import SequentialMergeBatchNorm

    class ExactMergeBatchNorm(SequentialMergeBatchNorm):
        def register(self, linears, batch_norm):
            super().register(linears, batch_norm)
            self.batch_norm_eps, batch_norm.eps = batch_norm.eps, 0.0

        def remove(self):
            super().remove()
            self.batch_norm.eps = self.batch_norm_eps

    return ExactMergeBatchNorm()


def make_reference():
    import torch
    from zennit.attribution import Gradient
    stored = np.load(MODELS)
    x = torch.tensor(stored["x"]).permute(0, 3, 1, 2).contiguous()
    targets = torch.tensor(stored["targets"]).long()
    from importlib.metadata import version

    out = {"zennit_version": np.array(version("zennit"))}
    for kind in ("cnn", "bn"):
        twin = _twin(kind, stored)
        with torch.no_grad():
            logits = twin(x)
        err = np.abs(logits.numpy() - stored[f"{kind}/logits"]).max()
        assert err < 1e-4, f"{kind}: twin logits differ by {err}"
        picked = logits[torch.arange(len(targets)), targets]
        for name in COMPOSITES:
            canonizers = [_exact_merge()] if kind == "bn" else None
            composite = _composite(name, canonizers)
            one_hot = torch.eye(logits.shape[1])[targets]
            with Gradient(twin, composite) as attributor:
                output, relevance = attributor(x.clone().requires_grad_(True), one_hot)
            err = (output - logits).abs().max()  # canonized forward = the model's
            assert err < 1e-5, f"{kind}/{name}: canonized logits differ by {err}"
            relevance = relevance * picked.reshape(-1, 1, 1, 1)
            out[f"{kind}/{name}"] = relevance.permute(0, 2, 3, 1).detach().numpy()
            print(kind, name, float(relevance.sum()), float(picked.sum()))
    np.savez_compressed(REFERENCE, **out)


if __name__ == "__main__":
    step = sys.argv[1] if len(sys.argv) > 1 else ""
    if step == "models":
        make_models()
    elif step == "reference":
        make_reference()
    else:
        sys.exit("usage: make_lrp_reference.py models|reference")
