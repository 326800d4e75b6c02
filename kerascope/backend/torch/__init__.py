"""The torch backend: compiled batched passes, layer gradients and ascent steps written with torch. Imported only by ``kerascope.backend`` when Keras runs on torch."""
