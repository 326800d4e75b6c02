"""``kerascope evaluate`` and ``kerascope sanity``: can these maps be trusted?

``kerascope evaluate MODEL IMAGES -m METHOD ... --metric NAME ...`` scores each method's
maps with the metrics of :mod:`kerascope.metrics` (deletion, insertion, MuFidelity,
ROAD, pointing game with ``--masks``...) and writes ``metrics.json`` and ``report.html``
(the table, the deletion/insertion curves) to ``--out``.

``kerascope sanity MODEL IMAGES -m METHOD ...`` runs the model randomization checks of
:mod:`kerascope.metrics.randomization` (Adebayo et al. 2018, arXiv:1810.03292) and writes
``sanity.json`` and ``report.html`` (the similarity table, the paper's figure, the map
strip per step).

Without MODEL and IMAGES (or with ``--demo``) both run on the bundled demo, as
``kerascope demo`` does. Input reading, bad-input handling (one line, exit 2, nothing
written) and the staged output folder are those of ``kerascope explain``.
"""

from __future__ import annotations

import json
import pathlib
import time

import click

from kerascope.cli.catalog import catalog, plan_methods, resolve_methods
from kerascope.cli.common import (COMMON_OPTIONS, UserError, check_out, consoles, jsonable,
                                  one_line, params_text, parse_keyed_options, parse_options,
                                  parse_target, progress_bar, quiet_frameworks, split_values,
                                  staged_output, with_options)
from kerascope.cli.demo import demo_inputs
from kerascope.cli.metric_defaults import effective_options
from kerascope.cli.model_files import check_against_model
from kerascope.cli.reading import open_inputs

#: Methods run without ``-m`` (cheap ones: one backward pass each).
DEFAULT_METHODS = ("vanilla_gradients", "gradients_inputs", "grad_cam")
#: Metrics computed without ``--metric``; the localization ones are added with masks.
DEFAULT_METRICS = ("deletion", "insertion", "mu_fidelity", "sparseness", "complexity")
MASK_METRICS = ("pointing_game", "relevance_mass", "relevance_rank")
#: Images of the demo used without ``--num-images``.
DEMO_IMAGES = 4
CHECKS = ("cascading", "independent", "random_logit")
EVALUATE_FILES = ("metrics.json", "report.html")
SANITY_FILES = ("sanity.json", "report.html")


# -- inputs ------------------------------------------------------------------------------------
def parse_metric_options(values):
    """``{metric: {key: value}}`` from ``--metric-option METRIC.KEY=VALUE`` values."""
    return parse_keyed_options(values, "--metric-option", "deletion.steps=20")


def load_inputs(model, images, demo, preprocess, unsafe, num_images, err):
    """``(keras model, InputFiles, class names or None, title, is_demo)`` from the
    command's arguments: the bundled demo without MODEL (or with ``--demo``), else MODEL
    and IMAGES read as ``kerascope explain`` reads them."""
    if demo or model is None:
        if model is not None or images:
            raise UserError("--demo: runs on the bundled model and images; pass either --demo "
                            "or MODEL IMAGES, not both.")
        quiet_frameworks()
        keras_model, inputs, class_names, title = demo_inputs()
        inputs.keep(DEMO_IMAGES if num_images is None else num_images)
        return keras_model, inputs, class_names, title, True
    if not images:
        raise UserError("IMAGES: expected at least one image file, folder or .npy array after "
                        "MODEL (or no MODEL to run on the bundled demo).")
    keras_model, inputs = open_inputs(model, images, preprocess, unsafe, err)
    if len({x.shape for x in inputs.x}) > 1:
        raise UserError(f"IMAGES: the inputs have different shapes "
                        f"{sorted({x.shape[1:] for x in inputs.x})}; the metrics need one batch.")
    if num_images is not None:
        inputs.keep(num_images)
    return keras_model, inputs, None, f"{keras_model.name} ({model.name})", False


