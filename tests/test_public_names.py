"""Every public name users reached before the house redesign (commit d9fc87c) still
resolves at the same path: ``kerascope``, the callbacks, tf-explain's ``core`` and
``utils``, the report, the rendering, metrics and input modules, the keras-explainable
face. ``data/public_names.json`` was written from that commit: for each module, its
``__all__``, or the public names defined in it."""

import importlib
import json
import pathlib

import pytest

NAMES = json.loads((pathlib.Path(__file__).parent / "data" / "public_names.json").read_text())


def resolve(path):
    """The object at a dotted ``path``: imported as a module, else an attribute of its
    parent (``kerascope.io`` is a name of ``kerascope``, not a file)."""
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError:
        parent, _, name = path.rpartition(".")
        return getattr(resolve(parent), name)


@pytest.mark.parametrize("module", sorted(NAMES))
def test_public_names_resolve(module):
    target = resolve(module)
    missing = [name for name in NAMES[module] if not hasattr(target, name)]
    assert missing == [], f"{module} lost {missing}"


def test_tf_explain_paths_are_the_same_modules():
    """``kerascope.core.grad_cam`` is the module of ``kerascope.compat.tf_explain``, not
    a copy: patching one patches the other."""
    from kerascope.compat.tf_explain.core import grad_cam
    from kerascope.compat.tf_explain.utils import display

    assert importlib.import_module("kerascope.core.grad_cam") is grad_cam
    assert importlib.import_module("kerascope.utils.display") is display


def test_the_check_fails_on_a_lost_name():
    with pytest.raises(AttributeError):
        resolve("kerascope.core.grad_cam.NoSuchExplainer")
    target = resolve("kerascope.callbacks")
    assert not hasattr(target, "NoSuchCallback")
