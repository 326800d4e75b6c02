"""Attention rollout and generic attention against the raw passes they need.

A small ViT built from ``keras.layers.MultiHeadAttention`` (32x32 images, 4x4
patches: 64 patches + class token, 4 pre-LN blocks, 4 heads, width 64, 10 classes)
explains 32 images. ``attention_rollout`` is timed against one bare forward pass of
the model over the same rows (``raw.forward``; the model's own, fused, attention
path), ``generic_attention`` against one bare forward plus backward (``raw.input_grads``:
d score / d input). Targets: rollout <= 1.1x, generic attention <= 1.3x. A second
baseline, ``explicit``, makes the same bare passes with the attention layers' own
explicit path (``explicit_copy``): the probabilities materialized, as reading them
requires. kerascope runs the attention layers' explicit path and reduces the
probabilities to the rollout product inside the pass (``DeviceProduct``).

    KERAS_BACKEND=jax .venv-jax/bin/python bench/bench_attention.py [--repeats 5]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import common  # noqa: E402
import raw  # noqa: E402

import keras  # noqa: E402

import kerascope  # noqa: E402

N, IMAGE, PATCH, WIDTH, HEADS, BLOCKS, CLASSES = 32, 32, 4, 64, 4, 4, 10


class ClassToken(keras.layers.Layer):
    """Prepends a learned class token to the patch sequence."""

    def build(self, shape):
        self.token = self.add_weight(shape=(1, 1, shape[-1]), initializer="random_normal")

    def call(self, x):
        token = keras.ops.broadcast_to(self.token, (keras.ops.shape(x)[0], 1, x.shape[-1]))
        return keras.ops.concatenate([token, x], axis=1)


class PositionEmbedding(keras.layers.Layer):
    def build(self, shape):
        self.table = self.add_weight(shape=tuple(shape[1:]), initializer="random_normal")

    def call(self, x):
        return x + self.table


def small_vit(seed=0):
    keras.utils.set_random_seed(seed)
    images = keras.Input((IMAGE, IMAGE, 3))
    h = keras.layers.Conv2D(WIDTH, PATCH, strides=PATCH)(images)
    h = keras.layers.Reshape(((IMAGE // PATCH) ** 2, WIDTH))(h)
    h = PositionEmbedding()(ClassToken()(h))
    for _ in range(BLOCKS):
        n = keras.layers.LayerNormalization()(h)
        h = h + keras.layers.MultiHeadAttention(HEADS, WIDTH // HEADS)(n, n)
        n = keras.layers.LayerNormalization()(h)
        h = h + keras.layers.Dense(WIDTH)(keras.layers.Dense(2 * WIDTH, activation="gelu")(n))
    logits = keras.layers.Dense(CLASSES)(keras.layers.LayerNormalization()(h)[:, 0])
    return keras.Model(images, logits)


def explicit_copy(seed=0):
    """The same ViT (same weights) whose attention layers take Keras's own explicit
    path (``return_attention_scores=True`` inside each layer: scores, ``Softmax``,
    weighted sum; the probabilities then dropped): the forward pass any method that
    reads the probabilities must make, where ``raw.forward`` runs the fused kernel."""
    model = small_vit(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.MultiHeadAttention):
            compute = layer._compute_attention

            def explicit(*args, _compute=compute, **kwargs):
                if len(args) > 5:  # (query, key, value, mask, training, return_scores)
                    args = args[:5] + (True,) + args[6:]
                else:
                    kwargs["return_attention_scores"] = True
                return _compute(*args, **kwargs)

            object.__setattr__(layer, "_compute_attention", explicit)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    common.header("attention methods vs raw passes (small ViT, 32 images of 32x32)")
    model = small_vit()
    x = np.random.default_rng(1).random((N, IMAGE, IMAGE, 3)).astype(np.float32)
    targets = np.arange(N, dtype=np.int32) % CLASSES
    explicit = explicit_copy()
    cases = [
        ("attention_rollout", raw.forward(model), raw.forward(explicit), 1.1),
        ("generic_attention", raw.input_grads(model), raw.input_grads(explicit), 1.3),
    ]
    rows = []
    for name, baseline, explicit_baseline, goal in cases:
        fns = {
            "ours": lambda name=name: kerascope.explain(name, model, x, targets, batch_size=N),
            "raw": lambda baseline=baseline: baseline(x, targets, N),
            "explicit": lambda baseline=explicit_baseline: baseline(x, targets, N),
        }
        medians, times = common.interleaved(fns, repeats=args.repeats)
        ratio = medians["ours"] / medians["raw"]
        cpu = common.interleaved.cpu
        rows.append((name, N, f"{medians['ours'] * 1e3:.1f}", f"{medians['raw'] * 1e3:.1f}",
                     f"{ratio:.2f}", f"{goal:.1f}", f"{common.spread(times['ours']):.2f}",
                     f"{cpu['ours'] / cpu['raw']:.2f}",
                     f"{medians['ours'] / medians['explicit']:.2f}",
                     f"{cpu['ours'] / cpu['explicit']:.2f}"))
    print(common.table(("method", "rows", "ours ms", "raw ms", "ours/raw", "target",
                        "spread", "cpu ratio", "ours/explicit", "cpu ratio (explicit)"),
                       rows))


if __name__ == "__main__":
    main()
