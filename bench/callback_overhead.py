"""Overhead of an explanation callback during ``fit``, on the active backend.

The seed tutorial's setup (../shared/seeds/vanilla-gradients-tf-explain-tutorial.md):
its CNN (Conv 32/64/128, Dense 128, softmax), batch 50, validation_split 0.2, Adam,
trained on the digits stand-in for MNIST (``kerascope.demo.mnist``: 1437 training
images -> 1150 trained on, 287 validated per epoch) with
``VanillaGradientsCallback(validation_data=(x_test, y_test), class_index=0)`` on the
360 test images, as the tutorial passes its whole test set.

For each epoch: ``epoch`` = seconds from ``on_epoch_begin`` to ``on_epoch_end``
(training and validation), ``callback`` = seconds the callback spent explaining and
writing the TensorBoard image. The ratio callback / epoch is reported for epoch 1
(includes the one-time compilation of the explanation pass) and as the median over
the later epochs (steady state).

    KERAS_BACKEND=jax .venv-jax/bin/python bench/callback_overhead.py [--epochs 4]
        [--max-images 25]
"""

import argparse
import statistics
import tempfile
import time

import keras

from kerascope.callbacks import VanillaGradientsCallback
from kerascope.demo import mnist


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def tutorial_model():
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        keras.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        keras.layers.Conv2D(128, kernel_size=(3, 3), activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam",
                  metrics=["accuracy"])
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--max-images", type=int, default=None,
                        help="explain only the first N test images (callback max_images)")
    args = parser.parse_args()
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train = x_train.reshape(-1, 28, 28, 1).astype("float32") / 255
    x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255
    keras.utils.set_random_seed(0)
    model = tutorial_model()
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as logs:
        callback = VanillaGradientsCallback((x_test, y_test), class_index=0, output_dir=logs,
                                            max_images=args.max_images)
        model.fit(x_train, y_train, batch_size=50, epochs=args.epochs, verbose=0,
                  validation_split=0.2, callbacks=[timer, callback])
    explain = [seconds for _, seconds in callback.seconds]
    print(f"backend {keras.backend.backend()}: {len(callback.images)} images explained per epoch")
    print("epoch  epoch_s  callback_s  ratio")
    for epoch, (e, c) in enumerate(zip(timer.seconds, explain), start=1):
        print(f"{epoch:5d}  {e:7.2f}  {c:10.3f}  {c / e:5.3f}")
    steady = statistics.median(c / e for e, c in zip(timer.seconds[1:], explain[1:]))
    print(f"ratio epoch 1 (with compilation): {explain[0] / timer.seconds[0]:.3f}; "
          f"steady-state median: {steady:.3f}")


if __name__ == "__main__":
    main()
