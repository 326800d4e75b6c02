"""``batch_size="auto"`` (the default) against explicit batch sizes, on the active backend.

Speed: Integrated Gradients (50 steps) and SmoothGrad (20 samples) on the bench CNN's 16
images, the default against ``batch_size`` 32, 64, 128 and 256, interleaved rounds;
the table gives each median time / the default's (> 1: the default is faster), in wall
time and in this process's CPU time (steadier on a loaded machine).

Memory: a streamed run (``explain_batches``, vanilla gradients, inputs generated
batch by batch, maps dropped) over ``--small`` and ``--large`` inputs, each in its own
process; the peak resident memory (``VmHWM``) of both, with the default batch size.

    KERAS_BACKEND=torch .venv-torch/bin/python bench/bench_auto.py [--skip-memory]
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402

import kerascope  # noqa: E402
from kerascope import methods as methods_lib  # noqa: E402
from kerascope.engine import memory  # noqa: E402

SIZES = (32, 64, 128, 256)
CHILD = r'''
import sys
sys.path.insert(0, {bench!r})
import numpy as np
import common
import kerascope

def peak():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

def batches(n, size=256):
    rng = np.random.default_rng(0)
    for start in range(0, n, size):
        yield rng.random((min(size, n - start),) + common.IMAGE_SHAPE).astype(np.float32)

model = common.build_model()
count = 0
for outputs, maps in kerascope.explain_batches("vanilla_gradients", model, batches({n}),
                                               verbose=False):
    count += len(maps)
assert count == {n}
print("RESULT " + str(peak()))
'''


def speed(repeats):
    model = common.build_model(softmax=True)
    x, targets = common.make_inputs(16)
    rows = []
    for label, name, options in (("integrated_gradients (50)", "integrated_gradients",
                                  {"n_steps": 50}),
                                 ("smoothgrad (20)", "smoothgrad",
                                  {"num_samples": 20, "seed": 0})):
        fns = {"auto": lambda name=name, options=options: kerascope.explain(
            methods_lib.get(name, **options), model, x, targets)}
        for size in SIZES:
            fns[str(size)] = lambda name=name, options=options, size=size: kerascope.explain(
                methods_lib.get(name, **options), model, x, targets, batch_size=size)
        walls, _ = common.interleaved(fns, repeats=repeats)
        for clock, medians in (("wall", walls), ("cpu", common.interleaved.cpu)):
            best = min(SIZES, key=lambda s: medians[str(s)])
            rows.append((label, clock, memory.auto_rows(model),
                         f"{medians['auto'] * 1e3:.0f}",
                         *(f"{medians[str(s)] / medians['auto']:.3f}" for s in SIZES),
                         f"{medians[str(best)] / medians['auto']:.3f} ({best})"))
        print(f"#   {label}: done", flush=True)
    print(common.table(("method", "clock", "auto rows", "auto ms",
                        *(f"{s} / auto" for s in SIZES), "best / auto"), rows))


def peak_memory(n):
    code = CHILD.format(bench=os.path.dirname(os.path.abspath(__file__)), n=n)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ), timeout=3600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(done.stderr[-3000:])
    return int(lines[-1].split()[1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=10000)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args(argv)
    common.header("bench_auto: batch_size='auto' against explicit sizes")
    if not args.skip_speed:
        speed(args.repeats)
    if not args.skip_memory:
        small, large = peak_memory(args.small), peak_memory(args.large)
        print(json.dumps({"inputs": [args.small, args.large],
                          "peak_MB": [round(small / 2**20), round(large / 2**20)],
                          "large / small": round(large / small, 3)}))
    print(f"# load avg now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
