"""Time of one feature-visualization step relative to one forward+backward pass.

For each setting, the per-step time is measured as the difference between runs of
``visualize`` with ``LONG`` and ``SHORT`` steps (so compilation and set-up cancel
out) divided by ``LONG - SHORT``; it includes the NumPy draws of the transforms and
the host-to-device copies of one step. The reference is the compiled
forward+backward pass of kerascope's backend (input gradient of the class scores,
``backend.compiled(view, UnitScore, gradients=True)``) on the same model and batch.

    KERAS_BACKEND=jax python bench/bench_feature_visualization.py [--threads 1]
"""

import argparse
import time

import keras
import numpy as np

import kerascope.demo as demo
from kerascope import backend
from kerascope import feature_visualization as fv
from kerascope.engine.surgery import ModelView
from kerascope.engine.targets import UnitScore

SHORT, LONG = 5, 45


def forward_backward_time(model, batch, shape, repeats=30):
    fn = backend.compiled(ModelView(model), UnitScore(rank=False), gradients=True)
    x = keras.ops.convert_to_tensor(np.random.default_rng(0).random((batch,) + shape, np.float32))
    targets = keras.ops.convert_to_tensor(np.arange(batch, dtype=np.int32) % 4)
    keras.ops.convert_to_numpy(fn(x, targets).input_grads)  # compile
    best = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            result = fn(x, targets)
        keras.ops.convert_to_numpy(result.input_grads)
        best.append((time.perf_counter() - start) / repeats)
    return min(best)


def step_time(model, objectives, **settings):
    def run(steps):
        start = time.perf_counter()
        fv.visualize(model, objectives, steps=steps, progress=False, **settings)
        return time.perf_counter() - start

    run(SHORT)  # compile
    return min((run(LONG) - run(SHORT)) / (LONG - SHORT) for _ in range(2))


def tiny_rgb(size=64):
    inputs = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
    h = keras.layers.Conv2D(32, 3, strides=2, activation="relu", name="conv_b")(h)
    h = keras.layers.Conv2D(32, 3, strides=2, activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch intra-op threads (0: leave as is)")
    args = parser.parse_args()
    if args.threads and keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(args.threads)
    keras.utils.set_random_seed(0)
    digits = demo.load_model()
    rgb = tiny_rgb()
    cases = [
        ("digits, 10 class logits, seed-post recipe (pixel, L2+TV, rotate+roll)",
         digits, [fv.class_logit(c) for c in range(10)], (28, 28, 1),
         {k: v for k, v in fv.seed_post_recipe((28, 28, 1), (0, 1)).items() if k != "steps"}),
        ("digits, 10 channels of conv_2, seed-article recipe (pixel, no transforms)",
         digits, [fv.channel("conv_2", c) for c in range(10)], (28, 28, 1),
         dict(learning_rate=0.04, optimizer="sgd", normalize_gradients="rms",
              parametrization=fv.PixelImage(), transforms=[])),
        ("rgb CNN 64x64, 8 channels, Fourier + decorrelated + standard transforms, Adam",
         rgb, [fv.channel("conv_b", c) for c in range(8)], (64, 64, 3),
         dict(parametrization=fv.FourierImage(), transforms="standard", optimizer="adam")),
    ]
    print(f"backend {keras.backend.backend()}")
    for name, model, objectives, shape, settings in cases:
        reference = forward_backward_time(model, len(objectives), shape)
        step = step_time(model, objectives, **settings)
        print(f"{name}\n  step {step * 1e3:8.2f} ms   forward+backward {reference * 1e3:8.2f} ms"
              f"   ratio {step / reference:5.2f}")


if __name__ == "__main__":
    main()
