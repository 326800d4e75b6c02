"""The run behind ``kerascope explain`` and ``kerascope demo``: every method on every
input, then the results written to a staged ``--out`` by one of two sinks: in memory
(``maps.npz``, a PNG per method, ``report.html``) or streamed (``METHOD.npy`` /
``METHOD.zarr`` written batch by batch, and ``maps.npz``)."""

from __future__ import annotations

import json
import pathlib
import time

from kerascope.cli.catalog import catalog, method_notes, plan_methods
from kerascope.cli.common import (UserError, jsonable, one_line, params_text, progress_bar,
                                  staged_output, user_value_error)
from kerascope.cli.model_files import check_against_model


def explain_run(model, inputs, method_names, *, target=("predicted", None), labels=None,
                layer=None, user_options=None, batch_size="auto", out, force=False, quiet=False,
                console=None, err_console=None, replace_previous=False, model_name=None,
                optional=(), stream_maps=None):
    """Run the methods on the inputs (``InputFiles``) and write the outputs to ``out``
    (via a stage). Returns ``(runs, (N, K) explained classes, probabilities)``.

    A method named in ``optional`` (those ``-m all`` brings in) that does not apply to
    the model (a ``ValueError`` from its run, e.g. CAM without a GAP -> Dense head) is
    skipped with a warning and a note in the report; any other method's is bad input.
    ``stream_maps`` (``"npy"`` or ``"zarr"``): each method's maps go to
    ``METHOD.npy`` (``.zarr``) batch by batch, never all in memory; no PNGs and no
    report are drawn, and each run's ``maps`` is the written array opened read-only.
    """
    import keras
    import numpy as np

    from kerascope.api import explain
    from kerascope.engine import memory
    from kerascope.inputs import files as kio
    from kerascope.report import MethodRun

    if err_console is None:
        from rich.console import Console

        err_console = Console(stderr=True, quiet=quiet, highlight=False, soft_wrap=True)
    if inputs.spec is None:
        inputs.spec = kio.input_spec(model, argument="MODEL")
    check_against_model(model, target, labels, layer)
    batch_size = memory.resolve(batch_size, model)
    groups = {}
    for i, x in enumerate(inputs.x):
        groups.setdefault(x.shape, []).append(i)
    if stream_maps is not None:
        _check_streamable(inputs, stream_maps)
    planned = plan_methods(method_names, inputs, layer=layer, user_options=user_options)
    targets = api_targets(target)
    per_input = target[1] if target[0] == "top" else 1
    entries = {e["name"]: e for e in catalog()}
    n = len(inputs.x)

    runs, skipped, outputs_all = [], [], None
    with staged_output(out, force or replace_previous) as stage:
        with progress_bar(err_console, quiet) as progress:
            task = progress.add_task("explaining", total=n * len(planned))
            for done, (name, options, method) in enumerate(planned):
                progress.update(task, description=name, completed=done * n)
                # Inputs per device batch: the rows one input expands into (noisy
                # copies, path points, masks) times its targets fill batch_size.
                rows = method.rows_per_input() if hasattr(method, "rows_per_input") else 1
                step = max(1, batch_size // (max(1, int(rows)) * per_input))

                def stream(array, step=step):
                    for first in range(0, len(array), step):
                        yield array[first:first + step]
                        progress.advance(task, len(array[first:first + step]))

                start = time.perf_counter()
                sink = {"out": stage / f"{name}.{stream_maps}"} if stream_maps else {}
                outputs, maps = [None] * n, [None] * n
                try:
                    for indices in groups.values():
                        stacked = np.concatenate([inputs.x[i] for i in indices])
                        got_outputs, got = explain(method, model, stream(stacked), targets,
                                                   batch_size=batch_size, **sink)
                        if stream_maps:  # one group: the written array
                            maps = got
                        else:
                            got = np.asarray(got, dtype=np.float32)
                        for row, i in enumerate(indices):
                            outputs[i] = np.asarray(got_outputs[row])
                            if not stream_maps:
                                maps[i] = got[row] if target[0] == "top" else got[row][None]
                except ValueError as problem:
                    if name not in optional:
                        raise user_value_error(None, f"{name}: {problem}") from None
                    skipped.append(f"{name} does not apply to this model: {one_line(problem)}")
                    err_console.print(f"[yellow]kerascope: warning: skipped {skipped[-1]}"
                                      "[/yellow]", highlight=False)
                    continue
                entry = entries.get(name, {})
                signed = bool(entry.get("signed")) or (not stream_maps and any(
                    float(np.min(m)) < 0 for m in maps))
                runs.append(MethodRun(name=name, maps=maps, parameters=options,
                                      seconds=time.perf_counter() - start, signed=signed,
                                      family=entry.get("family", ""),
                                      summary=entry.get("summary", ""),
                                      paper=entry.get("paper", "")))
                if outputs_all is None:
                    outputs_all = np.stack(outputs)
        if outputs_all is None:  # every method skipped
            outputs_all = np.concatenate([np.asarray(keras.ops.convert_to_numpy(
                model(x, training=False))) for x in inputs.x])
        outputs_all = np.asarray(outputs_all, dtype=np.float32)
        probabilities, probability_note = probabilities_of(outputs_all)
        target_rows = explained_classes(outputs_all, probabilities, target)
        arrays = {
            "files": np.asarray(inputs.names),
            "targets": target_rows.astype(np.int64),
            "outputs": outputs_all,
            "probabilities": probabilities.astype(np.float32),
            "preprocess": np.asarray(inputs.preprocess),
            "methods": np.asarray([run.name for run in runs]),
            "parameters": np.asarray(json.dumps({run.name: jsonable(run.parameters)
                                                 for run in runs})),
            "seconds": np.asarray(json.dumps({run.name: run.seconds for run in runs})),
        }
        if stream_maps:
            arrays["maps_files"] = np.asarray([f"{run.name}.{stream_maps}" for run in runs])
            np.savez_compressed(stage / "maps.npz", **arrays)
        else:
            write_in_memory(stage, arrays, runs, inputs, model, target, target_rows,
                            probabilities, probability_note, labels, model_name,
                            [f"skipped {s}" for s in skipped], err_console, quiet,
                            uniform=len(groups) == 1)
    if stream_maps:
        reopen(runs, out, stream_maps)
    return runs, target_rows, probabilities


def _check_streamable(inputs, fmt):
    if fmt == "zarr":
        try:
            import zarr  # noqa: F401
        except ImportError:
            raise UserError("--stream-maps zarr: needs the zarr package: pip install "
                            "'kerascope[zarr]' (or use --stream-maps npy).") from None
    if len({x.shape for x in inputs.x}) > 1:
        shapes = sorted({x.shape[1:] for x in inputs.x})
        raise UserError(f"--stream-maps: the images have several sizes {shapes}; a "
                        f".{fmt} file holds maps of one size (resize them, or drop "
                        "--stream-maps).")


def write_in_memory(stage, arrays, runs, inputs, model, target, target_rows, probabilities,
                    probability_note, labels, model_name, skipped, err_console, quiet,
                    uniform):
    """The in-memory sink: ``maps.npz`` with the maps, a PNG per method, the report."""
    import keras
    import numpy as np

    from kerascope._version import __version__
    from kerascope import rendering
    from kerascope.report import Explained, write_report

    for run in runs:
        maps = [m if target[0] == "top" else m[0] for m in run.maps]
        if uniform:
            arrays[run.name] = np.stack(maps)
        else:
            for i, m in enumerate(maps):
                arrays[f"{run.name}/{i}"] = m
    np.savez_compressed(stage / "maps.npz", **arrays)

    short = [pathlib.Path(name).name for name in inputs.names]
    with progress_bar(err_console, quiet) as progress:
        task = progress.add_task("drawing", total=len(runs))
        for run in runs:
            picture = rendering.render_grid(
                run.maps, inputs.pixels, method=run.name, targets=target_rows,
                labels=labels, probabilities=np.take_along_axis(probabilities, target_rows,
                                                                axis=-1),
                signed=run.signed, captions=short,
                suptitle=f"{run.name} ({'signed' if run.signed else 'unsigned'}; "
                         f"{params_text(run.parameters)})")
            rendering.save_png(picture, stage / f"{run.name}.png")
            progress.advance(task)

    report = Explained(
        names=short, pixels=inputs.pixels, inputs=inputs.x, probabilities=probabilities,
        targets=target_rows, runs=runs, labels=labels, masks=inputs.masks,
        model_name=model_name or model.name, backend=keras.backend.backend(),
        input_shape=str(tuple(model.inputs[0].shape)),
        parameter_count=int(model.count_params()), preprocess=inputs.preprocess,
        version=__version__, keras_version=keras.__version__,
        date=time.strftime("%Y-%m-%d %H:%M:%S"), probability_note=probability_note,
        notes=method_notes(runs) + inputs.notes + skipped,
    )
    write_report(stage / "report.html", report)


def reopen(runs, out, fmt):
    """The streamed sink's maps, opened read-only where the stage was moved to."""
    import numpy as np

    for run in runs:
        path = pathlib.Path(out) / f"{run.name}.{fmt}"
        if fmt == "npy":
            run.maps = np.load(path, mmap_mode="r")
        else:
            import zarr

            run.maps = zarr.open_array(str(path), mode="r")


def api_targets(target):
    """The ``targets`` argument of ``kerascope.explain`` for a parsed ``--target``."""
    from kerascope.engine.targets import top_k

    kind, value = target
    if kind == "predicted":
        return "predicted"
    return value if kind == "index" else top_k(value)


def probabilities_of(outputs):
    """``(probabilities, what they are)`` of the model's outputs."""
    import numpy as np

    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.ndim == 1:
        outputs = outputs[:, None]
    if outputs.shape[-1] == 1:
        inside = np.all((outputs >= 0) & (outputs <= 1))
        p = outputs if inside else 1.0 / (1.0 + np.exp(-outputs))
        note = ("the model's sigmoid output as [1 - p, p]" if inside
                else "sigmoid of the model's output as [1 - p, p]")
        return np.concatenate([1 - p, p], axis=-1), note + \
            " (binary model: class 1 is the output unit)"
    if np.all(outputs >= 0) and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-3):
        return outputs, "the model's outputs (softmax)"
    shifted = np.exp(outputs - outputs.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True), "softmax of the model's outputs"


