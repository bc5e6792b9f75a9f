"""Each option's response length, read from the whole text before truncation, for the Siamese head.

Length is the strongest single signal in this data (people favour the longer answer), and an encoder that sees
256-512 tokens of each option cannot count what was cut. On the 999 real rows a logistic regression on these three
log-lengths alone gains 0.074 over the class prior, about what the whole features model gains; the encoder
fine-tuned without them gained 0.02. Each feature is log1p(count) - center, divided by scale; the same transform
for A and B, so exchanging the options exchanges their features and swap TTA stays one pass.

The (center, scale) pairs are saved in the model's config (`length_features`), so a trained model keeps the
transform it was trained with; an empty dict is no length features (models written before they existed).
"""

from __future__ import annotations

import numpy as np

# center: the mean of log1p(count) over both responses of the 999 real training rows; scale: a quarter of its
# standard deviation (1.35, 1.27, 1.43), so each feature has a standard deviation of about 4. Adam moves a weight
# by about the learning rate per step: a logistic regression gives standardised lengths weights of ~0.3, which
# the head (1e-3) cannot reach in the ~150 steps of a small run; at std 4 the weights needed are ~0.08. Frozen
# all-MiniLM-L6-v2 vectors + lengths, head only, 3 epochs at 1e-3 on the 999 rows: gain over the prior 0.022
# at std 1, 0.046-0.048 at std 4 (two seeds).
LENGTH_FEATURES = {"chars": [6.55, 0.34], "words": [4.77, 0.32], "lines": [1.88, 0.36]}


def _counts(turns, name: str) -> int:
    text = "\n".join(turns) if isinstance(turns, (list, tuple)) else str(turns)
    if name == "chars":
        return len(text)
    if name == "words":
        return len(text.split())
    return text.count("\n")  # "lines": line breaks, 0 for a one-line answer


def check_length_features(spec) -> None:
    """ValueError naming the first entry that is not NAME: [center, scale > 0] with a known NAME."""
    if not isinstance(spec, dict):
        raise ValueError(f"length_features: expected a JSON object of NAME: [center, scale], got {spec!r}")
    for name, value in spec.items():
        if name not in LENGTH_FEATURES:
            raise ValueError(f"length_features: unknown feature {name!r}; known: {', '.join(LENGTH_FEATURES)}")
        ok = (isinstance(value, (list, tuple)) and len(value) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in value))
        if not ok or not value[1] > 0:
            raise ValueError(f"length_features: {name}: expected [center, scale] with scale > 0, got {value!r}")


def response_lengths(df, spec) -> tuple[np.ndarray, np.ndarray] | None:
    """(A features, B features), each (rows, len(spec)) float32, from the full parsed responses; None when
    `spec` is empty."""
    if not spec:
        return None
    names = [name for name in LENGTH_FEATURES if name in spec]  # a fixed order: config.json sorts its keys
    sides = []
    for column in ("response_a", "response_b"):
        turns = df[column].tolist()
        feats = np.empty((len(turns), len(names)), np.float32)
        for j, name in enumerate(names):
            center, scale = spec[name]
            counts = np.fromiter((_counts(t, name) for t in turns), np.float64, len(turns))
            feats[:, j] = (np.log1p(counts) - center) / scale
        sides.append(feats)
    return sides[0], sides[1]
