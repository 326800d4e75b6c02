"""kerascope against tf-explain 0.3.1 and tf-keras-vis 0.8.7 (TensorFlow backend only).

Same model (``common.build_model``: Functional, ``Activation("softmax")`` last, so
tf-explain can strip the softmax), same 16 images, same method settings. For each
method the contenders run interleaved (warm-up first, then rounds in rotating
order) and the table gives each peer's median time divided by kerascope's
(> 1: kerascope is faster), plus every contender's time divided by the raw
batched gradient passes the method needs (``raw.py``; comparable with the ratios
in ../shared/README.md).

kerascope's side is the API that returns what the peer returns:
* vs tf-explain: ``kerascope.core.<Class>().explain(...)`` (same arguments, same uint8
  grid), one class index for all images (tf-explain takes only one);
* vs tf-keras-vis: ``kerascope.explain`` with per-image targets, the peer's channel
  reduction (max |g|) and normalization.
A peer that raises is reported as a crash with its error, not timed.

    KERAS_BACKEND=tensorflow .venv-tensorflow/bin/python bench/bench_peers.py
"""

import argparse
import os
import sys
import warnings

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import common  # noqa: E402
import raw  # noqa: E402

import kerascope  # noqa: E402
from kerascope import filters  # noqa: E402

N = 16
SAMPLES = 20
STEPS = 50
NOISE = 0.15
CLASS = 3


def peers():
    """Import the peers; return (tf_explain modules, tf_keras_vis modules) or Nones."""
    te = tkv = None
    try:
        from tf_explain.core import (grad_cam, gradients_inputs, integrated_gradients,
                                     smoothgrad, vanilla_gradients)
        te = {"VanillaGradients": vanilla_gradients.VanillaGradients,
              "GradientsInputs": gradients_inputs.GradientsInputs,
              "SmoothGrad": smoothgrad.SmoothGrad,
              "IntegratedGradients": integrated_gradients.IntegratedGradients,
              "GradCAM": grad_cam.GradCAM}
    except Exception as error:  # noqa: BLE001
        print(f"# tf-explain unavailable: {error!r}")
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.saliency import Saliency
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
        from tf_keras_vis.utils.scores import CategoricalScore
        tkv = {"Saliency": Saliency, "Gradcam": Gradcam, "ReplaceToLinear": ReplaceToLinear,
               "CategoricalScore": CategoricalScore}
    except Exception as error:  # noqa: BLE001
        print(f"# tf-keras-vis unavailable: {error!r}")
    return te, tkv


