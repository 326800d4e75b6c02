"""The ``kerascope`` command: explain a model's predictions and write PNG heatmaps.

With no arguments it explains the bundled digits CNN on its bundled sample images
with every default method and writes one PNG per method, plus the raw float maps.
"""

import argparse
import os
import pathlib
import sys
import time

import numpy as np

DEFAULT_METHODS = (
    "vanilla_gradients",
    "gradients_inputs",
    "smoothgrad",
    "integrated_gradients",
    "grad_cam",
    "grad_cam_plus_plus",
    "guided_backprop",
    "occlusion",
)
METHOD_OPTIONS = {
    "smoothgrad": {"num_samples": 25, "noise": 0.15, "seed": 0},
    "integrated_gradients": {"n_steps": 64},
    "occlusion": {"patch_size": 4},
}


def _parser():
    parser = argparse.ArgumentParser(
        prog="kerascope",
        description="Explain what a Keras model sees. Without arguments: the bundled "
        "digits CNN on its bundled sample digits.",
    )
    parser.add_argument("--model", help="a .keras model file (default: the bundled digits CNN)")
    parser.add_argument("--images", help="a .npy/.npz array of images (N, H, W, C) or image "
                        "files; default: the bundled sample digits")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help="comma-separated methods (default: %(default)s)")
    parser.add_argument("--targets", default="predicted",
                        help="'predicted' (default), a class index, or top-K as 'top3'")
    parser.add_argument("--output", default="kerascope-output",
                        help="folder for the PNGs and maps.npz (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="rows per device call")
    parser.add_argument("--list-methods", action="store_true", help="list methods and exit")
    return parser


def _targets(text):
    import kerascope

    if text == "predicted":
        return text
    if text.startswith("top") and text[3:].isdigit():
        return kerascope.top_k(int(text[3:]))
    if text.isdigit():
        return int(text)
    raise SystemExit(f"kerascope: --targets: expected 'predicted', an int or 'topK', got {text!r}")


def _load_images(path, model):
    path = pathlib.Path(path)
    if path.suffix == ".npy":
        return np.load(path).astype(np.float32)
    if path.suffix == ".npz":
        with np.load(path) as archive:
            key = "images" if "images" in archive else archive.files[0]
            return archive[key].astype(np.float32)
    from PIL import Image

    files = sorted(path.iterdir()) if path.is_dir() else [path]
    shape = model.inputs[0].shape
    images = []
    for file in files:
        image = Image.open(file).convert("L" if shape[-1] == 1 else "RGB")
        image = image.resize((shape[2], shape[1]))
        array = np.asarray(image, dtype=np.float32) / 255.0
        images.append(array[..., None] if array.ndim == 2 else array)
    return np.stack(images)


def render(images, maps, min_size=112):
    """uint8 RGB grid: the images on the first row, their heatmap overlays below.

    Small images are enlarged (nearest neighbour) to at least ``min_size`` pixels.
    """
    from kerascope.utils.display import grid_display, heatmap_display

    maps = maps if maps.ndim == images.ndim - 1 else maps[:, 0]
    factor = max(1, -(-min_size // max(images.shape[1:3])))
    if factor > 1:
        images = images.repeat(factor, axis=1).repeat(factor, axis=2)
    originals = [heatmap_display(np.zeros(images.shape[1:3]), img, image_weight=1.0)
                 for img in images]
    overlays = [heatmap_display(np.abs(m), img, image_weight=0.5) for m, img in zip(maps, images)]
    return grid_display(np.stack(originals + overlays), num_rows=2, num_columns=len(images))


def main(argv=None):
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    import kerascope
    from kerascope import demo
    from kerascope.methods import names, registry
    from kerascope.utils.saver import save_rgb

    console = Console()
    if args.list_methods:
        console.print("\n".join(names()))
        return 0
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in registry._ALIASES]
    if unknown:
        console.print(f"[red]kerascope: --methods: unknown {', '.join(unknown)}; "
                      f"see --list-methods[/red]")
        return 2
    model = keras.saving.load_model(args.model, compile=False) if args.model else demo.load_model()
    if args.images:
        images, labels = _load_images(args.images, model), None
    else:
        images, labels = demo.load_samples()
    targets = _targets(args.targets)
    output = pathlib.Path(args.output)
    console.print(f"kerascope {kerascope.__version__} on Keras {keras.__version__} "
                  f"({keras.backend.backend()} backend): model [bold]{model.name}[/bold], "
                  f"{len(images)} images")
    table = Table("method", "seconds", "file")
    arrays = {}
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("explaining", total=len(methods))
        for name in methods:
            progress.update(task, description=name)
            start = time.perf_counter()
            outputs, maps = kerascope.explain(name, model, images, targets,
                                              batch_size=args.batch_size,
                                              **METHOD_OPTIONS.get(name, {}))
            seconds = time.perf_counter() - start
            path = save_rgb(render(images, maps), output, f"{name}.png")
            arrays[name] = maps
            table.add_row(name, f"{seconds:.2f}", str(path))
            progress.advance(task)
    predicted = outputs.argmax(axis=-1)
    np.savez_compressed(output / "maps.npz", outputs=outputs, **arrays)
    console.print(table)
    if labels is not None:
        console.print(f"predicted classes: {predicted.tolist()} (labels {labels.tolist()})")
    console.print(f"wrote {len(methods)} PNGs and maps.npz to [bold]{output.resolve()}[/bold]")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
