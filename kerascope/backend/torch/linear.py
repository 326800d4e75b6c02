"""PyTorch products of plain Dense and channels-last convolutions, without a bias:
``z = W x`` and ``W^T s`` (LRP's modified forwards and their transposes).

PyTorch runs eagerly, so the Python of each ``keras.ops`` call is paid on every
pass; these call ``torch`` directly. A channels-last tensor permuted to
channels-first is a ``channels_last``-format view that oneDNN convolves without a
copy, and ``W^T s`` is the transposed convolution (or ``s W^T``), so no forward is
re-run for autograd.
"""

import torch
import torch.nn.functional as F

from kerascope.backend.torch.native import permutations

_CONV = {1: (F.conv1d, F.conv_transpose1d), 2: (F.conv2d, F.conv_transpose2d),
         3: (F.conv3d, F.conv_transpose3d)}


def dense():
    def forward(t, kernel):
        return torch.matmul(t, kernel)

    forward.transpose = lambda s, kernel: torch.matmul(s, kernel.T)
    return forward


def conv(rank, strides, padding, dilation_rate, kernel_size):
    """A channels-last, one-group convolution ``(t, kernel) -> z`` with its
    ``transpose``; None where PyTorch's padding would differ from Keras'
    (``same`` with a stride, dilation or an even kernel size)."""
    if padding == "same" and not (set(strides) == {1} and set(dilation_rate) == {1}
                                   and all(k % 2 for k in kernel_size)):
        return None
    if padding not in ("same", "valid"):
        return None
    pads = tuple((k - 1) // 2 for k in kernel_size) if padding == "same" else 0
    conv_fn, conv_t_fn = _CONV[rank]
    first, last, to_torch = permutations(rank)

    def forward(t, kernel):
        out = conv_fn(t.permute(first), kernel.permute(to_torch), stride=strides,
                      padding=pads, dilation=dilation_rate)
        return out.permute(last)

    if set(strides) == {1}:
        def transpose(s, kernel):
            out = conv_t_fn(s.permute(first), kernel.permute(to_torch), padding=pads,
                            dilation=dilation_rate)
            return out.permute(last)

        forward.transpose = transpose
    return forward
