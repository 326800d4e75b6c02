"""The jax backend: compiled batched passes, layer gradients and ascent steps written with jax. Imported only by ``kerascope.backend`` when Keras runs on jax."""
