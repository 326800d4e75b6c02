"""The methods the commands know: the registry's catalog (``kerascope.methods``),
``-m`` values resolved to names, and each method planned with its options."""

from __future__ import annotations

import difflib
import sys

import click

from kerascope.cli.common import UserError, quiet_frameworks, user_value_error
from kerascope.cli.reading import value_range

#: Methods ``kerascope explain`` runs without ``-m``.
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


def catalog():
    """``[{name, aliases, family, summary, paper, signed}, ...]`` of the registered
    methods (importing Keras)."""
    quiet_frameworks()
    from kerascope.methods import registry

    return [{"name": i.name, "aliases": tuple(i.aliases), "family": i.family,
             "summary": i.summary, "paper": i.paper, "signed": bool(i.signed)}
            for i in registry.catalog()]


def resolve_methods(values, entries):
    """Canonical method names from ``-m`` values (repeatable, comma-separated, ``all``)."""
    by_name = {}
    for entry in entries:
        for alias in (entry["name"], *entry["aliases"]):
            by_name[alias] = entry["name"]
    names = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            if part == "all":
                names += [e["name"] for e in entries]
                continue
            if part not in by_name:
                close = difflib.get_close_matches(part, list(by_name), n=3, cutoff=0.6)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                raise UserError(f"--method: unknown method {part!r}.{hint} "
                                "`kerascope methods` lists them.")
            names.append(by_name[part])
    if values and not names:
        raise UserError("--method: expected a method name or 'all', got an empty value.")
    return list(dict.fromkeys(names))


def asks_all(values):
    """Whether ``-m all`` is among the values."""
    return any(part.strip() == "all" for value in values for part in str(value).split(","))


def plan_methods(method_names, inputs, layer=None, user_options=None):
    """``[(name, options, method instance), ...]``: each method's command defaults
    (``Method.cli_defaults``), ``--layer`` and the user's ``-o`` options applied,
    every option checked before anything runs (bad ones are :class:`UserError`)."""
    import numpy as np

    from kerascope.methods import registry

    user_options = user_options or {}
    spec = inputs.spec
    black = value_range(inputs)[0]
    size = inputs.x[0].shape[2:4] if spec.channels_first else inputs.x[0].shape[1:3]
    planned = []
    for name in method_names:
        cls = registry.lookup(name)
        accepted = set(registry.options_of(cls))
        defaults = cls.cli_defaults(accepted, black, tuple(size))
        options = {k: v for k, v in defaults.items() if k in accepted}
        if layer is not None and "layer_name" in accepted:
            options["layer_name"] = layer
        for key, value in user_options.get(name, {}).items():
            if key not in accepted:
                raise UserError(f"-o {name}.{key}: method {name!r} has no option {key!r}; its "
                                f"options are {', '.join(sorted(accepted)) or 'none'}.")
            options[key] = value
        build = dict(options)
        if "references" in accepted and "references" not in options:
            # Methods that draw baselines from a reference set (Expected Gradients)
            # draw them from the inputs being explained; the report says so.
            if len({tuple(x.shape) for x in inputs.x}) == 1:  # images of one size
                build["references"] = np.concatenate(inputs.x)
                options["references"] = f"the {len(inputs.x)} explained input(s)"
        try:
            method = registry.get(name, **build)
        except (ValueError, TypeError) as problem:
            raise user_value_error(f"-o {name}", problem) from None
        planned.append((name, options, method))
    return planned


def method_notes(runs):
    """The report's lines about the runs' parameters (``Method.cli_notes``)."""
    from kerascope.methods import registry

    return [note for run in runs for note in registry.lookup(run.name).cli_notes(run.parameters)]


@click.command(name="methods", short_help="List the methods, their families and papers.")
def methods_command():
    """List the methods: name, family, what it computes and its paper."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    entries = catalog()
    widest = max(len(name) for e in entries for name in (e["name"], *e["aliases"]))
    table = Table(title="kerascope methods (aliases dimmed; -m NAME or -m all)",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("method", no_wrap=True, min_width=widest)
    table.add_column("family", no_wrap=True)
    table.add_column("map", no_wrap=True)
    table.add_column("what it computes · paper")
    for entry in entries:
        name = "\n".join([entry["name"], *(f"[dim]{a}[/dim]" for a in entry["aliases"])])
        table.add_row(name, entry["family"], "signed" if entry["signed"] else "unsigned",
                      f"{entry['summary']}\n[dim]{entry['paper']}[/dim]")
    Console(width=None if sys.stdout.isatty() else 120, highlight=False).print(table)
