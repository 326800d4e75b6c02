"""``kerascope explain MODEL IMAGES...``: maps, a PNG per method and a report."""

from __future__ import annotations

import pathlib
from importlib import util as importlib_util

import click

from kerascope.cli.catalog import DEFAULT_METHODS, asks_all, catalog, resolve_methods
from kerascope.cli.common import (COMMON_OPTIONS, UserError, check_out, consoles,
                                  parse_options, parse_target, read_labels, with_options)
from kerascope.cli.reading import open_inputs
from kerascope.cli.runner import explain_run, print_summary

PREPROCESSING = ["0-1", "-1-1", "0-255", "vgg16", "vgg19", "resnet50", "resnet", "resnet_v2",
                 "inception_v3", "inception_resnet_v2", "xception", "mobilenet",
                 "mobilenet_v2", "mobilenet_v3", "densenet", "nasnet", "efficientnet",
                 "efficientnet_v2", "convnext"]


@click.command(short_help="Explain a saved model on image files: maps, PNGs and a report.")
@click.argument("model", type=click.Path(path_type=pathlib.Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=pathlib.Path))
@click.option("-m", "--method", "methods_", multiple=True, metavar="METHOD",
              help="A method (repeatable, or comma-separated), or 'all'. Default: "
                   + ", ".join(DEFAULT_METHODS) + ".")
@click.option("--target", default="predicted", show_default=True, metavar="N|predicted|top-K",
              help="Class to explain: an index, the predicted class, or the K most likely.")
@click.option("--labels", type=click.Path(path_type=pathlib.Path), default=None,
              help="Class names: a text file with one per line, or JSON (list or {index: name}).")
@click.option("--layer", default=None, metavar="NAME",
              help="Layer for the CAM methods (default: the last convolution).")
@click.option("-o", "--option", "options", multiple=True, metavar="METHOD.KEY=VALUE",
              help="A method option, e.g. -o occlusion.patch_size=4 (repeatable).")
@click.option("--preprocess", default=None, type=click.Choice(PREPROCESSING),
              metavar="0-1|-1-1|0-255|FAMILY",
              help="How pixel values become model inputs; FAMILY is a keras.applications "
                   "family (vgg16, resnet50, mobilenet_v2, efficientnet, xception, ...). "
                   "Default: 0-255 when the model starts with a Rescaling layer, else 0-1.")
@click.option("--unsafe", is_flag=True,
              help="Load a model with Lambda layers (runs code from the file; trusted files only).")
@click.option("--stream-maps", type=click.Choice(["npy", "zarr"]), default=None,
              metavar="npy|zarr",
              help="For large folders: write each method's maps to METHOD.npy (or "
                   "METHOD.zarr, needs kerascope[zarr]) in --out as the batches come, never "
                   "all in memory; maps.npz then holds the file names, targets and outputs, "
                   "and no PNGs or report are drawn.")
@with_options(COMMON_OPTIONS)
def explain(model, images, methods_, target, labels, layer, options, preprocess, unsafe,
            stream_maps, batch_size, out, force, quiet, debug):
    """Explain MODEL (.keras or .h5) on IMAGES (files or folders; PNG, JPEG, BMP, WebP,
    TIFF; or .npy arrays) and write maps.npz, a PNG per method and report.html to --out
    (default: kerascope-output); with --stream-maps, maps.npz and one maps file per
    method."""
    out = out or pathlib.Path("kerascope-output")
    console, err = consoles(quiet)
    check_out(out, force)
    if stream_maps == "zarr" and importlib_util.find_spec("zarr") is None:
        raise UserError("--stream-maps zarr: needs the zarr package: pip install "
                        "'kerascope[zarr]' (or use --stream-maps npy).")
    method_names = resolve_methods(methods_, catalog()) if methods_ else list(DEFAULT_METHODS)
    optional = set(method_names) if asks_all(methods_) else set()
    target_spec = parse_target(target)
    label_names = read_labels(labels) if labels is not None else None
    user_options = parse_options(options, method_names)
    keras_model, inputs = open_inputs(model, images, preprocess, unsafe, err)
    runs, _, _ = explain_run(keras_model, inputs, method_names, target=target_spec,
                             labels=label_names, layer=layer, user_options=user_options,
                             batch_size=batch_size, out=out, force=force, quiet=quiet,
                             console=console, err_console=err, optional=optional,
                             model_name=f"{keras_model.name} ({model.name})",
                             stream_maps=stream_maps)
    if not quiet:
        print_summary(console, runs, out, len(inputs.x), stream_maps)
