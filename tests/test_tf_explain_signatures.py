"""Every public name of tf-explain 0.3.1's core, callbacks and utils modules exists at the
same path under kerascope, with the same parameters and defaults.

The signatures below are written out from tf-explain 0.3.1's source (the wheel on PyPI),
not imported from it: tf-explain needs Keras 2 and cannot be installed next to Keras 3.
Defaults that were OpenCV constants are written as their values
(``cv2.COLORMAP_VIRIDIS == 16``).

kerascope may add parameters after tf-explain's, each with a default (``batch_size``,
``stride``...) or keyword-only. The deliberate exceptions are listed in
``SIGNATURE_EXCEPTIONS`` and checked by behaviour instead (docs/tf_explain_differences.md).
"""

import importlib
import inspect
from pathlib import Path

import numpy as np
import pytest

STATIC = "static"

# module -> {name: spec}. A class spec maps member names to ``(kind, "signature text")``;
# kind is "method" or STATIC. ``("value", x)`` is a module constant.
TF_EXPLAIN_0_3_1 = {
    "core.activations": {
        "ExtractActivations": {
            "__init__": ("method", "self, batch_size=None"),
            "explain": ("method", "self, validation_data, model, layers_name"),
            "generate_activations_graph": (STATIC, "model, layers_name"),
            "save": ("method", "self, grid, output_dir, output_name"),
        },
    },
    "core.grad_cam": {
        "GradCAM": {
            "explain": ("method", "self, validation_data, model, class_index, layer_name=None, "
                                  "use_guided_grads=True, colormap=16, image_weight=0.7"),
            "infer_grad_cam_target_layer": (STATIC, "model"),
            "get_gradients_and_filters": (STATIC, "model, images, layer_name, class_index, "
                                                  "use_guided_grads"),
            "generate_ponderated_output": (STATIC, "outputs, grads"),
            "ponderate_output": (STATIC, "output, grad"),
            "save": ("method", "self, grid, output_dir, output_name"),
        },
    },
    "core.gradients_inputs": {
        "GradientsInputs": {
            "explain": ("method", "self, validation_data, model, class_index"),
            "get_score_model": ("method", "self, model"),
            "explain_score_model": ("method", "self, validation_data, score_model, class_index"),
            "compute_gradients": (STATIC, "images, model, class_index"),
            "save": ("method", "self, grid, output_dir, output_name"),
        },
    },
    "core.integrated_gradients": {
        "IntegratedGradients": {
            "explain": ("method", "self, validation_data, model, class_index, n_steps=10"),
            "get_integrated_gradients": (STATIC, "interpolated_images, model, class_index, "
                                                 "n_steps"),
            "generate_interpolations": (STATIC, "images, n_steps"),
            "generate_linear_path": (STATIC, "baseline, target, n_steps"),
            "save": ("method", "self, grid, output_dir, output_name"),
        },
    },
    "core.occlusion_sensitivity": {
        "OcclusionSensitivity": {
            "__init__": ("method", "self, batch_size=None"),
            "explain": ("method", "self, validation_data, model, class_index, patch_size, "
                                  "colormap=16"),
            "get_sensitivity_map": ("method", "self, model, image, class_index, patch_size"),
            "save": ("method", "self, grid, output_dir, output_name"),
        },
    },
    "core.smoothgrad": {
        "SmoothGrad": {
            "explain": ("method", "self, validation_data, model, class_index, num_samples=5, "
                                  "noise=1.0"),
            "generate_noisy_images": (STATIC, "images, num_samples, noise"),
            "get_averaged_gradients": (STATIC, "noisy_images, model, class_index, num_samples"),
            "save": ("method", "self, grid, output_dir, output_name"),
        },
    },
    "core.vanilla_gradients": {
        "UNSUPPORTED_ARCHITECTURE_WARNING": ("value", (
            "Unsupported model architecture for VanillaGradients. The last two layers of "
            "the model should be: a layer which computes class scores with no activation, "
            "followed by an activation layer."
        )),
        "ACTIVATION_LAYER_CLASSES": ("layer classes", (
            # (ThresholdedReLU: gone in Keras 3)
            "Activation", "LeakyReLU", "PReLU", "ReLU", "Softmax",
        )),
        "VanillaGradients": {
            "explain": ("method", "self, validation_data, model, class_index"),
            "get_score_model": ("method", "self, model"),
            "explain_score_model": ("method", "self, validation_data, score_model, class_index"),
            "compute_gradients": (STATIC, "images, model, class_index"),
            "save": ("method", "self, grid, output_dir, output_name"),
        },
    },
    "callbacks.activations_visualization": {
        "ActivationsVisualizationCallback": {
            "__init__": ("method", "self, validation_data, layers_name, "
                                   "output_dir=Path('./logs/activations_visualizations')"),
            "on_epoch_end": ("method", "self, epoch, logs=None"),
        },
    },
    "callbacks.grad_cam": {
        "GradCAMCallback": {
            "__init__": ("method", "self, validation_data, class_index, layer_name=None, "
                                   "output_dir=Path('./logs/grad_cam'), use_guided_grads=True"),
            "on_epoch_end": ("method", "self, epoch, logs=None"),
        },
    },
    "callbacks.gradients_inputs": {
        "GradientsInputsCallback": {
            "__init__": ("method", "self, validation_data, class_index, output_dir=None"),
            "set_model": ("method", "self, model"),
            "on_epoch_end": ("method", "self, epoch, logs=None"),
            "explainer": ("instance of", "kerascope.core.gradients_inputs.GradientsInputs"),
            "default_output_subdir": ("value", "gradients_inputs"),
        },
    },
    "callbacks.integrated_gradients": {
        "IntegratedGradientsCallback": {
            "__init__": ("method", "self, validation_data, class_index, n_steps=5, "
                                   "output_dir=Path('./logs/integrated_gradients')"),
            "on_epoch_end": ("method", "self, epoch, logs=None"),
        },
    },
    "callbacks.occlusion_sensitivity": {
        "OcclusionSensitivityCallback": {
            "__init__": ("method", "self, validation_data, class_index, patch_size, "
                                   "output_dir=Path('./logs/occlusion_sensitivity')"),
            "on_epoch_end": ("method", "self, epoch, logs=None"),
        },
    },
    "callbacks.smoothgrad": {
        "SmoothGradCallback": {
            "__init__": ("method", "self, validation_data, class_index, num_samples=5, "
                                   "noise=1.0, output_dir=Path('./logs/smoothgrad')"),
            "on_epoch_end": ("method", "self, epoch, logs=None"),
        },
    },
    "callbacks.vanilla_gradients": {
        "VanillaGradientsCallback": {
            "__init__": ("method", "self, validation_data, class_index, output_dir=None"),
            "set_model": ("method", "self, model"),
            "on_epoch_end": ("method", "self, epoch, logs=None"),
            "explainer": ("instance of", "kerascope.core.vanilla_gradients.VanillaGradients"),
            "default_output_subdir": ("value", "vanilla_gradients"),
        },
    },
    "utils.display": {
        "grid_display": ("function", "array, num_rows=None, num_columns=None"),
        "filter_display": ("function", "array, num_rows=None, num_columns=None"),
        "image_to_uint_255": ("function", "image"),
        "heatmap_display": ("function", "heatmap, original_image, colormap=16, image_weight=0.7"),
    },
    "utils.image": {
        "apply_grey_patch": ("function", "image, top_left_x, top_left_y, patch_size"),
        "transform_to_normalized_grayscale": ("function", "tensor"),
    },
    "utils.saver": {
        "save_grayscale": ("function", "image, output_dir, output_name"),
        "save_rgb": ("function", "image, output_dir, output_name"),
    },
}

