"""kerascope's metrics against Quantus 0.6 on the same work (torch backend).

Same channels-first Keras CNN, same inputs, same precomputed maps, matched settings
(those of tests/test_quantus.py). Each metric: median of 3 timed calls after a
warm-up, Quantus and kerascope interleaved. ``raw`` is the time of the model passes
the metric needs (the same number of rows through ``model`` in batches of 64), the
floor of any implementation.

Run: KERAS_BACKEND=torch python bench/bench_metrics.py [--n 16] [--size 32]
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

if not hasattr(np, "trapz"):
    np.trapz = np.trapezoid  # Quantus 0.6 calls np.trapz (removed in numpy 2.4)

import keras  # noqa: E402
import quantus  # noqa: E402
import torch  # noqa: E402

from kerascope import metrics  # noqa: E402


def build(size, seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((1, size, size))
    h = inp
    for filters in (8, 16):
        h = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                data_format="channels_first")(h)
        h = keras.layers.MaxPooling2D(2, data_format="channels_first")(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(inp, keras.layers.Dense(10, activation="softmax")(h))


def median_time(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    n, size = args.n, args.size
    model = build(size)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(n, 1, size, size)).astype("float32")
    y = rng.integers(0, 10, size=n)
    a = rng.normal(size=x.shape).astype("float32")
    s = np.zeros_like(x)
    s[:, :, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    f = size * size
    step = max(1, f // 64)
    cases = [  # name, kerascope options, Quantus metric, rows of model passes
        ("deletion", dict(baseline="black", steps=f // step),
         quantus.PixelFlipping(features_in_step=step), n * (f // step + 1)),
        ("selectivity", dict(patch_size=4), quantus.Selectivity(patch_size=4),
         n * (size // 4) ** 2),
        ("region_perturbation", dict(patch_size=4, regions_evaluation=32),
         quantus.RegionPerturbation(patch_size=4, regions_evaluation=32), n * 33),
        ("faithfulness_estimate", dict(features_in_step=step),
         quantus.FaithfulnessEstimate(features_in_step=step), n * (f // step + 1)),
        ("sensitivity_n", dict(features_in_step=step),
         quantus.SensitivityN(features_in_step=step, return_aggregate=False),
         n * (int(0.8 * f // step) + 1)),
        ("infidelity", dict(perturb_patch_sizes=(4,)),
         quantus.Infidelity(perturb_patch_sizes=[4], n_perturb_samples=1),
         n * ((size // 4) ** 2 + 1)),
        ("monotonicity_correlation", dict(features_in_step=step * 4, nr_samples=4),
         quantus.MonotonicityCorrelation(features_in_step=step * 4, nr_samples=4),
         n * (f // (step * 4) * 4 + 1)),
        ("completeness", dict(normalise=False), quantus.Completeness(normalise=False), n * 2),
        ("sparseness", {}, quantus.Sparseness(), 0),
        ("complexity", {}, quantus.Complexity(), 0),
        ("pointing_game", dict(masks=s, ties="any"), quantus.PointingGame(), 0),
        ("relevance_rank", dict(masks=s), quantus.RelevanceRankAccuracy(), 0),
        ("relevance_mass", dict(masks=s), quantus.RelevanceMassAccuracy(), 0),
        ("top_k_intersection", dict(masks=s, k=64), quantus.TopKIntersection(k=64), 0),
    ]
    probe = np.repeat(x, 64 // n + 1, axis=0)[:64]

    def raw(rows):
        model.eval()
        with torch.no_grad():
            for start in range(0, rows, 64):
                model(probe[: min(64, rows - start)])

    print(f"| metric | Quantus s | kerascope s | raw passes s | Quantus / kerascope | "
          f"kerascope / raw |  (N={n}, {size}x{size}, torch, CPU)")
    print("|---|---|---|---|---|---|")
    for name, options, metric, rows in cases:
        fn = metrics.get(name).fn

        def ours():
            return fn(model, x, y, maps=a, batch_size=64, **options)

        def theirs():
            model.eval()
            return metric(model=model, x_batch=x, y_batch=y, a_batch=a, s_batch=s,
                          device="cpu", softmax=False, channel_first=True, batch_size=64)

        ours(), theirs()  # warm-up
        t_ours, t_theirs = median_time(ours), median_time(theirs)
        t_raw = median_time(lambda: raw(rows)) if rows else float("nan")
        print(f"| {name} | {t_theirs:.4f} | {t_ours:.4f} | {t_raw:.4f} | "
              f"{t_theirs / t_ours:.1f}x | {t_ours / t_raw:.2f} |", flush=True)


if __name__ == "__main__":
    main()
