"""kerascope against Captum on the very same Keras model (torch backend, CPU).

Under ``KERAS_BACKEND=torch`` a Keras model is a ``torch.nn.Module``, so Captum
attributes it directly. Both sides explain the pre-softmax score: kerascope strips
the final softmax itself (``use_logits=True``); Captum gets a copy of the model
without it (same layers' weights, ``softmax=False`` / ``classifier_activation=None``).

Cells: saliency, Integrated Gradients (50 steps, Gauss-Legendre, zero baseline),
SmoothGrad (20 samples; ``NoiseTunnel(Saliency)``) and occlusion (zero fill,
non-overlapping windows, score difference), on the bench CNN (64x64, 16 images)
and ``keras.applications.ResNet50(weights=None)`` (128x128, 8 images). Both sides
make the same rows per call: kerascope's ``batch_size`` is Captum's
``internal_batch_size`` (IG), ``nt_samples_batch_size * N`` (SmoothGrad) and
``perturbations_per_eval * N`` (occlusion); the sizes below divide evenly on both
sides. Maps are raw (no channel reduction, no ``abs``), numpy in and out.

Before timing, the maps are checked: saliency and IG to float tolerance; SmoothGrad
with zero noise (both then equal the saliency map); occlusion cell by cell (on
ResNet50, on its first 2 images only: each image's map is computed alone, and the
check of all 8 would cost as much as the timed rounds). Then
both run in interleaved rounds (``common.interleaved``) and the table gives
Captum's median time / kerascope's (> 1: kerascope is faster).

    KERAS_BACKEND=torch .venv-torch/bin/python bench/bench_captum.py [--models cnn]
"""

import argparse
import os
import sys

os.environ["KERAS_BACKEND"] = "torch"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import common  # noqa: E402

import keras  # noqa: E402
import torch  # noqa: E402

import kerascope  # noqa: E402
from kerascope import methods as methods_lib  # noqa: E402

STEPS = 50
SAMPLES = 20
NOISE = 0.15

# model -> (n images, image side, occlusion window, rows per call per method)
CONFIGS = {
    "cnn": (16, 64, 8, {"saliency": 16, "ig": 400, "smoothgrad": 80, "occlusion": 64}),
    "resnet50": (8, 128, 16, {"saliency": 8, "ig": 200, "smoothgrad": 40, "occlusion": 64}),
    "tiny": (2, 8, 4, {"saliency": 2, "ig": 100, "smoothgrad": 40, "occlusion": 8}),
}
CHECKED_IMAGES = {"resnet50": 2}  # maps checked on the first images only (default: all)


