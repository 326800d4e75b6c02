"""Shared pieces of the benchmarks: the model, the inputs, the timer, the tables.

The benchmark model is a mid-size CNN: 64x64x3 input, four blocks of
(3x3 conv + ReLU, 2x2 max-pool) with 16/32/64/128 filters (~32 MFLOP per
forward pass of one image), a 128-unit ReLU dense
layer and 10 classes, the last ones a linear Dense followed by an
``Activation("softmax")`` layer (the layout tf-explain needs to strip the softmax).
Its weights are drawn from a seeded generator (He-normal kernels, small biases),
so every backend and every peer sees the same function.

Timing: ``interleaved`` runs the competing callables in turn (A B C, B C A, ...),
after a warm-up call of each, and reports the median of each one's wall times
(``time.perf_counter``). Other processes share the cores; interleaving and medians
keep the *ratios* fair even when absolute times drift.
"""

import os
import statistics
import sys
import time

import numpy as np


import keras  # noqa: E402

IMAGE_SHAPE = (64, 64, 3)
NUM_CLASSES = 10
FILTERS = (16, 32, 64, 128)
LAST_CONV = "conv4"


def build_model(softmax=True, seed=0):
    """The benchmark CNN (Functional). ``softmax=False`` ends at the logits.

    Both variants get the same weights for the same ``seed``.
    """
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    h = inputs
    for i, filters in enumerate(FILTERS, start=1):
        h = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv{i}")(h)
        h = keras.layers.MaxPooling2D(2, name=f"pool{i}")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(128, activation="relu", name="dense")(h)
    h = keras.layers.Dense(NUM_CLASSES, name="logits")(h)
    if softmax:
        h = keras.layers.Activation("softmax", name="probs")(h)
    model = keras.Model(inputs, h, name="bench_cnn" if softmax else "bench_cnn_logits")
    model.set_weights(_weights(model, seed))
    return model


def _weights(model, seed):
    rng = np.random.default_rng(seed)
    values = []
    for w in model.weights:
        shape = tuple(w.shape)
        if len(shape) == 1:
            values.append((0.01 * rng.standard_normal(shape)).astype(np.float32))
        else:
            fan_in = int(np.prod(shape[:-1]))
            values.append((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32))
    return values


def split_at(logits_model, layer_name=LAST_CONV):
    """``(trunk, head)``: input -> ``layer_name`` output, and that output -> logits.

    Both reuse ``logits_model``'s layers (same weights); used for the raw Grad-CAM
    passes (forward to the layer, forward+backward of the head only).
    """
    layer = logits_model.get_layer(layer_name)
    trunk = keras.Model(logits_model.inputs, layer.output, name="trunk")
    head_in = keras.Input(tuple(layer.output.shape[1:]), name="features")
    h = head_in
    seen = False
    for lyr in logits_model.layers:
        if seen:
            h = lyr(h)
        if lyr.name == layer_name:
            seen = True
    return trunk, keras.Model(head_in, h, name="head")


def make_inputs(n=16, seed=1):
    """``n`` smooth-ish random images in [0, 1] and per-image targets (int32)."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((n, 8, 8, 3))
    x = np.repeat(np.repeat(coarse, 8, axis=1), 8, axis=2)
    x = np.clip(x + 0.1 * rng.standard_normal(x.shape), 0.0, 1.0).astype(np.float32)
    targets = (np.arange(n) % NUM_CLASSES).astype(np.int32)
    return x, targets


def interleaved(fns, repeats=5, warmup=2, min_seconds=2.0, max_repeats=40, slow_seconds=3.0):
    """Median wall time (s) of each callable in ``fns`` (name -> fn), interleaved.

    Each round runs every callable once; the order rotates each round so none
    always runs first (or right after a given competitor). The first warm-up round
    absorbs compilation; the last one estimates each call's time. Fast callables get
    more rounds (up to ``max_repeats``, until the slowest has run ``min_seconds``);
    when a call takes more than ``slow_seconds``, one warm-up round and 3 rounds
    only (to keep a backend's run within minutes). Returns ``(medians, all_times)``
    of wall times; ``interleaved.cpu`` then holds the median CPU times of this
    process (all its threads), less sensitive to other processes on busy cores.
    """
    names = list(fns)
    first = {}
    for w in range(warmup):
        for name in names:
            t0 = time.perf_counter()
            fns[name]()
            first[name] = time.perf_counter() - t0
        if w == 0 and min(first.values()) > slow_seconds:
            break
    slowest = max(first.values()) if first else 0.0
    if slowest > slow_seconds:
        repeats = min(repeats, 3)
    elif slowest > 0:
        repeats = max(repeats, min(max_repeats, int(np.ceil(min_seconds / slowest))))
    times = {name: [] for name in names}
    cpu = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            c0, t0 = time.process_time(), time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    interleaved.cpu = {name: statistics.median(values) for name, values in cpu.items()}
    return {name: statistics.median(values) for name, values in times.items()}, times


def spread(values):
    """Relative spread (max - min) / median of a list of timings."""
    med = statistics.median(values)
    return (max(values) - min(values)) / med if med else float("nan")


def table(headers, rows):
    """A plain-text table (left-aligned first column, right-aligned others)."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(parts))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def header(title):
    import platform

    print(f"# {title}")
    print(f"# keras {keras.__version__}, backend {keras.backend.backend()}, "
          f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load avg {os.getloadavg()[0]:.2f}")
    sys.stdout.flush()
