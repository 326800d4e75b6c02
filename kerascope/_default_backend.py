"""Choose an installed Keras backend when the configured one is missing.

Keras falls back to TensorFlow when neither ``KERAS_BACKEND`` nor
``~/.keras/keras.json`` names a backend; on a JAX- or PyTorch-only install that
fails at ``import keras``. Run before Keras is imported: if ``KERAS_BACKEND`` is
unset and the configured backend is not installed, set it to an installed one.
"""

import importlib.util
import json
import os
import pathlib

_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def configured_backend():
    home = pathlib.Path(os.environ.get("KERAS_HOME", pathlib.Path.home() / ".keras"))
    try:
        return json.loads((home / "keras.json").read_text()).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def choose():
    if os.environ.get("KERAS_BACKEND"):
        return
    wanted = configured_backend()
    if wanted not in _MODULES or importlib.util.find_spec(_MODULES[wanted]):
        return
    for name in ("jax", "torch", "tensorflow"):
        if importlib.util.find_spec(_MODULES[name]):
            os.environ["KERAS_BACKEND"] = name
            return
