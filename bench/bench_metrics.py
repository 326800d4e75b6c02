"""kerascope's metrics against Quantus 0.6 on the same work (torch backend, CPU).

Same channels-first Keras CNN (1x``size``x``size`` inputs: conv 8 + pool, conv 16 +
pool, Dense 10 + softmax: tests/test_quantus.py's kind of model, small enough that
the metric's own work shows), the same ``n`` inputs, the same precomputed
random maps and ground-truth masks, matched settings (those of tests/test_quantus.py).

Each metric: one warm-up call per side (it also times the loop count below), then 3
rounds of (kerascope, Quantus, raw) in rotating order; the median of each side's 3
times (a call under 0.5 s is looped within its sample, the time divided by the loop
count). Ratios of wall times, and in parentheses of this process's CPU times (less
sensitive to other processes on shared cores; torch runs 1 thread). ``raw`` replays
the model passes kerascope made (the same rows in the same call sizes, counted on one
of its calls) as bare ``model(tensor)`` calls under ``torch.no_grad()``
(``bench/raw.py``'s forward): the floor of any implementation of the metric. Printed
per metric: Quantus / kerascope (target: >= 10x for the metrics that need no model
pass, >= 3x for the others) and kerascope / raw (target: <= 1.2).

``Quantus / raw`` bounds what any implementation can gain on the model metrics.

Run: KERAS_BACKEND=torch python bench/bench_metrics.py [--n 16] [--size 32] [--threads 1]
[--only NAME ...]
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

if not hasattr(np, "trapz"):
    np.trapz = np.trapezoid  # Quantus 0.6 calls np.trapz (removed in numpy 2.4)

import keras  # noqa: E402
import quantus  # noqa: E402

import raw as raw_passes  # noqa: E402
from kerascope import metrics  # noqa: E402
from kerascope.engine import runner as runner_module  # noqa: E402

BATCH = 64


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


def call_sizes(fn):
    """Rows of each model call ``fn`` makes through kerascope's pass runner."""
    sizes = []
    record = runner_module.record_traffic

    def spy(rows=0, *args, **kwargs):
        sizes.append(int(rows))
        return record(rows, *args, **kwargs)

    runner_module.record_traffic = spy
    try:
        fn()
    finally:
        runner_module.record_traffic = record
    return sizes


def rounds(fns, repeats=3, sample_seconds=0.5):
    """Median wall and CPU (this process) time of one call of each callable:
    ``repeats`` rounds in rotating order. A call faster than ``sample_seconds``
    (timed once first) is looped within a sample, the sample's time divided by the
    loop count, so that one preemption on busy cores does not make a sample."""
    names = list(fns)
    loops = {}
    for name in names:
        start = time.perf_counter()
        fns[name]()
        loops[name] = max(1, int(sample_seconds / max(time.perf_counter() - start, 1e-6)))
    wall = {name: [] for name in names}
    cpu = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(loops[name]):
                fns[name]()
            wall[name].append((time.perf_counter() - t0) / loops[name])
            cpu[name].append((time.process_time() - c0) / loops[name])
    median = statistics.median
    return ({name: median(v) for name, v in wall.items()},
            {name: median(v) for name, v in cpu.items()})


