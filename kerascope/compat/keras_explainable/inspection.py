"""keras-explainable's ``inspection`` on Keras 3: find and expose layers of a model.

``expose(model, arguments=None, outputs=None)`` builds a functional model whose outputs
are the logits and intermediate signals (by default the input of the last global pooling
layer), as keras-explainable's CAM methods expected. kerascope's methods do not need an
exposed model (they capture layers during a pass of the model itself), but take one:
the first output is explained, the second is the signal CAMs are computed on.
"""

import keras

from kerascope.engine import keras_internals, surgery

KERNEL_AXIS = -1
SPATIAL_AXIS = (-3, -2)

NORMALIZATION_LAYERS = tuple(
    getattr(keras.layers, name)
    for name in ("BatchNormalization", "LayerNormalization", "GroupNormalization")
    if hasattr(keras.layers, name)
)
POOLING_LAYERS = tuple(
    getattr(keras.layers, name)
    for name in ("Flatten", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
                 "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
                 "GlobalMaxPooling3D")
    if hasattr(keras.layers, name)
)


def tolist(item):
    """``item`` as a list (lists as they are, tuples and sets converted)."""
    if isinstance(item, list):
        return item
    if isinstance(item, (tuple, set)):
        return list(item)
    return [item]


def get_nested_layer(model, name):
    """The layer ``name`` of ``model``, or, for a list of names, of the nested models
    named one after the other (``("resnet50", "avg_pool")``)."""
    for part in tolist(name):
        try:
            model = model.get_layer(part)
        except ValueError:
            raise ValueError(
                f"name: no layer named {part!r} in {model.name!r}; its layers: "
                f"{', '.join(layer.name for layer in model.layers)}."
            ) from None
    return model


def find_layer_with(model, name=None, properties=None, klass=None, search_reversed=True):
    """The first layer (last one with ``search_reversed``) of ``model``, nested layers
    included, that has every attribute in ``properties`` and is one of ``klass``."""
    if name is None and properties is None and klass is None:
        raise ValueError(
            "name: at least one of name, properties and klass must be given to find a layer."
        )
    if name is not None:
        return get_nested_layer(model, name)
    layers = list(surgery.iter_layers(model))
    for layer in reversed(layers) if search_reversed else layers:
        if klass and not isinstance(layer, klass):
            continue
        if properties and not all(getattr(layer, p, None) is not None for p in properties):
            continue
        return layer
    raise ValueError(
        f"name: no layer of model {model.name!r} matches klass={klass} and "
        f"properties={properties}."
    )


def get_logits_layer(model, name=None):
    """The logits layer: ``name``, or the last layer with a kernel."""
    return find_layer_with(model, name, properties=["kernel"])


def get_global_pooling_layer(model, name=None):
    """The last global pooling (or flatten) layer, or the layer ``name``."""
    return find_layer_with(model, name, klass=POOLING_LAYERS)


def endpoints(model, endpoints):
    """The symbolic tensors described by ``endpoints``: layer indices, names, layers, or
    dicts ``{"name" | "layer": ..., "link": "output" | "input", "node": int | "last"}``."""
    tensors = []
    for endpoint in endpoints:
        if isinstance(endpoint, int):
            endpoint = {"layer": model.layers[endpoint]}
        elif isinstance(endpoint, keras.layers.Layer):
            endpoint = {"layer": endpoint}
        elif isinstance(endpoint, (str, tuple)):
            endpoint = {"name": endpoint}
        if not isinstance(endpoint, dict):
            raise ValueError(
                f"endpoints: expected a layer index, name, layer or dict, got "
                f"{type(endpoint).__name__}."
            )
        layer = endpoint["layer"] if "layer" in endpoint else get_nested_layer(
            model, endpoint["name"])
        link = endpoint.get("link", "output")
        node = endpoint.get("node", "last")
        # A layer's public input/output are those of its only graph call.
        nodes = keras_internals.inbound_nodes(layer)
        if node == "last" and len(nodes) <= 1:
            try:
                tensors.append(layer.input if link == "input" else layer.output)
            except (AttributeError, ValueError):
                raise ValueError(
                    f"endpoints: layer {layer.name!r} was never called in a graph."
                ) from None
            continue
        if not nodes:
            raise ValueError(f"endpoints: layer {layer.name!r} was never called in a graph.")
        node = nodes[-1 if node == "last" else node]
        found = node.input_tensors if link == "input" else node.output_tensors
        tensors.append(found[0] if len(found) == 1 else list(found))
    return tensors


def expose(model, arguments=None, outputs=None):
    """A functional model with outputs ``[logits, *intermediate signals]``.

    ``outputs``: the logits layer (default ``get_logits_layer``); ``arguments``: the
    intermediate signal(s) (default: the input of the last global pooling layer).
    """
    if outputs is None:
        outputs = get_logits_layer(model)
    if isinstance(arguments, (str, tuple)):
        arguments = {"name": arguments}
    if arguments is None:
        arguments = {"layer": get_global_pooling_layer(model), "link": "input"}
    tensors = endpoints(model, tolist(outputs) + tolist(arguments))
    return keras.Model(inputs=model.inputs, outputs=tensors)


def gather_units(tensor, indices, axis=-1, batch_dims=-1):
    """``tensor[n, indices[n, k]]``: the units ``indices`` (N, K) of each row (numpy)."""
    import numpy as np

    from kerascope.compat.tf_explain.utils.image import as_numpy

    tensor = as_numpy(tensor)
    if indices is None:
        return tensor
    indices = np.asarray(as_numpy(indices), dtype=np.int64)
    if indices.ndim == 1:
        indices = indices[:, None]
    return np.take_along_axis(tensor, indices, axis=-1)


def layers_with_biases(model, exclude=(), return_biases=True):
    """Layers of ``model`` (nested ones included) that add a bias, and their biases
    (batch normalization's implicit one included)."""
    from kerascope.methods.fullgrad import layer_bias

    layers = [layer for layer in surgery.iter_layers(model)
              if not any(layer is e for e in exclude) and layer_bias(layer) is not None]
    if return_biases:
        return layers, biases(layers)
    return layers


def biases(layers):
    """The bias of each layer (``beta - gamma * mean / sqrt(var + eps)`` for batch
    normalization) as numpy arrays."""
    from kerascope.methods.fullgrad import layer_bias

    return [layer_bias(layer) for layer in layers]


__all__ = [
    "KERNEL_AXIS", "SPATIAL_AXIS", "NORMALIZATION_LAYERS", "POOLING_LAYERS", "tolist",
    "get_nested_layer", "get_logits_layer", "get_global_pooling_layer", "find_layer_with",
    "endpoints", "expose", "gather_units", "layers_with_biases", "biases",
]
