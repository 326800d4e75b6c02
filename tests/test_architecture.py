"""The package's layering rules, read from its source (imports and attribute reads).

* only ``kerascope/backend/`` imports TensorFlow, JAX or PyTorch;
* ``kerascope/methods/`` imports nothing from ``utils``, ``core``, ``callbacks``, the
  CLI, the report or the rendering module;
* callbacks take one route: through ``kerascope.core``, never ``kerascope.methods``;
* no module imports another module's private (``_name``) helpers;
* Keras private attributes are read only in ``kerascope/keras_internals.py``.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "kerascope"
FRAMEWORKS = ("tensorflow", "jax", "jaxlib", "torch")
KERAS_PRIVATE = ("_flatten_layers", "_keras_history", "_call_has_training_arg", "_layers",
                 "_inbound_nodes")


def _modules(root):
    for path in sorted(root.rglob("*.py")):
        yield path.relative_to(root.parent).as_posix(), ast.parse(path.read_text(), str(path))


def _imports(tree):
    """``(module, names)`` for every import statement."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, tuple(alias.name for alias in node.names)


def _violations(rule, root=PACKAGE):
    found = []
    for path, tree in _modules(root):
        for module, names in _imports(tree):
            message = rule(path, module, names, root)
            if message:
                found.append(f"{path}: {message}")
    return found


def framework_outside_backend(path, module, names, root):
    if not path.startswith("kerascope/backend/") and module.split(".")[0] in FRAMEWORKS:
        return f"imports {module}"
    return None


ABOVE_METHODS = ("kerascope.utils", "kerascope.core", "kerascope.callbacks", "kerascope.cli",
                 "kerascope.report", "kerascope.rendering", "kerascope.inputs.files")


def methods_import_above(path, module, names, root):
    if path.startswith("kerascope/methods/") and module.startswith(ABOVE_METHODS):
        return f"imports {module}"
    return None


def callbacks_bypass_core(path, module, names, root):
    if path.startswith("kerascope/callbacks/") and module.startswith("kerascope.methods"):
        return f"imports {module} (callbacks go through kerascope.core)"
    return None


def private_helper_import(path, module, names, root):
    if not module.startswith("kerascope"):
        return None
    folder = root.parent.joinpath(*module.split("."))
    private = [
        name for name in names
        if name.startswith("_") and not name.startswith("__")
        and not (folder / f"{name}.py").exists()  # a private module is not a helper
    ]
    return f"imports private {private} from {module}" if private else None


def keras_private_reads(root=PACKAGE):
    found = []
    for path, tree in _modules(root):
        if path == "kerascope/keras_internals.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in KERAS_PRIVATE:
                found.append(f"{path}:{node.lineno}: .{node.attr}")
    return found


@pytest.mark.parametrize("rule", [framework_outside_backend, methods_import_above,
                                  callbacks_bypass_core, private_helper_import])
def test_import_rules_hold(rule):
    assert _violations(rule) == []


def test_keras_private_attributes_are_read_in_one_module():
    assert keras_private_reads() == []


def test_the_rules_detect_violations(tmp_path):
    root = tmp_path / "kerascope"
    for folder in ("methods", "callbacks"):
        (root / folder).mkdir(parents=True)
    (root / "methods" / "bad.py").write_text(
        "import torch\nfrom kerascope.utils import image\nfrom kerascope.x import _helper\n"
        "layers = model._flatten_layers()\n")
    (root / "callbacks" / "bad.py").write_text("from kerascope.methods import cam\n")
    for rule in (framework_outside_backend, methods_import_above, callbacks_bypass_core,
                 private_helper_import):
        assert len(_violations(rule, root)) == 1, rule.__name__
    assert len(keras_private_reads(root)) == 1
