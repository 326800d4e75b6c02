"""GPU benchmark: kerascope on Keras+JAX against Captum on PyTorch, images per second.

Same model, inputs and methods on both sides: ResNet50 with random weights
(``keras.applications.ResNet50`` / ``torchvision.models.resnet50``), 224x224x3 inputs,
a batch of 64 images with fixed targets, and

* Saliency (kerascope ``vanilla_gradients`` / Captum ``Saliency``);
* Integrated Gradients, 50 steps (``integrated_gradients`` / ``IntegratedGradients``);
* SmoothGrad, 50 noisy samples (``smoothgrad`` / ``NoiseTunnel(Saliency)``, "smoothgrad");
* Occlusion, 16x16 windows, stride 16, zero fill, score difference on the logits
  (``occlusion`` / ``Occlusion``).

Each side sends 64 rows per device call (kerascope ``batch_size=64``; Captum
``internal_batch_size=64``, ``nt_samples_batch_size=1``, ``perturbations_per_eval=1``).
Each side runs in its own process and Python environment, one after the other: a
warm-up call (compilation), then ``--repeats`` timed calls; images/second is the batch
size over the median time. The device each side ran on is printed.

Run from the repository root (``--help`` for the options)::

    .venv-jax/bin/python bench/gpu.py                # both sides, full size
    .venv-jax/bin/python bench/gpu.py --tiny         # a tiny CNN on 32x32 inputs (CPU smoke run)

The Keras side runs in ``--keras-python`` (default: ``.venv-jax`` beside this
interpreter's environment or in the repository), the Captum side in
``--captum-python`` (default: ``.venv-torch``; needs ``captum``, and ``torchvision``
for ResNet50). bench/README.md says how to set both up for a GPU.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
METHODS = ("saliency", "integrated_gradients", "smoothgrad", "occlusion")
STEPS, SAMPLES, NOISE, WINDOW = 50, 50, 0.15, 16


def settings(tiny):
    """Model, inputs and timing of one run."""
    if tiny:
        return {"model": "tiny_cnn", "size": 32, "batch": 4, "classes": 10, "repeats": 1}
    return {"model": "resnet50", "size": 224, "batch": 64, "classes": 1000, "repeats": 3}


def inputs(config):
    """``(x, targets)``: channels-last float32 images in [0, 1] and int targets."""
    import numpy as np

    rng = np.random.default_rng(0)
    size, batch = config["size"], config["batch"]
    x = rng.random((batch, size, size, 3), dtype=np.float32)
    targets = (np.arange(batch) * 7 % config["classes"]).astype(np.int64)
    return x, targets


def timed(fn, repeats):
    """Median seconds of ``repeats`` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# -- the Keras + JAX side ---------------------------------------------------------------
def keras_model(config):
    import keras

    if config["model"] == "resnet50":
        return keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3),
                                           classes=config["classes"])
    keras.utils.set_random_seed(0)
    inputs = keras.Input((config["size"], config["size"], 3))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(config["classes"], activation="softmax")(h)
    return keras.Model(inputs, outputs)


def run_keras(config):
    import jax
    import keras

    import kerascope

    model = keras_model(config)
    x, targets = inputs(config)
    batch = config["batch"]
    calls = {
        "saliency": lambda: kerascope.explain("vanilla_gradients", model, x, targets,
                                              batch_size=batch),
        "integrated_gradients": lambda: kerascope.explain(
            "integrated_gradients", model, x, targets, batch_size=batch, n_steps=STEPS),
        "smoothgrad": lambda: kerascope.explain(
            "smoothgrad", model, x, targets, batch_size=batch, num_samples=SAMPLES,
            noise=NOISE, seed=0),
        "occlusion": lambda: kerascope.explain(
            "occlusion", model, x, targets, batch_size=batch, patch_size=WINDOW,
            stride=WINDOW, fill_value=0.0, mode="difference", use_logits=True),
    }
    device = jax.devices()[0]
    return {
        "side": "kerascope (Keras+JAX)",
        "device": f"{device.platform}: {device.device_kind}",
        "versions": f"keras {keras.__version__}, jax {jax.__version__}",
        "images_per_second": {name: batch / timed(call, config["repeats"])
                              for name, call in calls.items()},
    }


# -- the Captum side --------------------------------------------------------------------
def torch_model(config):
    import torch

    if config["model"] == "resnet50":
        import torchvision

        return torchvision.models.resnet50(weights=None, num_classes=config["classes"])
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(16, config["classes"]),
    )


