"""``kerascope demo``: the bundled model and images explained with every method."""

from __future__ import annotations

import pathlib

import click

from kerascope.cli.catalog import DEFAULT_METHODS, asks_all, catalog, resolve_methods
from kerascope.cli.common import COMMON_OPTIONS, check_out, consoles, with_options
from kerascope.cli.reading import InputFiles
from kerascope.cli.runner import explain_run, print_summary


def demo_inputs():
    """The bundled demo: ``(model, InputFiles, class names, title)``; the colour demo
    (with its ground-truth masks) when it is installed, else the digits demo."""
    import numpy as np

    from kerascope import demo as demo_lib
    from kerascope.inputs import files as kio

    colour_path = getattr(demo_lib, "COLOUR_MODEL_PATH", None)
    if hasattr(demo_lib, "load_colour_model") and (colour_path is None or colour_path.is_file()):
        model = demo_lib.load_colour_model()
        images, labels_true, masks = demo_lib.load_colour_samples()
        class_names = list(getattr(demo_lib, "COLOUR_CLASS_NAMES", demo_lib.CLASS_NAMES))
        title = "colour digits demo"
    else:
        model = demo_lib.load_model()
        images, labels_true = demo_lib.load_samples()
        masks = None
        class_names = list(demo_lib.CLASS_NAMES)
        title = "digits demo"
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[..., None]
    pixels = [np.clip(np.rint(image * 255), 0, 255).astype(np.uint8) for image in images]
    names = [f"sample {i} (label {class_names[int(label)]})"
             for i, label in enumerate(labels_true)]
    inputs = InputFiles(names, pixels, [image[None] for image in images],
                        "0-1: p / 255 (the bundled images, already in [0, 1])",
                        masks=None if masks is None else [np.asarray(m, dtype=bool)
                                                          for m in masks],
                        spec=kio.input_spec(model, argument="MODEL"))
    return model, inputs, class_names, title


@click.command(short_help="Explain the bundled demo model with every method.")
@click.option("-m", "--method", "methods_", multiple=True, metavar="METHOD",
              help="Methods to run (default: all).")
@with_options(COMMON_OPTIONS)
def demo(methods_, batch_size, out, force, quiet, debug):
    """Explain the bundled demo model on its bundled images with every method and write
    the report to --out (default: kerascope-demo)."""
    out = out or pathlib.Path("kerascope-demo")
    console, err = consoles(quiet)
    check_out(out, force, replace_previous=True)
    method_names = resolve_methods(methods_ or ("all",), catalog())
    if not methods_:  # the default methods first, then the others
        method_names = [m for m in DEFAULT_METHODS if m in method_names] + [
            m for m in method_names if m not in DEFAULT_METHODS]
    model, inputs, class_names, title = demo_inputs()
    runs, _, _ = explain_run(model, inputs, method_names, labels=class_names,
                             batch_size=batch_size, out=out, force=force, quiet=quiet,
                             console=console, err_console=err, replace_previous=True,
                             optional=set(method_names) if not methods_ or asks_all(methods_) else set(),
                             model_name=f"{model.name} ({title})")
    if not quiet:
        print_summary(console, runs, out, len(inputs.x))