def cases(model, x, targets, te, tkv, raw_input, raw_layer):
    """(method, batch, {contender: fn}, raw fn) per method."""
    from kerascope.core.grad_cam import GradCAM as KsGradCAM
    from kerascope.core.gradients_inputs import GradientsInputs as KsGradientsInputs
    from kerascope.core.integrated_gradients import IntegratedGradients as KsIG
    from kerascope.core.smoothgrad import SmoothGrad as KsSmoothGrad
    from kerascope.core.vanilla_gradients import VanillaGradients as KsVanilla

    data = (x, None)
    const = np.full(N, CLASS, np.int32)
    rng = np.random.default_rng(0)
    noisy = (np.repeat(x, SAMPLES, 0)
             + NOISE * rng.standard_normal((N * SAMPLES,) + x.shape[1:])).astype(np.float32)
    path = (np.linspace(0, 1, STEPS, dtype=np.float32).reshape(1, -1, 1, 1, 1)
            * x[:, None]).reshape((-1,) + x.shape[1:])
    out = []

    # tf-explain API (one class index), kerascope.core with the same call.
    if te:
        out.append(("vanilla gradients [tf-explain API]", 16, {
            "kerascope": lambda: KsVanilla().explain(data, model, CLASS, batch_size=16),
            "tf-explain": lambda: te["VanillaGradients"]().explain(data, model, CLASS),
        }, lambda: raw_input(x, const, 16)))
        out.append(("gradients*inputs [tf-explain API]", 16, {
            "kerascope": lambda: KsGradientsInputs().explain(data, model, CLASS, batch_size=16),
            "tf-explain": lambda: te["GradientsInputs"]().explain(data, model, CLASS),
        }, lambda: raw_input(x, const, 16)))
        out.append((f"smoothgrad {SAMPLES} [tf-explain API]", 80, {
            "kerascope": lambda: KsSmoothGrad().explain(data, model, CLASS, num_samples=SAMPLES,
                                                        noise=NOISE, batch_size=80, seed=0),
            "tf-explain": lambda: te["SmoothGrad"]().explain(data, model, CLASS,
                                                             num_samples=SAMPLES, noise=NOISE),
        }, lambda: raw_input(noisy, np.repeat(const, SAMPLES), 80)))
        out.append((f"integrated gradients {STEPS} [tf-explain API]", 100, {
            "kerascope": lambda: KsIG().explain(data, model, CLASS, n_steps=STEPS, batch_size=100),
            "tf-explain": lambda: te["IntegratedGradients"]().explain(data, model, CLASS,
                                                                      n_steps=STEPS),
        }, lambda: raw_input(path, np.repeat(const, STEPS), 100)))
        out.append(("grad-cam [tf-explain API]", 16, {
            "kerascope": lambda: KsGradCAM().explain(data, model, CLASS, layer_name=common.LAST_CONV,
                                                     batch_size=16),
            "tf-explain": lambda: te["GradCAM"]().explain(data, model, CLASS,
                                                          layer_name=common.LAST_CONV),
        }, lambda: raw_layer(x, const, 16)))

    # tf-keras-vis API (per-image targets, max |g| over channels, normalized maps).
    if tkv:
        score = tkv["CategoricalScore"](list(targets))
        saliency = tkv["Saliency"](model, model_modifier=tkv["ReplaceToLinear"](), clone=True)
        gradcam = tkv["Gradcam"](model, model_modifier=tkv["ReplaceToLinear"](), clone=True)
        out.append(("vanilla saliency [tf-keras-vis API]", 16, {
            "kerascope": lambda: kerascope.explain(
                "vanilla_gradients", model, x, targets, batch_size=16,
                channel_reduction="max_abs", postprocessing=filters.normalize),
            "tf-keras-vis": lambda: saliency(score, x),
        }, lambda: raw_input(x, targets, 16)))
        out.append((f"smoothgrad {SAMPLES} [tf-keras-vis API]", 80, {
            "kerascope": lambda: kerascope.explain(
                "smoothgrad", model, x, targets, batch_size=80, num_samples=SAMPLES,
                noise=NOISE, seed=0, channel_reduction="max_abs",
                postprocessing=filters.normalize),
            "tf-keras-vis": lambda: saliency(score, x, smooth_samples=SAMPLES,
                                             smooth_noise=NOISE),
        }, lambda: raw_input(noisy, np.repeat(targets, SAMPLES), 80)))
        if "grad_cam" in kerascope.methods.names():
            out.append(("grad-cam [tf-keras-vis API]", 16, {
                "kerascope": lambda: kerascope.explain(
                    "grad_cam", model, x, targets, batch_size=16,
                    layer_name=common.LAST_CONV, postprocessing=filters.normalize),
                "tf-keras-vis": lambda: gradcam(score, x, penultimate_layer=common.LAST_CONV),
            }, lambda: raw_layer(x, targets, 16)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="substrings of case labels to run")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    common.header(f"bench_peers: peers / kerascope, {N} images, {args.repeats}+ interleaved repeats")
    te, tkv = peers()
    for name in ("tf_explain", "tf_keras_vis", "xplique"):
        try:
            module = __import__(name)
            print(f"# {name} {getattr(module, '__version__', '?')}")
        except Exception:  # noqa: BLE001
            print(f"# {name}: not installed")
    model = common.build_model(softmax=True)
    logits_model = common.build_model(softmax=False)
    trunk, head = common.split_at(logits_model)
    x, targets = common.make_inputs(N)
    raw_input, raw_layer = raw.input_grads(logits_model), raw.layer_grads(trunk, head)

    rows = []
    for label, batch, contenders, base in cases(model, x, targets, te, tkv, raw_input, raw_layer):
        if args.only and not any(o in label for o in args.only):
            continue
        fns, crashed = {"raw": base}, {}
        for name, fn in contenders.items():
            try:
                fn()  # smoke call: crashes are results, not timings
                fns[name] = fn
            except Exception as error:  # noqa: BLE001
                crashed[name] = f"{type(error).__name__}: {error}".splitlines()[0][:90]
        medians, _ = common.interleaved(fns, repeats=args.repeats)
        cpu = common.interleaved.cpu
        ours = medians.get("kerascope")
        for name in contenders:
            if name == "kerascope":
                continue
            if name in crashed:
                rows.append((label, name, "crash", "-", "-", "-", crashed[name]))
            elif ours is None:
                rows.append((label, name, "-", f"{medians[name] / medians['raw']:.2f}", "-", "-",
                             f"kerascope crashed: {crashed.get('kerascope')}"))
            else:
                rows.append((label, name, f"{medians[name] / ours:.2f}",
                             f"{medians[name] / medians['raw']:.2f}",
                             f"{ours / medians['raw']:.2f}",
                             f"{cpu[name] / cpu['kerascope']:.2f}",
                             f"peer {medians[name] * 1e3:.0f} ms, ours {ours * 1e3:.0f} ms, "
                             f"raw {medians['raw'] * 1e3:.0f} ms (batch {batch})"))
        print(f"#   {label}: done", flush=True)
    print()
    print(common.table(("method [API]", "peer", "peer/ours", "peer/raw", "ours/raw",
                        "peer/ours cpu", "notes"), rows))
    print("# peer/ours > 1: kerascope is faster. Medians of interleaved runs on shared cores.")


if __name__ == "__main__":
    main()
