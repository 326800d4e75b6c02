"""The tensorflow backend: compiled batched passes, layer gradients and ascent steps written with tensorflow. Imported only by ``kerascope.backend`` when Keras runs on tensorflow."""
