"""Data parallel training and prediction over every local device (Kaggle T4 x2, TPU v3-8).

Keras' distribution API on JAX replicates the variables and splits each global batch along its
first axis across the devices; gradients are averaged by XLA. The global batch must therefore be a
multiple of the device count: lmsys.siamese.batching makes every batch (a group's last one included, filled
with zero-weight rows) a multiple of the count this returns. fit lays its batches out itself;
predict_on_batch does not (it hands the jitted step numpy arrays, which then run whole on every
device), so prediction lays each batch out with `place_batch` first.
"""

from __future__ import annotations

import warnings


def setup_data_parallel() -> int:
    """Use keras.distribution.DataParallel over all local devices when there are several.

    Returns the device count (1: nothing set, single-device behaviour is unchanged). Call before
    building the model: variables are placed when they are created.
    """
    import keras

    if keras.config.backend() != "jax":
        warnings.warn(f"data parallel needs the JAX backend; running on one device ({keras.config.backend()})")
        return 1
    devices = keras.distribution.list_devices()
    if len(devices) <= 1:
        return 1
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return len(devices)


def batch_sharding(shape):
    """How the current distribution splits an array of this shape along its batch axis (None: no distribution)."""
    import keras

    distribution = keras.distribution.distribution()
    return None if distribution is None else distribution.get_data_layout(tuple(shape)).backend_layout


def place_batch(batch: dict) -> dict:
    """The batch split along its first axis over the devices of the current distribution (as fit does)."""
    import jax
    import keras
    import numpy as np

    if keras.distribution.distribution() is None:
        return batch
    return {name: jax.device_put(value, batch_sharding(np.shape(value))) for name, value in batch.items()}
