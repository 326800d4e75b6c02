"""How the optimized image is parametrized.

* ``PixelImage``: the pixels themselves, initialized as ``centre + (u - 0.5) * spread``
  with ``u ~ U[0, 1)`` (the seed post: ``(u - 0.5) * 0.25``; the seed article:
  ``(u - 0.5) * 20 + 128``), clipped to the valid range after every step.
* ``FourierImage``: Lucid's preconditioned image (Olah et al. 2017, Distill,
  "Feature Visualization", section "Preconditioning and Parameterization"). The
  parameters are an rfft spectrum ``S`` per channel, ``S ~ N(0, sd**2)``, scaled by
  ``1 / max(f, 1 / max(H, W))**decay_power`` (``f`` the frequency magnitude) and
  ``sqrt(H W)``; the image is ``irfft2(scaled S) / 4``, its colours decorrelated by the
  square root of ImageNet's colour covariance (normalized to unit column norm), then
  mapped into the valid range ``(low, high)`` by ``low + (high - low) * sigmoid(.)``.

The inverse real 2-D DFT is written as two real matrix products with constant
cosine/sine tables, ``x = (C_h Re S - S_h Im S) C_w - (S_h Re S + C_h Im S) S_w``
(over ``H W``), so it runs and differentiates the same on every backend.
Images are channels last; the driver transposes for channels-first models.
"""

import keras
import numpy as np

# Square root of ImageNet's RGB colour correlation (Lucid, param/color.py).
_COLOR_CORRELATION_SVD_SQRT = np.asarray(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32
)
_COLOR_CORRELATION = _COLOR_CORRELATION_SVD_SQRT / np.max(
    np.linalg.norm(_COLOR_CORRELATION_SVD_SQRT, axis=0)
)


class Parametrization:
    """``init(rng, batch, shape, range)`` numpy parameters; ``image(params)`` in keras.ops."""

    def key(self):
        return (type(self).__name__,) + tuple(sorted((k, repr(v)) for k, v in vars(self).items()
                                                     if not k.startswith("_")))

    def build(self, shape, value_range):
        """Bind to an image ``shape = (H, W, C)`` and ``value_range`` (or None)."""
        self.shape = tuple(int(s) for s in shape)
        self.value_range = None if value_range is None else tuple(map(float, value_range))
        return self

    def init(self, rng, batch):
        raise NotImplementedError

    def image(self, params):
        raise NotImplementedError

    def project(self, params):
        """Parameters after an update (e.g. clipped); default unchanged."""
        return params


class PixelImage(Parametrization):
    """Pixel-space image; ``centre`` defaults to the middle of the range.

    ``spread`` defaults to 1/8 of the range width (the seed post's 0.25 on [-1, 1]).
    ``clip``: clip to the valid range after each step.
    """

    def __init__(self, spread=None, centre=None, clip=True):
        self.spread = spread
        self.centre = centre
        self.clip = clip

    def _defaults(self):
        low, high = self.value_range if self.value_range is not None else (-1.0, 1.0)
        centre = 0.5 * (low + high) if self.centre is None else float(self.centre)
        spread = 0.125 * (high - low) if self.spread is None else float(self.spread)
        return centre, spread

    def init(self, rng, batch):
        centre, spread = self._defaults()
        u = rng.random((batch,) + self.shape)
        return [((u - 0.5) * spread + centre).astype(np.float32)]

    def image(self, params):
        return params[0]

    def project(self, params):
        if not self.clip or self.value_range is None:
            return params
        return [keras.ops.clip(params[0], self.value_range[0], self.value_range[1])]


class FourierImage(Parametrization):
    """Lucid's Fourier-space image with decorrelated colours and a sigmoid.

    Args:
        sd: standard deviation of the initial spectrum (Lucid: 0.01).
        decay_power: spectrum scaling ``1 / f**decay_power`` (Lucid: 1).
        decorrelate: apply the colour decorrelation (needs 3 channels); ``None``:
            only for 3-channel images.
    """

    def __init__(self, sd=0.01, decay_power=1.0, decorrelate=None):
        self.sd = float(sd)
        self.decay_power = float(decay_power)
        self.decorrelate = decorrelate

    def build(self, shape, value_range):
        super().build(shape, value_range)
        h, w, c = self.shape
        if self.decorrelate and c != 3:
            raise ValueError(
                f"decorrelate: colour decorrelation needs 3 channels, the image has {c}."
            )
        self._decorrelate = c == 3 if self.decorrelate is None else bool(self.decorrelate)
        wf = w // 2 + 1
        fy = np.fft.fftfreq(h)[:, None]
        fx = np.fft.rfftfreq(w)[None, :wf]
        freqs = np.sqrt(fx * fx + fy * fy)
        scale = 1.0 / np.maximum(freqs, 1.0 / max(h, w)) ** self.decay_power
        self._scale = (scale * np.sqrt(h * w)).astype(np.float32)
        k = np.arange(h)
        angle_h = 2 * np.pi * np.outer(k, k) / h
        self._ch = np.cos(angle_h).astype(np.float32)
        self._sh = np.sin(angle_h).astype(np.float32)
        weights = np.full(wf, 2.0)
        weights[0] = 1.0
        if w % 2 == 0:
            weights[-1] = 1.0
        angle_w = 2 * np.pi * np.outer(np.arange(wf), np.arange(w)) / w
        self._cw = (weights[:, None] * np.cos(angle_w) / (h * w)).astype(np.float32)
        self._sw = (weights[:, None] * np.sin(angle_w) / (h * w)).astype(np.float32)
        return self

    def init(self, rng, batch):
        h, w, c = self.shape
        shape = (batch, c, h, w // 2 + 1)
        return [
            (rng.standard_normal(shape) * self.sd).astype(np.float32),
            (rng.standard_normal(shape) * self.sd).astype(np.float32),
        ]

    def spatial(self, params):
        """The unbounded image ``(B, H, W, C)`` before colours and sigmoid."""
        ops = keras.ops
        scale, ch, sh, cw, sw = (
            ops.convert_to_tensor(a) for a in (self._scale, self._ch, self._sh, self._cw, self._sw)
        )
        real = params[0] * scale
        imag = params[1] * scale
        p = ops.matmul(ch, real) - ops.matmul(sh, imag)  # (H, H) @ (B, C, H, Wf)
        q = ops.matmul(sh, real) + ops.matmul(ch, imag)
        x = ops.matmul(p, cw) - ops.matmul(q, sw)  # (B, C, H, Wf) @ (Wf, W)
        return ops.transpose(x, (0, 2, 3, 1)) / 4.0

    def image(self, params):
        x = self.spatial(params)
        if self._decorrelate:
            x = keras.ops.einsum("bhwc,dc->bhwd", x,
                                 keras.ops.convert_to_tensor(_COLOR_CORRELATION))
        x = keras.ops.sigmoid(x)
        if self.value_range is None:
            return x
        low, high = self.value_range
        return low + (high - low) * x
