"""Train the bundled demo CNN on scikit-learn digits (28x28x1).

Usage::

    KERAS_BACKEND=jax python -m kerascope.demo.train_digits [--output PATH] [--epochs N]

Writes the model (without optimizer state) and, unless ``--samples-output ''``
is given, the 10 demo sample images with the model's reference outputs.
Deterministic via ``keras.utils.set_random_seed(0)`` on a given backend; the
bundled files were produced with ``KERAS_BACKEND=jax`` and the defaults.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

from kerascope.demo import IMAGE_SHAPE, MODEL_PATH, SAMPLES_PATH, load_digits_28


def build_model():
    """Return the (uncompiled) demo architecture."""
    import keras
    from keras import layers

    return keras.Sequential(
        [
            keras.Input(shape=IMAGE_SHAPE, name="image"),
            layers.Conv2D(16, 3, activation="relu", name="conv_1"),
            layers.Conv2D(32, 3, activation="relu", name="conv_2"),
            layers.MaxPooling2D(2, name="pool"),
            layers.Conv2D(32, 3, activation="relu", name="last_conv"),
            layers.MaxPooling2D(2, name="pool_2"),
            layers.Flatten(name="flatten"),
            layers.Dense(32, activation="relu", name="dense"),
            layers.Dense(10, activation="softmax", name="predictions"),
        ],
        name="digits_cnn",
    )


def pick_samples(model, images, labels):
    """Return the first test image of each class that ``model`` gets right."""
    preds = np.argmax(model.predict(images, verbose=0), axis=-1)
    chosen = []
    for cls in range(10):
        idx = np.flatnonzero(labels == cls)
        good = idx[preds[idx] == cls]
        chosen.append(good[0] if len(good) else idx[0])
    chosen = np.asarray(chosen)
    return images[chosen].astype(np.float32), labels[chosen].astype(np.int64)


def train(epochs: int = 15, batch_size: int = 32, seed: int = 0):
    """Train and return ``(model, test_accuracy)``."""
    import keras

    keras.utils.set_random_seed(seed)
    x_train, y_train = load_digits_28("train")
    x_test, y_test = load_digits_28("test")

    model = build_model()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size,
              shuffle=True, verbose=2)
    probs = model.predict(x_test, verbose=0)
    acc = float(np.mean(np.argmax(probs, axis=-1) == y_test))

    # Fresh, uncompiled copy so the saved file carries no optimizer state.
    clean = build_model()
    clean.set_weights(model.get_weights())
    return clean, acc


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=pathlib.Path, default=MODEL_PATH,
                        help="where to write the .keras model")
    parser.add_argument("--samples-output", default=str(SAMPLES_PATH),
                        help="where to write the sample .npz ('' to skip)")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import keras

    model, acc = train(args.epochs, args.batch_size, args.seed)
    print(f"backend={keras.backend.backend()} held-out accuracy={acc:.4f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.output)
    print(f"saved model to {args.output} ({args.output.stat().st_size} bytes)")

    if args.samples_output:
        images, labels = pick_samples(model, *load_digits_28("test"))
        probs = np.asarray(model.predict(images, verbose=0), dtype=np.float32)
        np.savez_compressed(args.samples_output, images=images, labels=labels,
                            probs=probs)
        print(f"saved samples to {args.samples_output}")


if __name__ == "__main__":
    main()
