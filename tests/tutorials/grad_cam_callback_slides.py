# The tf_explain.callbacks example of the tf-explain talk slides
# (../shared/seeds/tf-explain-talk-slides.md), imports changed only: tensorflow ->
# keras, tf_explain -> kerascope, MNIST -> the offline digits stand-in. The slide
# elides the model ("model = ...") and the one-hot test labels its selection
# expects; both are filled in below, between the "elided" markers. The model's
# convolution is named 'target_layer', the name the slide passes. Two slide typos
# kept or fixed: `GradCAMcallback` is kept (kerascope.callbacks has that alias), and
# the unbalanced `...])[0:5]), None)` (a SyntaxError) reads `...])[0:5], None)`.
import numpy as np
import keras
import kerascope as tf_explain
import kerascope.callbacks  # noqa: F401  (tf_explain.callbacks)
from kerascope.demo import mnist

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10

(train_images, train_labels), (test_images, test_labels) = mnist.load_data()

# --- elided on the slide -------------------------------------------------------
test_labels = keras.utils.to_categorical(test_labels, NUM_CLASSES)
model = keras.Sequential([
    keras.Input((28, 28)),
    keras.layers.Reshape(INPUT_SHAPE),
    keras.layers.Rescaling(1.0 / 255),
    keras.layers.Conv2D(8, 3, activation="relu"),
    keras.layers.MaxPooling2D(2),
    keras.layers.Conv2D(8, 3, activation="relu", name="target_layer"),
    keras.layers.Flatten(),
    keras.layers.Dense(NUM_CLASSES, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
# --- end of the elided part ----------------------------------------------------

# Select a subset of the validation data to examine
# Here, we choose 5 elements with label '0' == [1, 0, 0, ..., 0]
validation_class_zero = (np.array([
    el for el, label in zip(test_images, test_labels)
    if np.all(label == np.array([1] + [0] * 9))
])[0:5], None)

# Instantiate callbacks
# class_index value should match the validation_data selected above
callbacks = [tf_explain.callbacks.GradCAMcallback(validation_class_zero, 'target_layer', class_index=0)]

# Start training
model.fit(train_images, train_labels, epochs=5, callbacks=callbacks)