def tiny_model(softmax=True, side=8):
    """A small CNN for the script's test (one conv, pool, dense, softmax)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((side, side, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(5)(h)
    if softmax:
        h = keras.layers.Activation("softmax")(h)
    return keras.Model(inputs, h)


def models(name):
    """``(model, logits_model)``: the model kerascope explains and Captum's copy of it
    without the final softmax (same weights)."""
    if name == "cnn":
        return common.build_model(softmax=True), common.build_model(softmax=False)
    if name == "tiny":
        model = tiny_model(softmax=True)
        logits = tiny_model(softmax=False)
        logits.set_weights(model.get_weights())
        return model, logits
    side = CONFIGS[name][1]
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(side, side, 3))
    logits = keras.applications.ResNet50(weights=None, input_shape=(side, side, 3),
                                         classifier_activation=None)
    logits.set_weights(model.get_weights())
    return model, logits


def inputs(name):
    """``(x, targets)``: the config's images (smooth random, in [0, 1]) and classes."""
    n, side = CONFIGS[name][:2]
    x, _ = common.make_inputs(n)
    if side != x.shape[1]:
        reps = -(-side // x.shape[1])
        x = np.tile(x, (1, reps, reps, 1))[:, :side, :side]
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x, (np.arange(n) * 3 % 5).astype(np.int32)


def cases(model, logits_model, x, targets, window, rows, noise=NOISE):
    """``{cell: (kerascope fn, captum fn)}``; each fn returns the raw maps (numpy)."""
    from captum.attr import IntegratedGradients, NoiseTunnel, Occlusion, Saliency

    n = len(x)
    t = torch.from_numpy(targets.astype(np.int64))
    spread = float(np.mean(x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3))))

    def forward(inputs):
        return logits_model(inputs, training=False)

    def ours(name, batch, **options):
        method = methods_lib.get(name, **options)
        return lambda: kerascope.explain(method, model, x, targets, batch_size=batch,
                                         use_logits=True)[1]

    def tensor():
        return torch.from_numpy(x)

    saliency, ig = Saliency(forward), IntegratedGradients(forward)
    tunnel, occlusion = NoiseTunnel(Saliency(forward)), Occlusion(forward)
    b = rows
    return {
        "saliency": (
            ours("vanilla_gradients", b["saliency"], channel_reduction=None),
            lambda: saliency.attribute(tensor(), target=t, abs=False).detach().numpy()),
        f"IG {STEPS}": (
            ours("integrated_gradients", b["ig"], n_steps=STEPS, method="gausslegendre",
                 channel_reduction=None),
            lambda: ig.attribute(tensor(), baselines=0.0, target=t, n_steps=STEPS,
                                 method="gausslegendre",
                                 internal_batch_size=b["ig"]).detach().numpy()),
        f"SmoothGrad {SAMPLES}": (
            ours("smoothgrad", b["smoothgrad"], num_samples=SAMPLES, noise=noise, seed=0,
                 channel_reduction=None),
            lambda: tunnel.attribute(tensor(), nt_type="smoothgrad", nt_samples=SAMPLES,
                                     nt_samples_batch_size=b["smoothgrad"] // n,
                                     stdevs=noise * spread, target=t,
                                     abs=False).detach().numpy()),
        "occlusion": (
            ours("occlusion", b["occlusion"], patch_size=window, fill_value=0.0,
                 mode="difference"),
            lambda: occlusion.attribute(tensor(), sliding_window_shapes=(window, window, 3),
                                        strides=(window, window, 3), baselines=0.0, target=t,
                                        perturbations_per_eval=b["occlusion"] // n)
            .detach().numpy()[..., 0]),
    }


def check(model, logits_model, x, targets, window, rows):
    """Max relative difference of the maps per cell (SmoothGrad at zero noise)."""
    errors = {}
    exact = cases(model, logits_model, x, targets, window, rows, noise=0.0)
    for cell, (ours, theirs) in exact.items():
        a, b = np.asarray(ours(), np.float64), np.asarray(theirs(), np.float64)
        errors[cell] = float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-12))
    return errors


def run(name, repeats, tolerance=1e-3):
    """Check then time one model's cells; returns table rows."""
    n, side, window, rows = CONFIGS[name]
    model, logits_model = models(name)
    x, targets = inputs(name)
    k = CHECKED_IMAGES.get(name, n)
    errors = check(model, logits_model, x[:k], targets[:k], window, rows)
    print(f"# {name}: max |ours - captum| / max |captum| ({k} images): "
          + ", ".join(f"{c} {e:.1e}" for c, e in errors.items()), flush=True)
    bad = {c: e for c, e in errors.items() if e > tolerance}
    if bad:
        raise SystemExit(f"maps disagree ({bad}): fix the benchmark before timing")
    out = []
    for cell, (ours, theirs) in cases(model, logits_model, x, targets, window, rows).items():
        medians, times = common.interleaved({"kerascope": ours, "captum": theirs},
                                            repeats=repeats)
        ratio = medians["captum"] / medians["kerascope"]
        cpu = common.interleaved.cpu
        key = {"saliency": "saliency", "occlusion": "occlusion"}.get(
            cell, "ig" if cell.startswith("IG") else "smoothgrad")
        out.append((f"{name} {side}x{side}, {n} images", cell, rows[key],
                    f"{medians['kerascope'] * 1e3:.1f}", f"{medians['captum'] * 1e3:.1f}",
                    f"{ratio:.3f}", f"{cpu['captum'] / cpu['kerascope']:.3f}",
                    len(times["kerascope"])))
        print(f"#   {name} {cell}: captum/kerascope {ratio:.3f}", flush=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=["cnn", "resnet50"],
                        choices=sorted(CONFIGS))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    import captum

    common.header(f"bench_captum: Captum {captum.__version__} / kerascope, torch "
                  f"{torch.__version__}, {torch.get_num_threads()} threads")
    rows = []
    for name in args.models:
        rows += run(name, args.repeats)
    print()
    print(common.table(("model", "method", "rows/call", "kerascope ms", "captum ms",
                        "captum/kerascope", "cpu ratio", "rounds"), rows))
    print(f"# > 1: kerascope is faster. Wall-time medians of interleaved rounds; "
          f"load avg now {os.getloadavg()[0]:.2f}")
    return rows


if __name__ == "__main__":
    main()
