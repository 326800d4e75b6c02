"""kerascope's methods against the raw passes they need, on the active backend.

For each method, ``kerascope.explain`` on 16 images of the benchmark CNN is timed
against the bare framework's minimal batched passes over the same rows, at the same
rows per call (``raw.py``): the input gradient of the 16 images (vanilla gradients,
Gradients*Inputs), of their 20 noisy copies each (SmoothGrad, 320 rows), of their
50 path points each (Integrated Gradients, 800 rows); for the issue-4 methods found
registered in ``kerascope.methods``, the passes listed in ``EXTRA`` below. The ratio
ours / raw is the overhead of everything kerascope does besides those passes
(target resolution, row expansion, padding, host copies, reductions). Target: <= 1.15.
Methods with fused expansions (SmoothGrad, IG, occlusion, RISE) are also timed
unfused (``host/raw``: ``kerascope.engine.expansion.host_reductions()``), and every row
reports the host<->device kB per image (the runner's byte counter).

Two batch settings per expanded method: "aligned" (batch_size a multiple of the rows
one input expands into, so kerascope's calls are full) and batch_size=64 (the raw
baseline then makes full 64-row calls; kerascope splits inputs per call, see README).

    KERAS_BACKEND=jax .venv-jax/bin/python bench/bench_methods.py [--repeats 5]
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
from kerascope import methods as methods_lib  # noqa: E402
from kerascope.engine import runner  # noqa: E402
from kerascope.engine.expansion import host_reductions  # noqa: E402

N = 16
SAMPLES = 20
STEPS = 50
FILTERS_LAST = common.FILTERS[-1]  # Score-CAM: one masked forward pass per channel

# Issue-4 methods, benchmarked when they are registered:
# name -> (options, raw passes). Raw passes are (kind, rows per image) pairs:
#   "input"  : input gradients (guided/deconvnet ReLUs cost what plain ReLUs cost),
#   "layer"  : forward to conv4, forward+backward of the head, d score / d conv4,
#   "forward": full forward passes (outputs only),
#   "layer_forward": forward to conv4 and on to the outputs, conv4's activations and
#              the outputs brought back (the forward of a CAM that reads activations
#              but no gradient),
#   "lrp"    : the bare-framework LRP pass of the same composite (raw.lrp: one forward,
#              one modified backward).
CAM_LAYER = {"layer_name": common.LAST_CONV}
EXTRA = {
    "grad_cam": (CAM_LAYER, [("layer", 1)]),
    "grad_cam_plus_plus": (CAM_LAYER, [("layer", 1)]),
    "xgrad_cam": (CAM_LAYER, [("layer", 1)]),
    "hires_cam": (CAM_LAYER, [("layer", 1)]),
    "layer_cam": (CAM_LAYER, [("layer", 1)]),
    "eigen_cam": (CAM_LAYER, [("layer_forward", 1)]),
    "score_cam": (CAM_LAYER, [("layer_forward", 1), ("forward", FILTERS_LAST)]),
    "guided_backprop": ({}, [("input", 1)]),
    "deconvnet": ({}, [("input", 1)]),
    "guided_smoothgrad": ({"num_samples": SAMPLES, "seed": 0}, [("input", SAMPLES)]),
    "guided_grad_cam": (CAM_LAYER, [("input", 1), ("layer", 1)]),
    "occlusion": ({"patch_size": 8}, [("forward", (64 // 8) ** 2)]),
    "rise": ({"num_masks": 128, "seed": 0}, [("forward", 128)]),
    # LRP (issue 20; target <= 1.3): one forward and one modified backward, against the
    # same LRP written with the framework's ops (default composite epsilon_plus_flat)
    "lrp": ({}, [("lrp", 1)]),
}
# Second rows for a method against other raw passes: label -> (name, options, passes).
# LRP against the plain input gradient (the modified forwards of z+ cost extra FLOPs).
EXTRA_ROWS = {
    "lrp / input gradient": ("lrp", {}, [("input", 1)]),
}


def needs_outputs_pass(name):
    """Whether the method's passes do not give the outputs it returns.

    Methods that pass rows other than the inputs (noisy copies, path points, masked
    images: SmoothGrad, IG, occlusion, RISE) also pass the inputs once, for the
    outputs they return and the target units: one forward row per image belongs to
    the raw cost of the method as kerascope defines it (kerascope's fused
    expansions run it inside the same device program).
    """
    method = methods_lib.lookup(name)
    return not method.evaluates_inputs or methods_lib.get(name).rows_per_input() > 1


def fused(name):
    """Whether the method expands and reduces its rows on the device
    (``kerascope.engine.expansion``): then ``host`` times the unfused route as well."""
    return name in ("smoothgrad", "integrated_gradients", "occlusion", "rise",
                    "guided_smoothgrad")


def specs(x, targets, only=None):
    """(label, kerascope name, options, raw passes [(kind, rows, targets)], batch sizes)."""
    rng = np.random.default_rng(0)
    spread = x.max(axis=(1, 2, 3), keepdims=True) - x.min(axis=(1, 2, 3), keepdims=True)
    noise = rng.standard_normal((N * SAMPLES,) + x.shape[1:]).astype(np.float32)
    noisy = (np.repeat(x, SAMPLES, 0) + 0.15 * np.repeat(spread, SAMPLES, 0) * noise)
    noisy = noisy.astype(np.float32)
    alphas = np.linspace(0, 1, STEPS, dtype=np.float32).reshape(1, -1, 1, 1, 1)
    path = (alphas * x[:, None]).reshape((-1,) + x.shape[1:])
    table = [
        ("vanilla_gradients", "vanilla_gradients", {}, [("input", x, targets)], (16,)),
        ("gradients_inputs", "gradients_inputs", {}, [("input", x, targets)], (16,)),
        ("smoothgrad (20)", "smoothgrad", {"num_samples": SAMPLES, "seed": 0},
         [("input", noisy, np.repeat(targets, SAMPLES))], (80, 64)),
        ("integrated_gradients (50)", "integrated_gradients",
         {"n_steps": STEPS, "method": "riemann_trapezoid"},
         [("input", path, np.repeat(targets, STEPS))], (100, 64)),
    ]
    extra = [(name, name, options, passes) for name, (options, passes) in EXTRA.items()]
    extra += [(label, name, options, passes)
              for label, (name, options, passes) in EXTRA_ROWS.items()]
    for row_label, name, options, passes in extra:
        if name not in methods_lib.names():
            continue
        raw_passes, expanded = [], 1
        for kind, per in passes:
            rows = noisy if (kind == "input" and per == SAMPLES) else np.repeat(x, per, 0)
            raw_passes.append((kind, rows, np.repeat(targets, per)))
            expanded = max(expanded, per)
        sizes = (80, 64) if expanded == SAMPLES else ((16,) if expanded == 1 else (64,))
        label = f"{row_label} ({expanded})" if expanded > 1 else row_label
        table.append((label, name, options, raw_passes, sizes))
    out = []
    for label, name, options, raw_passes, sizes in table:
        if needs_outputs_pass(name):
            raw_passes = [("forward", x, targets)] + raw_passes
        out.append((label, name, options, raw_passes, sizes))
    if only:
        out = [s for s in out if any(o in s[0] for o in only)]
    return out


def check_gradients(model, x, targets, raw_input):
    """Raw and kerascope input gradients must agree (else the baseline is wrong)."""
    ours = kerascope.explain("vanilla_gradients", model, x, targets, batch_size=16,
                             channel_reduction=None)[1]
    ref = raw_input(x, targets, 16)
    err = np.max(np.abs(ours - ref)) / (np.max(np.abs(ref)) + 1e-12)
    print(f"# check: max |kerascope - raw| / max |raw| (input gradients) = {err:.2e}")
    if err > 1e-4:
        raise SystemExit("raw baseline disagrees with kerascope: fix the baseline first")


def check_lrp(model, x, targets, raw_lrp):
    """Raw and kerascope LRP relevance (per channel) must agree."""
    ours = kerascope.explain("lrp", model, x, targets, batch_size=16, channel_reduction=None)[1]
    ref = raw_lrp(x, targets, 16)
    err = np.max(np.abs(ours - ref)) / (np.max(np.abs(ref)) + 1e-12)
    print(f"# check: max |kerascope - raw| / max |raw| (LRP epsilon_plus_flat) = {err:.2e}")
    if err > 1e-4:
        raise SystemExit("raw LRP disagrees with kerascope: fix the baseline first")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="substrings of method labels to run")
    args = parser.parse_args(argv)

    common.header(f"bench_methods: kerascope / raw passes, {N} images "
                  f"{'x'.join(map(str, common.IMAGE_SHAPE))}, {args.repeats} interleaved repeats")
    model = common.build_model(softmax=True)
    logits_model = common.build_model(softmax=False)
    trunk, head = common.split_at(logits_model)
    x, targets = common.make_inputs(N)
    raws = {
        "input": raw.input_grads(logits_model),
        "layer": raw.layer_grads(trunk, head),
        "forward": raw.forward(model),
        "layer_forward": raw.layer_forward(trunk, head),
        "lrp": raw.lrp(logits_model),
    }
    check_gradients(model, x, targets, raws["input"])
    if "lrp" in methods_lib.names() and any(s[1] == "lrp" for s in specs(x, targets, args.only)):
        check_lrp(model, x, targets, raws["lrp"])

    rows = []
    for label, name, options, raw_passes, sizes in specs(x, targets, args.only):
        n_rows = sum(len(r) for _, r, _ in raw_passes)
        for batch in sizes:
            # A fresh method instance per call, passed as an instance: options such as
            # IG's ``method=`` collide with ``kerascope.explain(method, ...)``.
            ours = lambda: kerascope.explain(  # noqa: E731
                methods_lib.get(name, **options), model, x, targets, batch_size=batch)

            def base():
                for kind, raw_rows, raw_targets in raw_passes:
                    raws[kind](raw_rows, raw_targets, batch)

            def host(ours=ours):
                with host_reductions():
                    return ours()

            contenders = {"ours": ours, "raw": base}
            if fused(name):
                contenders["host"] = host
            try:
                medians, times = common.interleaved(contenders, repeats=args.repeats)
            except Exception as error:  # noqa: BLE001 - a method failing is a result
                rows.append((label, batch, n_rows, "-", "-", f"error: {error!r}"[:70], "", "", ""))
                print(f"#   {label} batch={batch}: {error!r}", flush=True)
                continue
            ratio = medians["ours"] / medians["raw"]
            cpu = common.interleaved.cpu
            cpu_ratio = cpu["ours"] / cpu["raw"]
            noise = max(common.spread(times["ours"]), common.spread(times["raw"]))
            flag = "" if ratio <= 1.15 else "  > 1.15"
            before = bytes_ours = bytes_host = "-"
            with runner.count_traffic() as traffic:
                ours()
            bytes_ours = f"{traffic.bytes_per_input(N) / 1e3:.1f}"
            if "host" in medians:
                before = f"{medians['host'] / medians['raw']:.3f}"
                with runner.count_traffic() as traffic:
                    host()
                bytes_host = f"{traffic.bytes_per_input(N) / 1e3:.1f}"
            rows.append((label, batch, n_rows, f"{medians['ours'] * 1e3:.1f}",
                         f"{medians['raw'] * 1e3:.1f}", f"{ratio:.3f}{flag}", before,
                         f"{noise:.0%}", f"{cpu_ratio:.3f}", bytes_ours, bytes_host,
                         len(times["ours"])))
            print(f"#   {label} batch={batch}: ours/raw {ratio:.3f} (cpu {cpu_ratio:.3f}), "
                  f"host/raw {before}, kB/input {bytes_ours} (host {bytes_host})", flush=True)
    print()
    print(common.table(
        ("method", "batch", "rows", "ours ms", "raw ms", "ours/raw", "host/raw", "spread",
         "cpu ratio", "kB/input", "host kB/input", "rounds"), rows))
    image_kb = np.prod(common.IMAGE_SHAPE) * 4 / 1e3
    print(f"# host/raw: the same call with kerascope.engine.expansion.host_reductions() (rows built "
          f"and reduced around host round trips, as before fused expansions). kB/input: "
          f"host<->device kB per image (one image: {image_kb:.1f} kB; one 2-D map: "
          f"{image_kb / common.IMAGE_SHAPE[-1]:.1f} kB).")
    missing = [n for n in EXTRA if n not in methods_lib.names()]
    if missing:
        print(f"\n# not registered in kerascope.methods (skipped): {', '.join(missing)}")
    benched = {s[1] for s in specs(x, targets)}
    unbenched = sorted(n for n in methods_lib.names()
                       if n not in benched and not n.endswith("grad"))
    if unbenched:
        print(f"# registered but without a raw spec here: {', '.join(unbenched)}")
    print(f"# backend {keras.backend.backend()}: ms are wall-time medians (absolute times are "
          "noisy: shared cores); compare ratios only. cpu ratio: the same with this process's "
          "CPU time.")


if __name__ == "__main__":
    main()