PACKAGE_ALL = {
    "core": ["ExtractActivations", "GradCAM", "GradientsInputs", "IntegratedGradients",
             "OcclusionSensitivity", "SmoothGrad", "VanillaGradients"],
    "callbacks": ["ActivationsVisualizationCallback", "GradCAMCallback",
                  "IntegratedGradientsCallback", "OcclusionSensitivityCallback",
                  "SmoothGradCallback", "VanillaGradientsCallback", "GradientsInputsCallback"],
}

# Parameters whose kerascope spelling differs on purpose; each is checked by behaviour
# in the test named, and listed in docs/tf_explain_differences.md.
SIGNATURE_EXCEPTIONS = {
    # The tf-explain slides call GradCAMCallback(validation_data, "layer", class_index=0):
    # the second slot takes a class index or a layer name; class_index is keyword-only.
    ("callbacks.grad_cam", "GradCAMCallback", "__init__", "class_index"):
        "test_grad_cam_callback_takes_tf_explain_arguments",
}


def _signature(text):
    """The signature written as ``text`` (evaluated as a lambda's parameter list)."""
    return inspect.signature(eval(f"lambda {text}: None", {"Path": Path}))  # noqa: S307


def _cases():
    for module, names in TF_EXPLAIN_0_3_1.items():
        for name, spec in names.items():
            if isinstance(spec, dict):
                for member, (kind, text) in spec.items():
                    yield pytest.param(module, name, member, kind, text,
                                       id=f"{module}.{name}.{member}")
            else:
                yield pytest.param(module, name, None, *spec, id=f"{module}.{name}")


