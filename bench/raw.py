"""Raw baselines: the bare framework's minimal batched passes, one backend each.

Each factory returns ``fn(rows, targets, batch) -> numpy array`` that feeds numpy
``rows`` to a compiled pass ``batch`` rows at a time (the last call may be shorter)
and returns the results on the host, concatenated; nothing else. Scores are the
logits of the target unit (the softmax-stripped model, ``build_model(softmax=False)``),
as kerascope's scores are.

* ``input_grads(logits_model)``: d score / d input (saliency, SmoothGrad, IG...);
* ``layer_grads(trunk, head)``: forward through the trunk, forward+backward of the
  head only, d score / d features (Grad-CAM family);
* ``forward(model)``: the model's outputs only (occlusion, RISE, Score-CAM's masked
  rows);
* ``layer_forward(trunk, head)``: forward through the trunk and the head, the
  features and the outputs brought back (Eigen-CAM, Score-CAM's inputs: methods that
  read a layer's activations but no gradient);
* ``lrp(logits_model)``: LRP of the bench CNN with kerascope's default composite
  (``epsilon_plus_flat``), written with the framework's own ops from the layers'
  weights: one forward, then one modified backward (see ``lrp``).

This file and the benchmarks are the only code outside ``kerascope/backend`` that
imports a framework: a raw baseline has to.
"""

import numpy as np

import keras


def _batched(step, rows, targets, batch):
    out = []
    for start in range(0, len(rows), batch):
        out.append(step(rows[start:start + batch], targets[start:start + batch]))
    return np.concatenate(out)


def input_grads(logits_model):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def grad(x, t):
            with tf.GradientTape() as tape:
                tape.watch(x)
                logits = logits_model(x, training=False)
                score = tf.reduce_sum(tf.gather(logits, t, axis=1, batch_dims=1))
            return tape.gradient(score, x)

        step = lambda x, t: grad(tf.convert_to_tensor(x), tf.convert_to_tensor(t)).numpy()  # noqa: E731
    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        def score(tv, ntv, x, t):
            logits, _ = logits_model.stateless_call(tv, ntv, x, training=False)
            return jnp.sum(jnp.take_along_axis(logits, t[:, None], axis=1))

        grad = jax.jit(jax.grad(score, argnums=2))

        def step(x, t):
            tv = [v.value for v in logits_model.trainable_variables]
            ntv = [v.value for v in logits_model.non_trainable_variables]
            return np.asarray(grad(tv, ntv, jnp.asarray(x), jnp.asarray(t)))
    else:
        import torch

        def step(x, t):
            xt = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_(True)
            logits = logits_model(xt, training=False)
            score = logits.gather(1, torch.from_numpy(t).long()[:, None]).sum()
            (g,) = torch.autograd.grad(score, xt)
            return g.numpy()

    return lambda rows, targets, batch: _batched(step, rows, targets, batch)


def layer_grads(trunk, head):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def grad(x, t):
            features = trunk(x, training=False)
            with tf.GradientTape() as tape:
                tape.watch(features)
                logits = head(features, training=False)
                score = tf.reduce_sum(tf.gather(logits, t, axis=1, batch_dims=1))
            return features, tape.gradient(score, features)

        def step(x, t):
            f, g = grad(tf.convert_to_tensor(x), tf.convert_to_tensor(t))
            return np.stack([f.numpy(), g.numpy()], axis=1)
    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        def score(htv, hntv, f, t):
            logits, _ = head.stateless_call(htv, hntv, f, training=False)
            return jnp.sum(jnp.take_along_axis(logits, t[:, None], axis=1))

        @jax.jit
        def grad(ttv, tntv, htv, hntv, x, t):
            f, _ = trunk.stateless_call(ttv, tntv, x, training=False)
            return f, jax.grad(score, argnums=2)(htv, hntv, f, t)

        def step(x, t):
            values = lambda m: [v.value for v in m.trainable_variables]  # noqa: E731
            others = lambda m: [v.value for v in m.non_trainable_variables]  # noqa: E731
            f, g = grad(values(trunk), others(trunk), values(head), others(head),
                        jnp.asarray(x), jnp.asarray(t))
            return np.stack([np.asarray(f), np.asarray(g)], axis=1)
    else:
        import torch

        def step(x, t):
            with torch.no_grad():
                f = trunk(torch.from_numpy(np.ascontiguousarray(x)), training=False)
            f = f.detach().requires_grad_(True)
            logits = head(f, training=False)
            score = logits.gather(1, torch.from_numpy(t).long()[:, None]).sum()
            (g,) = torch.autograd.grad(score, f)
            return np.stack([f.detach().numpy(), g.numpy()], axis=1)

    return lambda rows, targets, batch: _batched(step, rows, targets, batch)


