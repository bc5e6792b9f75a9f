"""Data parallel training and prediction over every local device (Kaggle T4 x2, TPU v3-8).

Keras' distribution API on JAX replicates the variables and splits each global batch along its
first axis across the devices; gradients are averaged by XLA. The global batch must therefore be a
multiple of the device count: the helpers below round batch sizes up and pad a last partial batch
(prediction) so no shape is ever uneven.
"""

from __future__ import annotations

import warnings

import numpy as np


def local_device_count() -> int:
    import keras

    if keras.config.backend() != "jax":
        return 1
    import jax

    return jax.local_device_count()


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


def round_batch_size(batch_size: int, num_devices: int) -> int:
    """Smallest multiple of `num_devices` that is >= batch_size (each device gets an equal share)."""
    if batch_size < 1 or num_devices < 1:
        raise ValueError(f"batch size and device count must be >= 1, got {batch_size} and {num_devices}")
    return -(-batch_size // num_devices) * num_devices


def check_batch_size(batch_size: int, num_devices: int, what: str = "batch size") -> int:
    """Raise a clear error when a global batch size cannot be split evenly over the devices."""
    if batch_size % num_devices:
        raise ValueError(
            f"{what} {batch_size} is not a multiple of the {num_devices} devices; use "
            f"{round_batch_size(batch_size, num_devices)} (lmsys.distribute.round_batch_size)")
    return batch_size


def pad_batch(batch, multiple: int):
    """Pad every array of a (dict of) batch along axis 0 to a multiple of `multiple` by repeating row 0.

    Returns (padded, real_rows); predictions for rows >= real_rows are to be dropped. Repeating a
    real row (not zeros) keeps a padded row's padding mask non-empty. Under DataParallel a batch
    whose rows do not split evenly fails (jax IndivisibleError), so before `model.predict(x,
    batch_size=b)` with b a multiple of the device count, pad the whole input to a multiple of the
    device count: every batch, the last included, then splits evenly.
    """
    arrays = batch if isinstance(batch, dict) else {None: batch}
    sizes = {np.shape(a)[0] for a in arrays.values()}
    if len(sizes) != 1:
        raise ValueError(f"pad_batch: arrays disagree on the batch size: { {k: np.shape(a) for k, a in arrays.items()} }")
    rows = sizes.pop()
    if rows == 0:
        raise ValueError("pad_batch: empty batch")
    extra = round_batch_size(rows, multiple) - rows
    if extra:
        arrays = {k: np.concatenate([a, np.repeat(np.asarray(a)[:1], extra, axis=0)]) for k, a in arrays.items()}
    return (arrays if isinstance(batch, dict) else arrays[None]), rows
