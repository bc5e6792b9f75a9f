"""lmsys: a Kaggle pipeline for the LMSYS Chatbot Arena human-preference competition.

Data flows one way: data (read, clean) -> options (format) -> tokens -> model -> predict ->
submission. The kernels and tasks.py only wire these modules together.
"""

__version__ = "0.1.0"
