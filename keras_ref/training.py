"""Forward passes and plain SGD steps for the Keras reference models (eager, no ``fit``).

A custom step rather than ``model.fit`` so that the batches and their order are exactly the
ones given: ``fit`` would shuffle and may drop or pad. The step is the textbook one:
``tf.GradientTape`` around ``model(x, training=True)`` (batch statistics; BN moving
statistics updated), mean sparse cross-entropy from logits, ``keras.optimizers.SGD``
(no momentum: ``w -= lr * grad``); the model's ``losses`` (weight regularizers) added to the
loss, as ``fit`` adds them.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
import numpy as np
import tensorflow as tf


def logits(model: keras.Model, x: np.ndarray, training: bool) -> np.ndarray:
    """``model(x, training=...)`` as float32 numpy. ``training=True`` normalizes with the
    batch's statistics AND updates BN's moving statistics, as one step of ``fit`` would."""
    return keras.ops.convert_to_numpy(model(x, training=training))


def sgd_steps(model: keras.Model, batches: Iterable[tuple[np.ndarray, np.ndarray]], learning_rate: float,
              loss_fn: keras.losses.Loss | None = None) -> list[float]:
    """One SGD step per ``(images, labels)`` batch, in order; returns the losses. The loss
    (sparse cross-entropy from logits unless ``loss_fn``) is computed in the model's dtype (a
    Keras loss would otherwise cast to float32)."""
    optimizer = keras.optimizers.SGD(learning_rate=learning_rate)
    if loss_fn is None:
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype=model.layers[-1].compute_dtype)
    losses = []
    for x, y in batches:
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
            if model.losses:  # weight regularizers: model.fit adds them too
                loss = loss + keras.ops.sum(keras.ops.stack(model.losses))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        losses.append(float(loss))
    return losses
