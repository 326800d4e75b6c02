"""Raw baselines: the bare framework's minimal batched passes, one backend each.

Each factory returns ``fn(rows, targets, batch) -> numpy array`` that feeds numpy
``rows`` to a compiled pass ``batch`` rows at a time (the last call may be shorter)
and returns the results on the host, concatenated; nothing else. Scores are the
logits of the target unit (the softmax-stripped model, ``build_model(softmax=False)``),
as kerascope's scores are.

* ``input_grads(logits_model)``: d score / d input (saliency, SmoothGrad, IG...);
* ``layer_grads(trunk, head)``: forward through the trunk, forward+backward of the
  head only, d score / d features (Grad-CAM family);
* ``forward(model)``: the model's outputs only (occlusion, RISE, Score-CAM).

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