def cases(n, size, x, s):
    f = size * size
    step = max(1, f // 64)  # 64 steps of the curve metrics
    quadrants = np.array([[1, 0, 0, 1], [0, 1, 1, 0]] * (n // 2 + 1))[:n]
    def q(cls, **options):  # Quantus as the tests run it: no normalisation, no warnings
        settings = dict(dict(normalise=False, disable_warnings=True), **options)
        return getattr(quantus, cls)(**settings)

    # name, family of the registry, kerascope options, Quantus metric, extra Quantus call kwargs
    return [
        ("deletion", dict(baseline="black", steps=f // step),
         q("PixelFlipping", features_in_step=step), {}),
        ("selectivity", dict(patch_size=4), q("Selectivity", patch_size=4), {}),
        ("region_perturbation", dict(patch_size=4, regions_evaluation=32),
         q("RegionPerturbation", patch_size=4, regions_evaluation=32), {}),
        ("irof", dict(baseline=0.0), q("IROF", perturb_baseline=0.0, return_aggregate=False), {}),
        ("faithfulness_estimate", dict(features_in_step=step),
         q("FaithfulnessEstimate", features_in_step=step), {}),
        ("monotonicity_correlation", dict(features_in_step=step * 4, nr_samples=4),
         q("MonotonicityCorrelation", features_in_step=step * 4, nr_samples=4), {}),
        ("sensitivity_n", dict(features_in_step=step),
         q("SensitivityN", features_in_step=step, return_aggregate=False), {}),
        ("infidelity", dict(perturb_patch_sizes=(4,)),
         q("Infidelity", perturb_patch_sizes=[4], n_perturb_samples=1), {}),
        ("mu_fidelity", dict(baseline="black", num_subsets=64, subset_fraction=0.2,
                             grid_size=None),
         q("FaithfulnessCorrelation", nr_runs=64, subset_size=f // 5,
           return_aggregate=False), {}),
        ("completeness", dict(normalise=False), q("Completeness", normalise=False), {}),
        ("sparseness", {}, q("Sparseness"), {}),
        ("complexity", {}, q("Complexity"), {}),
        ("pointing_game", dict(masks=s, ties="any"), q("PointingGame"), {}),
        ("relevance_rank", dict(masks=s), q("RelevanceRankAccuracy"), {}),
        ("relevance_mass", dict(masks=s), q("RelevanceMassAccuracy"), {}),
        ("top_k_intersection", dict(masks=s, k=64), q("TopKIntersection", k=64), {}),
        ("focus", dict(quadrants=quadrants), q("Focus"), dict(custom_batch=quadrants)),
    ]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (1: fair on shared cores)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    n, size = args.n, args.size
    model = build(size)
    model.eval()  # a Keras model under torch is a torch Module; Quantus wants eval mode
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(n, 1, size, size)).astype("float32")
    y = rng.integers(0, 10, size=n)
    a = rng.normal(size=x.shape).astype("float32")
    s = np.zeros_like(x)
    s[:, :, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1
    forward = raw_passes.forward(model)
    load = os.getloadavg()
    print(f"# N={n}, 1x{size}x{size}, batch {BATCH}, torch CPU ({args.threads} thread), "
          f"keras {keras.__version__}, "
          f"quantus {quantus.__version__}; load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}")
    print("| metric | family | model | Quantus s | kerascope s | raw s | rows | "
          "Quantus / kerascope | kerascope / raw | Quantus / raw |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, options, metric, extra in cases(n, size, x, s):
        if args.only and not any(part in name for part in args.only):
            continue
        info = metrics.get(name)

        def ours():
            return info.fn(model, x, y, maps=a, batch_size=BATCH, **options)

        def theirs():
            return metric(model=model, x_batch=x, y_batch=y, a_batch=a, s_batch=s,
                          device="cpu", softmax=False, channel_first=True, batch_size=BATCH,
                          **extra)

        sizes = call_sizes(ours)  # kerascope's warm-up call; rounds() warms up the others
        probe = [np.resize(x, (rows,) + x.shape[1:]) for rows in sizes]
        targets = [np.zeros(rows, np.int32) for rows in sizes]

        def raw():
            for rows, t in zip(probe, targets):
                forward(rows, t, BATCH)

        fns = {"ours": ours, "theirs": theirs}
        if sizes:
            fns["raw"] = raw
        t, c = rounds(fns)
        if sizes:
            raw_cell = f"{t['raw']:.4f}"
            ratio = f"{t['ours'] / t['raw']:.2f} ({c['ours'] / c['raw']:.2f})"
            bound = f"{t['theirs'] / t['raw']:.1f}x"
        else:
            raw_cell = ratio = bound = "-"
        print(f"| {name} | {info.family} | {'yes' if sizes else 'no'} | {t['theirs']:.4f} | "
              f"{t['ours']:.4f} | {raw_cell} | {sum(sizes)} in {len(sizes)} | "
              f"{t['theirs'] / t['ours']:.1f}x ({c['theirs'] / c['ours']:.1f}x) | {ratio} | "
              f"{bound} |", flush=True)
    load = os.getloadavg()
    print(f"# load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
