"""Competition data: read (JSON-only parsing, named errors), encoding repair, option texts, splits,
the built-in sample. pandas/numpy only: nothing here imports keras, jax or tensorflow."""

from lmsys.data.columns import (CLASS_NAMES, LABEL_COLUMNS, SUBMISSION_COLUMNS, SWAP_AB, TEST_COLUMNS,
                                TEXT_COLUMNS, TRAIN_COLUMNS, swap_columns, swap_frame, swap_labels)
from lmsys.data.read import DataError, ParseReport, labels_onehot, load_competition_csv, parse_turns

__all__ = ["CLASS_NAMES", "LABEL_COLUMNS", "SUBMISSION_COLUMNS", "SWAP_AB", "TEST_COLUMNS", "TEXT_COLUMNS",
           "TRAIN_COLUMNS", "DataError", "ParseReport", "labels_onehot", "load_competition_csv", "parse_turns",
           "swap_columns", "swap_frame", "swap_labels"]
