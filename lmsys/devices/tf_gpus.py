"""TensorFlow and JAX on one GPU: keras-hub's tokenizers import TensorFlow, which by default reserves most of
every GPU's memory for itself, leaving JAX short (JAX's docs name this as a common cause of its
out-of-memory errors). TensorFlow is only used here for string ops on CPU, so its GPUs are hidden before
anything builds a model. The one place that does it; lmsys.models calls it for families that use an
accelerator, and the kernels call it first thing.
"""

from __future__ import annotations

import warnings

_state: dict = {}


def hide_gpus_from_tensorflow() -> bool:
    """`tf.config.set_visible_devices([], "GPU")` once per process; True when TensorFlow sees no GPU after it
    (also when TensorFlow is not installed: then nothing can reserve GPU memory)."""
    if "hidden" in _state:
        return _state["hidden"]
    try:
        import tensorflow as tf
    except ImportError:
        _state["hidden"] = True
        return True
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError as exc:  # TensorFlow had already set up its devices (something used it first)
        visible = tf.config.get_visible_devices("GPU")
        if visible:
            warnings.warn(f"TensorFlow already holds GPU(s) {visible} and can no longer give them up ({exc}); "
                          "JAX may run short of GPU memory", RuntimeWarning, stacklevel=2)
        _state["hidden"] = not visible
        return _state["hidden"]
    _state["hidden"] = True
    return True