def check_metric_keys(info, keys):
    """Refuse ``--metric-option`` keys that the metric's function does not take."""
    import inspect

    parameters = inspect.signature(info.fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [name for name, p in parameters.items()
                if p.kind is not p.VAR_POSITIONAL and name not in INTERNAL_METRIC_ARGUMENTS]
    for key in keys:
        if key not in accepted:
            raise UserError(f"--metric-option {info.name}.{key}: {info.name} has no option "
                            f"{key!r}; expected one of {', '.join(accepted)}.")


#: Arguments the command passes itself, not options a user sets.
INTERNAL_METRIC_ARGUMENTS = ("model", "x", "targets", "maps", "method", "masks", "batch_size",
                             "method_options")


def read_masks(path, inputs):
    """Ground-truth masks from a .npy file: bool ``(N, H, W)``, one per input."""
    import numpy as np

    path = pathlib.Path(path)
    try:
        with open(path, "rb") as file:
            magic = file.read(6)
    except OSError as error:
        raise UserError(f"--masks: cannot read {str(path)!r} ({error.strerror}).") from None
    if magic != b"\x93NUMPY":
        raise UserError(f"--masks: {str(path)!r} is not a .npy file; expected an (N, H, W) "
                        "array of booleans saved with numpy.save.")
    try:
        masks = np.load(path, allow_pickle=False)
    except Exception as error:  # noqa: BLE001 - any reading failure is about the file
        raise UserError(f"--masks: cannot read {str(path)!r} as a .npy array ({error}).") from None
    x = inputs.x[0]
    size = tuple(x.shape[2:4] if inputs.spec.channels_first else x.shape[1:3])
    expected = (len(inputs.x),) + size
    if masks.shape != expected:
        raise UserError(f"--masks: {str(path)!r} holds an array of shape {masks.shape}; expected "
                        f"one (H, W) mask per input, {expected}.")
    if not (masks.dtype == bool or (np.issubdtype(masks.dtype, np.number)
                                    and np.isin(masks, (0, 1)).all())):
        raise UserError(f"--masks: {str(path)!r} holds {masks.dtype} values; expected booleans "
                        "(or 0/1).")
    return masks.astype(bool)


def _targets(text):
    kind, value = parse_target(text)
    if kind == "top":
        raise UserError("--target: expected 'predicted' or a class index (the metrics score "
                        "one class per input), got a top-K.")
    return "predicted" if kind == "predicted" else value


def _facts(keras_model, inputs, title, extra):
    import keras

    from kerascope._version import __version__

    return {"model": title, "backend": f"{keras.backend.backend()} (Keras {keras.__version__})",
            "input shape": str(tuple(keras_model.inputs[0].shape)),
            "inputs": f"{len(inputs.x)} image(s): " + ", ".join(
                pathlib.Path(n).name for n in inputs.names),
            "preprocessing": inputs.preprocess, **extra, "kerascope": __version__,
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def _finite(value):
    import math

    value = float(value)
    return value if math.isfinite(value) else None


def _method_error(name, error):
    message = one_line(error)
    if message.startswith("method: "):
        message = message[len("method: "):]
    return UserError(f"-m {name}: {message}")


_input_options = [
    click.argument("model", required=False, type=click.Path(path_type=pathlib.Path)),
    click.argument("images", nargs=-1, type=click.Path(path_type=pathlib.Path)),
    click.option("--demo", "use_demo", is_flag=True,
                 help="Run on the bundled demo model and images (the default without MODEL)."),
    click.option("--num-images", type=click.IntRange(min=1), default=None,
                 help=f"Use only the first N inputs (demo default: {DEMO_IMAGES})."),
    click.option("--target", default="predicted", show_default=True, metavar="N|predicted",
                 help="Class scored and explained: an index or the predicted class."),
    click.option("--layer", default=None, metavar="NAME",
                 help="Layer for the CAM methods (default: the last convolution)."),
    click.option("-o", "--option", "options", multiple=True, metavar="METHOD.KEY=VALUE",
                 help="A method option, e.g. -o smoothgrad.num_samples=8 (repeatable)."),
    click.option("--preprocess", default=None, metavar="0-1|-1-1|0-255|FAMILY",
                 help="How pixel values become model inputs (as for `kerascope explain`)."),
    click.option("--unsafe", is_flag=True,
                 help="Load a model with Lambda layers (trusted files only)."),
]


def _prepare(model, images, use_demo, num_images, methods_, options, target, layer, preprocess,
             unsafe, out, force, quiet, files, default_methods):
    """Checks and inputs shared by both commands; returns everything the run needs."""
    console, err = consoles(quiet)
    check_out(out, force, replace_previous=use_demo or model is None, files=files)
    method_names = resolve_methods(methods_, catalog()) if methods_ else list(default_methods)
    user_options = parse_options(options, method_names)
    target_value = _targets(target)
    keras_model, inputs, class_names, title, is_demo = load_inputs(
        model, images, use_demo, preprocess, unsafe, num_images, err)
    check_against_model(keras_model, ("predicted", None) if target_value == "predicted"
                        else ("index", target_value), layer=layer)
    planned = plan_methods(method_names, inputs, layer=layer, user_options=user_options)
    return console, err, keras_model, inputs, class_names, title, is_demo, planned, \
        target_value


def _done(console, quiet, table, out, what):
    if quiet:
        return
    console.print(table, highlight=False, markup=False)
    console.print(f"{what}; report: [bold]{pathlib.Path(out).absolute() / 'report.html'}[/bold]",
                  highlight=False)


# -- kerascope evaluate -------------------------------------------------------------------------
@click.command(short_help="Score methods' maps with faithfulness, localization... metrics.")
@with_options(_input_options)
@click.option("-m", "--method", "methods_", multiple=True, metavar="METHOD",
              help="A method (repeatable, or comma-separated). Default: "
                   + ", ".join(DEFAULT_METHODS) + ".")
@click.option("--metric", "metrics_", multiple=True, metavar="NAME",
              help="A metric (repeatable, or comma-separated), or 'all' (every registered "
                   "metric the inputs allow: masked ones with masks). Default: "
                   + ", ".join(DEFAULT_METRICS) + ", plus " + ", ".join(MASK_METRICS)
                   + " with masks.")
@click.option("--masks", type=click.Path(path_type=pathlib.Path), default=None,
              help="Ground-truth masks for the localization metrics: a .npy of (N, H, W) "
                   "booleans, one per input (the colour demo brings its own).")
@click.option("--metric-option", "metric_options", multiple=True, metavar="METRIC.KEY=VALUE",
              help="A metric option, e.g. --metric-option deletion.steps=20 (repeatable); "
                   "the command groups pixels by about 64 for faithfulness_estimate, "
                   "monotonicity_correlation (10 draws) and sensitivity_n, and uses 10 "
                   "samples for smooth_mprt (the Python API keeps Quantus's defaults).")
@with_options(COMMON_OPTIONS)
def evaluate(model, images, use_demo, num_images, target, layer, options, preprocess, unsafe,
             methods_, metrics_, masks, metric_options, batch_size, out, force, quiet, debug):
    """Score the maps of the methods on MODEL and IMAGES (or the bundled demo) with the
    metrics and write metrics.json and report.html to --out (default: kerascope-evaluate).
    `python -c "from kerascope import metrics; print(metrics.REGISTRY)"` lists the metrics."""
    out = out or pathlib.Path("kerascope-evaluate")
    quiet_frameworks()
    from kerascope import metrics as km
    from kerascope.engine import memory

    infos = []
    names = split_values(metrics_) or DEFAULT_METRICS
    every = "all" in names
    for name in names:
        if name == "all":
            infos += km.catalog()
            continue
        try:
            infos.append(km.get(name))
        except ValueError:
            raise UserError(f"--metric: unknown metric {name!r}; expected one of "
                            f"{', '.join(sorted(km.REGISTRY))}.") from None
    metric_opts = parse_metric_options(metric_options)
    for name, keys in metric_opts.items():
        if name not in km.REGISTRY and name not in km.ALIASES:
            raise UserError(f"--metric-option {name}: unknown metric {name!r}.")
        check_metric_keys(km.get(name), keys)
    (console, err, keras_model, inputs, class_names, title, is_demo, planned,
     targets) = _prepare(model, images, use_demo, num_images, methods_, options, target, layer,
                         preprocess, unsafe, out, force, quiet, EVALUATE_FILES, DEFAULT_METHODS)
    batch_size = memory.resolve(batch_size, keras_model)
    import numpy as np

    mask_array = read_masks(masks, inputs) if masks is not None else None
    if mask_array is None and inputs.masks is not None:
        mask_array = np.stack(inputs.masks)
    if not metrics_ and mask_array is not None:
        infos += [km.get(name) for name in MASK_METRICS]
    if every:  # --metric all: the metrics these inputs allow (the masked ones need masks)
        infos = [info for info in infos if mask_array is not None or not info.needs_masks]
    needing = [info.name for info in infos if info.needs_masks]
    if needing and mask_array is None:
        raise UserError(f"--masks: the metric(s) {', '.join(needing)} need ground-truth masks "
                        "(a .npy of (N, H, W) booleans).")
    infos = list({info.name: info for info in infos}.values())
    x = np.concatenate(inputs.x)
    size = x.shape[2:4] if inputs.spec.channels_first else x.shape[1:3]
    metric_opts = effective_options([info.name for info in infos], metric_opts,
                                    int(np.prod(size)), km.ALIASES)

    rows = []
    with progress_bar(err, quiet, width=28, eta=False) as progress:
        task = progress.add_task("evaluating", total=len(planned))
        for name, _, method in planned:
            progress.update(task, description=name)
            try:
                rows += km.evaluate(keras_model, x, targets, methods={name: method},
                                    metrics=[info.name for info in infos],
                                    masks=mask_array if needing else None,
                                    batch_size=batch_size, metric_options=metric_opts)
            except (ValueError, TypeError) as error:
                message = one_line(error)
                if message.startswith("masks:"):
                    raise UserError("--masks:" + message[len("masks:"):]) from None
                if message.startswith("method:"):
                    raise _method_error(name, error) from None
                raise UserError(f"-m {name} / --metric: {message}") from None
            progress.advance(task)
    curves = km.curve_figures(rows)
    table = km.format_table(rows)

    from kerascope.report.trust import metrics_section, render_trust_report

    facts = _facts(keras_model, inputs, title, {
        "target": "predicted class" if targets == "predicted" else f"class {targets}",
        "methods": "; ".join(f"{n} ({params_text(o)})" for n, o, _ in planned),
        "masks": "none" if mask_array is None else (str(masks) if masks is not None
                                                     else "the demo's ground-truth masks"),
        "metric options": "; ".join(f"{n} ({params_text(o)})" for n, o in metric_opts.items())
        or "defaults"})
    record = {
        "model": title, "inputs": [pathlib.Path(n).name for n in inputs.names],
        "target": targets, "methods": {n: jsonable(o) for n, o, _ in planned},
        "metric_options": jsonable(metric_opts),
        "rows": [{"method": str(row["method"]), "metric": row["metric"],
                  "value": _finite(row["value"]), "std": _finite(row["std"]), "n": row["n"],
                  "higher_is_better": row["higher_is_better"],
                  "per_sample": [_finite(v) for v in row["result"].per_sample],
                  "seconds": row["seconds"], "explain_seconds": row["explain_seconds"],
                  **({"curve_x": jsonable(row["result"].curve_x),
                      "mean_curve": jsonable(np.nanmean(row["result"].curves, axis=0))}
                     if row["result"].curves is not None else {})} for row in rows],
    }
    with staged_output(out, force or is_demo) as stage:
        (stage / "metrics.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
        page = render_trust_report(
            f"kerascope evaluation: {title}", facts,
            [metrics_section(rows, {info.name: info for info in infos}, curves)])
        (stage / "report.html").write_text(page, encoding="utf-8")
    _done(console, quiet, table, out,
          f"evaluated {len(planned)} method(s) with {len(infos)} metric(s) on "
          f"{len(x)} input(s)")


# -- kerascope sanity ---------------------------------------------------------------------------
@click.command(short_help="Sanity checks: do the maps change when the model is randomized?")
@with_options(_input_options)
@click.option("-m", "--method", "methods_", multiple=True, metavar="METHOD",
              help="A method (repeatable, or comma-separated). Default: vanilla_gradients.")
@click.option("--check", "checks", multiple=True, metavar="|".join(CHECKS),
              help="Checks to run (repeatable, or comma-separated). Default: cascading.")
@click.option("--measure", "measures", multiple=True, metavar="NAME",
              help="Similarity measures: spearman_abs, spearman, ssim, hog (default: all).")
@click.option("--layers", default=None, metavar="NAME,...",
              help="Layers to randomize (default: every layer with weights).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the re-initialization.")
@with_options(COMMON_OPTIONS)
def sanity(model, images, use_demo, num_images, target, layer, options, preprocess, unsafe,
           methods_, checks, measures, layers, seed, batch_size, out, force, quiet, debug):
    """Randomize MODEL's layers (a copy; the model is unchanged) and measure how much the
    maps of IMAGES (or the bundled demo) change; write sanity.json and report.html to
    --out (default: kerascope-sanity). Adebayo et al. 2018, arXiv:1810.03292."""
    out = out or pathlib.Path("kerascope-sanity")
    check_names = split_values(checks) or ["cascading"]
    for name in check_names:
        if name not in CHECKS:
            raise UserError(f"--check: unknown check {name!r}; expected one of "
                            f"{', '.join(CHECKS)}.")
    check_names = list(dict.fromkeys(check_names))
    quiet_frameworks()
    from kerascope.engine import memory
    from kerascope.metrics import randomization as ks

    try:
        measure_names = ks.check_measures(split_values(measures) or ks.MEASURES)
    except ValueError as error:
        raise UserError("--measure: " + str(error).split(": ", 1)[-1]) from None
    layer_names = split_values([layers]) if layers else None
    (console, err, keras_model, inputs, class_names, title, is_demo, planned,
     targets) = _prepare(model, images, use_demo, num_images, methods_, options, target, layer,
                         preprocess, unsafe, out, force, quiet, SANITY_FILES,
                         ("vanilla_gradients",))
    batch_size = memory.resolve(batch_size, keras_model)
    if layer_names:
        known = {lyr.name for lyr in ks.randomizable_layers(keras_model)}
        for name in layer_names:
            if name not in known:
                raise UserError(f"--layers: {name!r} is not a layer with weights of the model; "
                                f"expected some of {', '.join(sorted(known))}.")
    import numpy as np

    x = np.concatenate(inputs.x)
    functions = {"cascading": ks.cascading_randomization,
                 "independent": ks.independent_randomization, "random_logit": ks.random_logit}
    results = []
    with progress_bar(err, quiet, width=28, eta=False) as progress:
        task = progress.add_task("sanity checks", total=len(planned) * len(check_names))
        for name, _, method in planned:
            for check in check_names:
                progress.update(task, description=f"{name}: {check}")
                kwargs = {"measures": measure_names, "batch_size": batch_size, "seed": seed}
                if check != "random_logit":
                    kwargs["layers"] = layer_names
                try:
                    result = functions[check](keras_model, x, targets, method, **kwargs)
                except (ValueError, TypeError) as error:
                    message = one_line(error)
                    if message.startswith("method:"):
                        raise _method_error(name, error) from None
                    raise UserError(f"-m {name} --check {check}: {message}") from None
                result.method = name
                results.append((name, check, result))
                progress.advance(task)
        figures = []
        for name, check, result in results:
            strip = result.strip_png(num_inputs=min(3, len(x))) if check != "random_logit" \
                else None
            figures.append((name, check, result, result.figure_png(), strip))

    from kerascope.report.trust import render_trust_report, sanity_section

    table = "\n\n".join(f"{name}: {check}\n{result.format_table()}"
                        for name, check, result in results)
    facts = _facts(keras_model, inputs, title, {
        "target": "predicted class" if targets == "predicted" else f"class {targets}",
        "methods": "; ".join(f"{n} ({params_text(o)})" for n, o, _ in planned),
        "checks": ", ".join(check_names), "measures": ", ".join(measure_names),
        "seed": seed})
    record = {
        "model": title, "inputs": [pathlib.Path(n).name for n in inputs.names],
        "target": targets, "seed": seed, "measures": list(measure_names),
        "methods": {n: jsonable(o) for n, o, _ in planned},
        "results": [{"method": name, "check": check,
                     "rows": [{k: (_finite(v) if isinstance(v, float) else v)
                               for k, v in row.items()} for row in result.rows()]}
                    for name, check, result in results],
    }
    with staged_output(out, force or is_demo) as stage:
        (stage / "sanity.json").write_text(json.dumps(jsonable(record), indent=1),
                                           encoding="utf-8")
        page = render_trust_report(f"kerascope sanity checks: {title}", facts,
                                   [sanity_section(figures)])
        (stage / "report.html").write_text(page, encoding="utf-8")
    _done(console, quiet, table, out,
          f"ran {len(check_names)} check(s) on {len(planned)} method(s) and {len(x)} input(s)")