def _effective_output_dir(module, cls, signature_default):
    """A callback whose ``output_dir`` default is None writes where tf-explain's did."""
    images = np.zeros((1, 8, 8, 1), np.float32)
    required = {"validation_data": (images, None), "class_index": 0, "layers_name": ["a"],
                "patch_size": 2}
    names = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    kwargs = {p: required[p] for p in names if p in required}
    callback = cls(**kwargs)
    return callback.output_dir.parent == signature_default


def _check_parameters(module, owner, member, expected, actual, cls=None):
    got = list(actual.parameters.values())
    for index, want in enumerate(expected.parameters.values()):
        key = (module, owner, member, want.name)
        assert index < len(got), f"{key}: kerascope has only {len(got)} parameters"
        have = got[index]
        if key in SIGNATURE_EXCEPTIONS:
            continue
        assert have.name == want.name, f"{key}: parameter {index} is {have.name!r}"
        assert have.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD, f"{key}: {have.kind}"
        if want.default is inspect.Parameter.empty:
            assert have.default is inspect.Parameter.empty, f"{key}: has a default"
        elif have.default != want.default:
            # None meaning "tf-explain's folder": checked on a constructed callback.
            assert want.name == "output_dir" and have.default is None, (
                f"{key}: default {have.default!r}, tf-explain {want.default!r}")
            assert _effective_output_dir(module, cls, want.default), key
    for extra in got[len(expected.parameters):]:
        assert extra.kind in (extra.VAR_POSITIONAL, extra.VAR_KEYWORD) or (
            extra.default is not inspect.Parameter.empty), (
            f"{module}.{owner}.{member}: added parameter {extra.name!r} has no default")


@pytest.mark.parametrize("module, name, member, kind, text", list(_cases()))
def test_tf_explain_public_name(module, name, member, kind, text):
    mod = importlib.import_module(f"kerascope.{module}")
    assert hasattr(mod, name), f"kerascope.{module} has no {name}"
    obj = getattr(mod, name)
    if member is None:
        if kind == "function":
            _check_parameters(module, name, None, _signature(text), inspect.signature(obj))
        elif kind == "value":
            assert obj == text
        else:  # layer classes
            import keras

            for layer in text:
                assert getattr(keras.layers, layer) in obj, layer
        return
    assert inspect.isclass(obj)
    assert hasattr(obj, member), f"kerascope.{module}.{name} has no {member}"
    if kind == "value":
        assert getattr(obj, member) == text
        return
    if kind == "instance of":
        owner, _, cls_name = text.rpartition(".")
        assert isinstance(getattr(obj, member), getattr(importlib.import_module(owner), cls_name))
        return
    static = isinstance(inspect.getattr_static(obj, member), staticmethod)
    assert static == (kind == STATIC), f"{name}.{member}: staticmethod is {static}"
    _check_parameters(module, name, member, _signature(text),
                      inspect.signature(getattr(obj, member)), cls=obj)


@pytest.mark.parametrize("package", sorted(PACKAGE_ALL))
def test_package_exports(package):
    mod = importlib.import_module(f"kerascope.{package}")
    for name in PACKAGE_ALL[package]:
        assert name in mod.__all__ and hasattr(mod, name), name


def test_grad_cam_callback_takes_tf_explain_arguments():
    from kerascope.callbacks.grad_cam import GradCAMCallback

    data = (np.zeros((1, 8, 8, 1), np.float32), None)
    positional = GradCAMCallback(data, 3, "conv", "out", False)
    assert (positional.class_index, positional.layer_name) == (3, "conv")
    assert positional.output_dir.parent == Path("out") and positional.use_guided_grads is False
    by_name = GradCAMCallback(validation_data=data, class_index=3, layer_name="conv",
                              output_dir="out", use_guided_grads=False)
    assert (by_name.class_index, by_name.layer_name) == (3, "conv")
    assert GradCAMCallback(data, 1).output_dir.parent == Path("./logs/grad_cam")
