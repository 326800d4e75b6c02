"""Write ``guided_reference.npz``: framework-free reference maps for a tiny CNN.

The model, fixed by deterministic numpy weights, is
``Input(6, 10, 2) -> Conv2D(3, 3x3, same, relu) -> Flatten -> Dense(6, relu) ->
Dense(4, softmax)``. Everything here is plain numpy (float64), so every Keras
backend is compared with the same independent numbers:

* ``vanilla``, ``guided``, ``deconv``: d logit_c / d x (softmax stripped) with the
  plain, guided (``g [z > 0] [g > 0]``) and Deconvnet (``g [g > 0]``) ReLU gradients;
* ``occlusion_p3``: tf-explain's occlusion (patch 3, stride 3, map = 1 - softmax_c
  of the occluded image), per pixel, with fill 0 (the inputs are in [0, 1]);
* ``occlusion_p3_s2``: patch 3, stride 2 (windows averaged per pixel), fill 0.5.

Run ``python tests/data/make_guided_reference.py`` to regenerate.
"""

import pathlib

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
H, W, C, F, HIDDEN, CLASSES = 6, 10, 2, 3, 6, 4


def weights():
    rng = np.random.default_rng(20240601)
    return {
        "kernel": rng.normal(0, 0.5, (3, 3, C, F)),
        "conv_bias": rng.normal(0, 0.1, F),
        "dense_kernel": rng.normal(0, 0.3, (H * W * F, HIDDEN)),
        "dense_bias": rng.normal(0, 0.1, HIDDEN),
        "head_kernel": rng.normal(0, 0.5, (HIDDEN, CLASSES)),
        "head_bias": rng.normal(0, 0.1, CLASSES),
    }


def conv_same(x, kernel, bias):
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    for i in range(3):
        for j in range(3):
            out += np.einsum("nhwc,cf->nhwf", padded[:, i:i + H, j:j + W], kernel[i, j])
    return out + bias


def conv_same_backward(grad, kernel):
    padded = np.zeros((grad.shape[0], H + 2, W + 2, C))
    for i in range(3):
        for j in range(3):
            padded[:, i:i + H, j:j + W] += np.einsum("nhwf,cf->nhwc", grad, kernel[i, j])
    return padded[:, 1:-1, 1:-1]


def forward(w, x):
    z1 = conv_same(x, w["kernel"], w["conv_bias"])
    a1 = np.maximum(z1, 0)
    z2 = a1.reshape(len(x), -1) @ w["dense_kernel"] + w["dense_bias"]
    a2 = np.maximum(z2, 0)
    logits = a2 @ w["head_kernel"] + w["head_bias"]
    return z1, z2, logits


def softmax(logits):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def relu_backward(grad, z, rule):
    if rule == "vanilla":
        return grad * (z > 0)
    if rule == "guided":
        return grad * (z > 0) * (grad > 0)
    return grad * (grad > 0)  # deconvnet


def input_gradient(w, x, targets, rule):
    z1, z2, _ = forward(w, x)
    g = w["head_kernel"][:, targets].T  # d logit_c / d a2
    g = relu_backward(g, z2, rule)
    g = (g @ w["dense_kernel"].T).reshape(z1.shape)
    g = relu_backward(g, z1, rule)
    return conv_same_backward(g, w["kernel"])


def windows(size, patch, stride):
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] + patch < size:
        starts.append(starts[-1] + stride)
    return starts


def occlusion(w, x, targets, patch, stride, fill):
    maps = np.zeros(x.shape[:3])
    for n in range(len(x)):
        total, count = np.zeros((H, W)), np.zeros((H, W))
        for r in windows(H, patch, stride):
            for c in windows(W, patch, stride):
                occluded = x[n:n + 1].copy()
                occluded[:, r:r + patch, c:c + patch, :] = fill
                p = softmax(forward(w, occluded)[2])[0, targets[n]]
                total[r:r + patch, c:c + patch] += 1.0 - p
                count[r:r + patch, c:c + patch] += 1.0
        maps[n] = total / count
    return maps


def main():
    w = weights()
    rng = np.random.default_rng(7)
    x = rng.uniform(0.0, 1.0, (3, H, W, C))
    targets = np.array([1, 3, 2])
    result = {k: v.astype(np.float32) for k, v in w.items()}
    result.update(
        x=x.astype(np.float32),
        targets=targets,
        vanilla=input_gradient(w, x, targets, "vanilla"),
        guided=input_gradient(w, x, targets, "guided"),
        deconv=input_gradient(w, x, targets, "deconv"),
        occlusion_p3=occlusion(w, x, targets, 3, 3, 0.0),
        occlusion_p3_s2=occlusion(w, x, targets, 3, 2, 0.5),
    )
    np.savez_compressed(HERE / "guided_reference.npz", **result)


if __name__ == "__main__":
    main()
