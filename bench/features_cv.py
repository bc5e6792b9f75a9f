"""Print the features model's 5-fold out-of-fold log loss on a training csv (default: the 999 real rows).

    python bench/features_cv.py [--data ../shared/data/train_sample.csv] [--seed 42] [--set key=value ...]

The rounds are chosen inside each training fold (lmsys.gbm.model), so the figure is honest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lmsys.config import Config  # noqa: E402
from lmsys.data import load_competition_csv  # noqa: E402
from lmsys.gbm.model import cross_validate, log_loss, model_params  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/train_sample.csv")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--set", nargs="*", default=[], help="features model parameters, e.g. num_leaves=15")
    args = ap.parse_args(argv)
    extra = {}
    for item in args.set:
        key, _, value = item.partition("=")
        extra[key] = json.loads(value)
    params = model_params(Config(model_type="features", extra=extra))
    df = load_competition_csv(args.data)
    y = df["class_label"].to_numpy()
    start = time.time()
    cv = cross_validate(df, params, seed=args.seed)
    wall = time.time() - start
    print(f"data {args.data}: {len(df)} rows; {params['n_splits']}-fold CV, seed {args.seed}, params {extra or 'default'}")
    print(f"OOF log loss {log_loss(y, cv['oof']):.4f}  class prior {log_loss(y, cv['prior']):.4f}  "
          f"accuracy {np.mean(cv['oof'].argmax(1) == y):.3f}")
    print(f"fold log loss {[round(v, 4) for v in cv['fold_log_loss']]}  rounds {cv['rounds']}")
    print(f"{wall:.1f}s on {platform.machine()} ({platform.processor() or 'cpu'})")


if __name__ == "__main__":
    main()
