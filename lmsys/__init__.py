"""lmsys: a Kaggle pipeline for the LMSYS Chatbot Arena human-preference competition.

Data flows one way: data (read, clean) -> options (format) -> tokens -> model -> predict ->
submission. The kernels and tasks.py only wire these modules together.
"""

import os

# The design is Keras 3 on JAX; set before anything imports keras (an explicit KERAS_BACKEND still wins).
os.environ.setdefault("KERAS_BACKEND", "jax")

__version__ = "0.1.0"
