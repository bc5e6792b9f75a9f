"""Data parallel training and prediction over every local device (Kaggle T4 x2, TPU v3-8).

Keras' distribution API on JAX replicates the variables and splits each global batch along its
first axis across the devices; gradients are averaged by XLA. The global batch must therefore be a
multiple of the device count: lmsys.batching makes every batch (a group's last one included, filled
with zero-weight rows) a multiple of the count this returns.
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