def run_captum(config):
    missing = [name for name in ("torch", "captum")
               + (("torchvision",) if config["model"] == "resnet50" else ())
               if _absent(name)]
    if missing:
        return {"side": "Captum (PyTorch)", "skipped": (
            f"{', '.join(missing)} not installed in {sys.executable}: the Captum side "
            f"needs pip install {' '.join(missing)} "
            f"(bench/README.md, 'GPU benchmark')")}
    import captum
    import torch
    from captum.attr import IntegratedGradients, NoiseTunnel, Occlusion, Saliency

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = torch_model(config).to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    x, targets = inputs(config)
    x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(device)
    targets = torch.from_numpy(targets).to(device)
    x.requires_grad_(True)
    batch = config["batch"]
    stdev = NOISE * float(x.max() - x.min())

    def sync(result):
        if device.type == "cuda":
            torch.cuda.synchronize()
        return result

    calls = {
        "saliency": lambda: sync(Saliency(model).attribute(x, target=targets)),
        "integrated_gradients": lambda: sync(IntegratedGradients(model).attribute(
            x, target=targets, n_steps=STEPS, internal_batch_size=batch)),
        "smoothgrad": lambda: sync(NoiseTunnel(Saliency(model)).attribute(
            x, nt_type="smoothgrad", nt_samples=SAMPLES, nt_samples_batch_size=1,
            stdevs=stdev, target=targets)),
        "occlusion": lambda: sync(Occlusion(model).attribute(
            x, target=targets, sliding_window_shapes=(3, WINDOW, WINDOW),
            strides=(3, WINDOW, WINDOW), baselines=0.0, perturbations_per_eval=1)),
    }
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    return {
        "side": "Captum (PyTorch)",
        "device": f"{device.type}: {name}",
        "versions": f"torch {torch.__version__}, captum {captum.__version__}",
        "images_per_second": {name: batch / timed(call, config["repeats"])
                              for name, call in calls.items()},
    }


def _absent(module):
    import importlib.util

    return importlib.util.find_spec(module) is None


# -- the driver ---------------------------------------------------------------------------
def venv_python(name):
    """``<name>/bin/python`` beside this interpreter's environment or in the
    repository (the environments scripts/test.sh creates), else this interpreter."""
    for base in (pathlib.Path(sys.prefix).parent, ROOT):
        candidate = base / name / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    return sys.executable


def run_side(side, python, args):
    command = [python, str(pathlib.Path(__file__).resolve()), "--side", side,
               "--repeats", str(args.repeats)] + (["--tiny"] if args.tiny else [])
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    if side == "keras":
        env["KERAS_BACKEND"] = "jax"
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the {side} side failed in {python}:\n{done.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def report(ours, theirs, config):
    lines = [f"# bench/gpu.py: {config['model']}, {config['size']}x{config['size']}x3, "
             f"batch {config['batch']}, {config['repeats']} timed call(s) after a warm-up"]
    for side in (ours, theirs):
        if "skipped" in side:
            lines.append(f"# {side['side']}: skipped: {side['skipped']}")
        else:
            lines.append(f"# {side['side']}: device {side['device']} ({side['versions']})")
    lines.append(f"{'method':<22} {'ours img/s':>11} {'captum img/s':>13} {'ours/captum':>12}")
    for name in METHODS:
        mine = ours["images_per_second"][name]
        other = theirs.get("images_per_second", {}).get(name)
        ratio = f"{mine / other:12.2f}" if other else f"{'-':>12}"
        other = f"{other:13.1f}" if other else f"{'-':>13}"
        lines.append(f"{name:<22} {mine:11.1f} {other} {ratio}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        help="a tiny CNN on 4 images of 32x32 (a CPU smoke run)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed calls per method (default 3; 1 with --tiny)")
    parser.add_argument("--keras-python", default=None,
                        help="Python of the Keras+JAX side (default: .venv-jax)")
    parser.add_argument("--captum-python", default=None,
                        help="Python of the Captum side (default: .venv-torch)")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--side", choices=("keras", "captum"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    config = settings(args.tiny)
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error("--repeats: expected a positive int")
        config["repeats"] = args.repeats
    args.repeats = config["repeats"]
    if args.side:
        result = run_keras(config) if args.side == "keras" else run_captum(config)
        print("RESULT " + json.dumps(result))
        return 0
    ours = run_side("keras", args.keras_python or venv_python(".venv-jax"), args)
    theirs = run_side("captum", args.captum_python or venv_python(".venv-torch"), args)
    print(report(ours, theirs, config))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(
            {"config": config, "kerascope": ours, "captum": theirs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