def forward(model):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(lambda x: model(x, training=False))
        step = lambda x, t: fn(tf.convert_to_tensor(x)).numpy()  # noqa: E731
    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        @jax.jit
        def fn(tv, ntv, x):
            return model.stateless_call(tv, ntv, x, training=False)[0]

        def step(x, t):
            tv = [v.value for v in model.trainable_variables]
            ntv = [v.value for v in model.non_trainable_variables]
            return np.asarray(fn(tv, ntv, jnp.asarray(x)))
    else:
        import torch

        def step(x, t):
            with torch.no_grad():
                return model(torch.from_numpy(np.ascontiguousarray(x)), training=False).numpy()

    return lambda rows, targets, batch: _batched(step, rows, targets, batch)


def layer_forward(trunk, head):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def fn(x):
            features = trunk(x, training=False)
            return features, head(features, training=False)

        def step(x, t):
            f, out = fn(tf.convert_to_tensor(x))
            return _features_and_outputs(f.numpy(), out.numpy())
    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        @jax.jit
        def fn(ttv, tntv, htv, hntv, x):
            f, _ = trunk.stateless_call(ttv, tntv, x, training=False)
            return f, head.stateless_call(htv, hntv, f, training=False)[0]

        def step(x, t):
            values = lambda m: [v.value for v in m.trainable_variables]  # noqa: E731
            others = lambda m: [v.value for v in m.non_trainable_variables]  # noqa: E731
            f, out = fn(values(trunk), others(trunk), values(head), others(head),
                        jnp.asarray(x))
            return _features_and_outputs(np.asarray(f), np.asarray(out))
    else:
        import torch

        def step(x, t):
            with torch.no_grad():
                f = trunk(torch.from_numpy(np.ascontiguousarray(x)), training=False)
                out = head(f, training=False)
            return _features_and_outputs(f.numpy(), out.numpy())

    return lambda rows, targets, batch: _batched(step, rows, targets, batch)


def _features_and_outputs(features, outputs):
    """One array per row (``_batched`` joins one): the flat features, then the outputs."""
    n = len(features)
    return np.concatenate([features.reshape(n, -1), outputs.reshape(n, -1)], axis=1)


LRP_EPSILON = 1e-6  # the epsilon rule's (Dense) and the z+/flat stabilizer's epsilon


