"""The package's house rules, read from its source (imports, attribute reads, lengths).

* Floors, bottom up (docs/architecture.md): a module imports only from its own floor
  or below, never upward, also not lazily inside a function;
* no import circle between modules (``from package import name`` counts as an import
  of ``package/__init__.py`` unless ``name`` is a submodule);
* only ``kerascope/backend/`` imports TensorFlow, JAX or PyTorch;
* Keras private attributes are read only in ``kerascope/engine/keras_internals.py``;
* callbacks reach methods through tf-explain's face (``kerascope.compat.tf_explain``);
* no module imports another module's private (``_name``) helpers;
* no module of the package is longer than 600 lines.

Each rule is run on a planted violation too, so that a rule that cannot fail fails.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "kerascope"
FRAMEWORKS = ("tensorflow", "jax", "jaxlib", "torch")
KERAS_PRIVATE = ("_flatten_layers", "_keras_history", "_call_has_training_arg", "_layers",
                 "_inbound_nodes")
MAX_LINES = 600
#: Bottom up: the first entry of ``kerascope.<entry>`` decides a module's floor.
FLOORS = (
    ("_default_backend", "_version", "backend", "demo"),
    ("inputs",),
    ("engine",),
    ("methods", "feature_visualization", "filters"),
    ("api", "rendering"),
    ("metrics", "compat", "report"),
    ("callbacks", "cli", "ray", "core", "utils", "__main__"),
)
TOP = len(FLOORS)  # kerascope/__init__.py: the lazy face over everything


def _module_name(path, root):
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules(root):
    return {_module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def _trees(root):
    for name, path in _modules(root).items():
        yield name, path, ast.parse(path.read_text(), str(path))


def _imports(tree, name, path):
    """``(module, names, line)`` for every import statement, relative ones resolved."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, (), node.lineno
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package[:len(package) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            yield module, tuple(alias.name for alias in node.names), node.lineno


def _edges(root):
    """``{module: {imported kerascope module: line}}``."""
    modules = _modules(root)

    def owner(dotted):
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted

    edges = {}
    for name, path, tree in _trees(root):
        for module, names, line in _imports(tree, name, path):
            if not module.startswith(root.name):
                continue
            targets = [f"{module}.{n}" if f"{module}.{n}" in modules else module
                       for n in names] or [module]
            for target in map(owner, targets):
                if target and target != name:
                    edges.setdefault(name, {}).setdefault(target, line)
    return edges


def floor_of(module):
    parts = module.split(".")
    if len(parts) == 1:
        return TOP
    for level, names in enumerate(FLOORS):
        if parts[1] in names:
            return level
    return None


def upward_imports(root=PACKAGE):
    found = []
    for module in _modules(root):
        if floor_of(module) is None:
            found.append(f"{module}: on no floor (add it to FLOORS and docs/architecture.md)")
    for module, targets in _edges(root).items():
        for target, line in targets.items():
            low, high = floor_of(module), floor_of(target)
            if low is not None and high is not None and high > low:
                found.append(f"{module}:{line} imports {target} (floor {high} > {low})")
    return found


def import_circles(root=PACKAGE):
    """The strongly connected components of the import graph with more than one module."""
    edges = _edges(root)
    index, low, stack, on_stack, circles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in _modules(root):
        if node not in index:
            visit(node)
    return circles


def long_modules(root=PACKAGE):
    return [f"{path.relative_to(root.parent)}: {n} lines"
            for path in sorted(root.rglob("*.py"))
            if (n := len(path.read_text().splitlines())) > MAX_LINES]


def _statement_violations(rule, root):
    found = []
    for name, path, tree in _trees(root):
        for module, names, line in _imports(tree, name, path):
            message = rule(name, module, names, root)
            if message:
                found.append(f"{name}:{line}: {message}")
    return found


def framework_outside_backend(name, module, names, root):
    if not name.startswith(f"{root.name}.backend") and module.split(".")[0] in FRAMEWORKS:
        return f"imports {module}"
    return None


def callbacks_bypass_face(name, module, names, root):
    if name.startswith(f"{root.name}.callbacks") and module.startswith(f"{root.name}.methods"):
        return f"imports {module} (callbacks go through kerascope.compat.tf_explain)"
    return None


def private_helper_import(name, module, names, root):
    if not module.startswith(root.name):
        return None
    folder = root.parent.joinpath(*module.split("."))
    private = [n for n in names if n.startswith("_") and not n.startswith("__")
               and not (folder / f"{n}.py").exists()]  # a private module is not a helper
    return f"imports private {private} from {module}" if private else None


def keras_private_reads(root=PACKAGE):
    found = []
    for name, path, tree in _trees(root):
        if name == f"{root.name}.engine.keras_internals":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in KERAS_PRIVATE:
                found.append(f"{name}:{node.lineno}: .{node.attr}")
    return found


STATEMENT_RULES = (framework_outside_backend, callbacks_bypass_face, private_helper_import)


@pytest.mark.parametrize("rule", STATEMENT_RULES)
def test_import_statement_rules_hold(rule):
    assert _statement_violations(rule, PACKAGE) == []


def test_nothing_imports_upward():
    assert upward_imports() == []


def test_no_import_circles():
    assert import_circles() == []


def test_no_module_over_the_limit():
    assert long_modules() == []


def test_keras_private_attributes_are_read_in_one_module():
    assert keras_private_reads() == []


def test_every_package_says_what_it_holds():
    missing = [str(path.relative_to(PACKAGE.parent)) for path in sorted(PACKAGE.rglob("__init__.py"))
               if not ast.get_docstring(ast.parse(path.read_text()))]
    assert missing == []


def test_the_rules_detect_violations(tmp_path):
    root = tmp_path / "kerascope"
    for folder in ("engine", "methods", "callbacks", "nowhere"):
        (root / folder).mkdir(parents=True)
        (root / folder / "__init__.py").write_text('"""A package."""\n')
    (root / "__init__.py").write_text('"""The package."""\n')
    # a framework import, a private helper, a Keras private read
    (root / "methods" / "bad.py").write_text(
        "import torch\nfrom kerascope.x import _helper\nlayers = model._flatten_layers()\n")
    # an upward import, written lazily inside a function
    (root / "engine" / "upward.py").write_text(
        "def f():\n    from kerascope.methods import bad\n")
    # a circle of two modules, one of them through `from package import name`
    (root / "callbacks" / "one.py").write_text("from kerascope.callbacks.two import x\n")
    (root / "callbacks" / "two.py").write_text(
        "from kerascope.callbacks import one\nfrom kerascope.methods import bad\n")
    (root / "nowhere" / "long.py").write_text("x = 1\n" * (MAX_LINES + 1))

    assert len(_statement_violations(framework_outside_backend, root)) == 1
    assert len(_statement_violations(private_helper_import, root)) == 1
    assert len(_statement_violations(callbacks_bypass_face, root)) == 1
    assert len(keras_private_reads(root)) == 1
    upward = upward_imports(root)
    assert any("engine.upward" in line and "kerascope.methods.bad" in line for line in upward)
    assert sum("on no floor" in line for line in upward) == 2  # the package and its module
    assert import_circles(root) == [["kerascope.callbacks.one", "kerascope.callbacks.two"]]
    assert long_modules(root) == [f"kerascope/nowhere/long.py: {MAX_LINES + 1} lines"]