def explained_classes(outputs, probabilities, target):
    """The ``(N, K)`` classes ``target`` selects, resolved by
    ``kerascope.engine.targets`` (on the probabilities for a binary model)."""
    import keras
    import numpy as np

    from kerascope.engine import targets as targets_lib

    scores = np.asarray(outputs)
    if scores.ndim == 1 or scores.shape[-1] != probabilities.shape[-1]:
        scores = probabilities
    n = len(scores)
    resolved = targets_lib.resolve(api_targets(target), n, scores.shape[-1])
    # one row per (input, target), a tensor: numpy * torch.Tensor is refused
    rows = keras.ops.convert_to_tensor(np.repeat(scores, resolved.per_input, axis=0))
    _, units = resolved.score()(rows, resolved.rows(0, n))
    return np.asarray(keras.ops.convert_to_numpy(units)).reshape(n, resolved.per_input)


def print_summary(console, runs, out, n_images, stream_maps=None):
    """The table of methods, seconds and files, and where the results are."""
    from rich.table import Table

    table = Table("method", "seconds", "file", box=None, pad_edge=False)
    for run in runs:
        table.add_row(run.name, f"{run.seconds:.2f}", f"{run.name}.{stream_maps or 'png'}")
    console.print(table)
    if stream_maps:
        console.print(f"explained {n_images} image(s) with {len(runs)} method(s); maps: "
                      f"[bold]{pathlib.Path(out).absolute()}[/bold] (METHOD.{stream_maps}, "
                      "maps.npz)", highlight=False)
        return
    console.print(f"explained {n_images} image(s) with {len(runs)} method(s); report: "
                  f"[bold]{pathlib.Path(out).absolute() / 'report.html'}[/bold]", highlight=False)