def lrp(logits_model, native=False):
    """LRP relevance ``(N, 64, 64, 3)`` of the bench CNN (``common.build_model``),
    composite ``epsilon_plus_flat``, output relevance the target's logit.

    One forward with the model's weights (activations, logits), then per layer, last
    first: epsilon on the two Dense (``s = R / stab(z)``, ``R = a * s W^T``), max-pool
    backward (winner takes all), ReLU passes relevance, z+ on conv2..4
    (``z+ = conv(x, W+) + b+``, ``R = x * conv^T(W+, R / stab(z+))``: their inputs are
    max-pooled ReLU outputs, so the ``x- W-`` term is exactly zero and left out), flat
    on conv1 (``R = conv^T(1, R / stab(conv(1, 1)))``, ``conv(1, 1)`` of one image: the
    same for all). ``stab(v) = v + eps sign(v)``,
    ``sign(0) = 1`` (zennit). Montavon et al. 2019; Anders et al. 2021.

    PyTorch: the forward runs the model's Keras layers (as ``input_grads`` runs the
    model: Keras' channels-last convolutions and poolings copy their inputs to
    channels-first and back), the backward torch ops on channels-first views;
    ``native=True``: the forward in torch ops too (no Keras layer at all).
    """
    backend = keras.backend.backend()
    convs = [logits_model.get_layer(f"conv{i}") for i in range(1, 5)]
    pools = [logits_model.get_layer(f"pool{i}") for i in range(1, 5)]
    dense, out = logits_model.get_layer("dense"), logits_model.get_layer("logits")
    eps = LRP_EPSILON

    def params():
        return [(lyr.kernel.value, lyr.bias.value) for lyr in convs + [dense, out]]

    if backend == "jax":
        import jax
        import jax.numpy as jnp
        from jax import lax

        def stab(v):
            return v + jnp.where(v >= 0, eps, -eps)

        def conv(x, w):
            return lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

        def pool(a):
            return lax.reduce_window(a, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

        @jax.jit
        def relevance(weights, x, t):
            conv_w, ((wd, bd), (wl, bl)) = weights[:4], weights[4:]
            h, saved = x, []
            for w, b in conv_w:
                p, pool_back = jax.vjp(pool, jax.nn.relu(conv(h, w) + b))
                saved.append((h, pool_back))
                h = p
            flat = h.reshape(h.shape[0], -1)
            zd = flat @ wd + bd
            ad = jax.nn.relu(zd)
            zl = ad @ wl + bl
            r = jax.nn.one_hot(t, zl.shape[1], dtype=zl.dtype) * zl
            r = ad * ((r / stab(zl)) @ wl.T)
            r = (flat * ((r / stab(zd)) @ wd.T)).reshape(h.shape)
            for (xin, pool_back), (w, b) in zip(saved[:0:-1], conv_w[:0:-1]):
                r = pool_back(r)[0]
                wp = jnp.maximum(w, 0.0)
                z, conv_back = jax.vjp(lambda v: conv(v, wp), xin)
                r = xin * conv_back(r / stab(z + jnp.maximum(b, 0.0)))[0]
            r = saved[0][1](r)[0]
            ones, w1 = jnp.ones_like(x), jnp.ones_like(conv_w[0][0])
            _, conv_back = jax.vjp(lambda v: conv(v, w1), ones)
            return conv_back(r / stab(conv(ones[:1], w1)))[0]

        def step(x, t):
            return np.asarray(relevance(params(), jnp.asarray(x), jnp.asarray(t)))
    elif backend == "tensorflow":
        import tensorflow as tf

        def stab(v):
            return v + tf.where(v >= 0, eps, -eps)

        def conv_t(s, w, shape):
            return tf.nn.conv2d_transpose(s, w, shape, 1, "SAME")

        @tf.function
        def relevance(weights, x, t):
            conv_w, ((wd, bd), (wl, bl)) = weights[:4], weights[4:]
            h, saved = x, []
            for w, b in conv_w:
                a = tf.nn.relu(tf.nn.conv2d(h, w, 1, "SAME") + b)
                p = tf.nn.max_pool2d(a, 2, 2, "VALID")
                saved.append((h, a, p))
                h = p
            flat = tf.reshape(h, (tf.shape(h)[0], -1))
            zd = flat @ wd + bd
            ad = tf.nn.relu(zd)
            zl = ad @ wl + bl
            r = tf.one_hot(t, zl.shape[1], dtype=zl.dtype) * zl
            r = ad * tf.matmul(r / stab(zl), wl, transpose_b=True)
            r = tf.reshape(flat * tf.matmul(r / stab(zd), wd, transpose_b=True), tf.shape(h))

            def unpool(a, p, r):
                return tf.raw_ops.MaxPoolGrad(orig_input=a, orig_output=p, grad=r,
                                              ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1],
                                              padding="VALID")

            for (xin, a, p), (w, b) in zip(saved[:0:-1], conv_w[:0:-1]):
                r = unpool(a, p, r)
                wp = tf.maximum(w, 0.0)
                z = tf.nn.conv2d(xin, wp, 1, "SAME") + tf.maximum(b, 0.0)
                r = xin * conv_t(r / stab(z), wp, tf.shape(xin))
            r = unpool(saved[0][1], saved[0][2], r)
            ones, w1 = tf.ones_like(x), tf.ones_like(conv_w[0][0])
            z = tf.nn.conv2d(ones[:1], w1, 1, "SAME")
            return conv_t(r / stab(z), w1, tf.shape(x))

        def step(x, t):
            weights = [(tf.convert_to_tensor(w), tf.convert_to_tensor(b)) for w, b in params()]
            return relevance(weights, tf.convert_to_tensor(x), tf.convert_to_tensor(t)).numpy()
    else:
        import torch
        import torch.nn.functional as F

        def stab(v):
            return v + torch.where(v >= 0, eps, -eps)

        def oihw(w):  # Keras HWIO kernel -> torch OIHW
            return w.permute(3, 2, 0, 1)

        @torch.no_grad()
        def relevance(weights, x, t):
            conv_w = [(oihw(w), b) for w, b in weights[:4]]
            (wd, bd), (wl, bl) = weights[4:]
            h, saved = x.permute(0, 3, 1, 2), []  # NCHW views from here on
            for i, (w, b) in enumerate(conv_w):
                if native:
                    a = F.relu(F.conv2d(h, w, b, padding=1))
                    p, index = F.max_pool2d(a, 2, return_indices=True)
                else:  # the Keras layers' forward; winners of the max-pools for the backward
                    a = convs[i](h.permute(0, 2, 3, 1), training=False).permute(0, 3, 1, 2)
                    p = pools[i](a.permute(0, 2, 3, 1), training=False).permute(0, 3, 1, 2)
                    index = F.max_pool2d(a, 2, return_indices=True)[1]
                saved.append((h, index, a.shape[-2:]))
                h = p
            flat = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # Keras' HWC flatten order
            zd = flat @ wd + bd
            ad = F.relu(zd)
            zl = ad @ wl + bl
            r = F.one_hot(t.long(), zl.shape[1]).to(zl.dtype) * zl
            r = ad * ((r / stab(zl)) @ wl.T)
            r = (flat * ((r / stab(zd)) @ wd.T)).reshape(h.permute(0, 2, 3, 1).shape)
            r = r.permute(0, 3, 1, 2)
            for (xin, index, size), (w, b) in zip(saved[:0:-1], conv_w[:0:-1]):
                r = F.max_unpool2d(r, index, 2, output_size=size)
                wp = w.clamp(min=0.0)
                z = F.conv2d(xin, wp, b.clamp(min=0.0), padding=1)
                r = xin * F.conv_transpose2d(r / stab(z), wp, padding=1)
            _, index, size = saved[0]
            r = F.max_unpool2d(r, index, 2, output_size=size)
            w1 = torch.ones_like(conv_w[0][0])
            z = F.conv2d(torch.ones_like(x[:1].permute(0, 3, 1, 2)), w1, padding=1)
            return F.conv_transpose2d(r / stab(z), w1, padding=1).permute(0, 2, 3, 1)

        def step(x, t):
            weights = [(w.detach(), b.detach()) for w, b in params()]
            return relevance(weights, torch.from_numpy(np.ascontiguousarray(x)),
                             torch.from_numpy(t)).numpy()

    return lambda rows, targets, batch: _batched(step, rows, targets, batch)
