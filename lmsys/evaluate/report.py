"""`invoke report`: the plots people look at, and a table of every trained model.

Writes under reports/: models.png and winners.png (the starter's two EDA plots, from a train csv),
training_curves.png (every model directory's history.csv overlaid, so presets can be compared),
calibration.png (reliability of each model's validation predictions, per class) and models.md
(preset, data, val log loss, accuracy, class-prior log loss, time for every model directory).
Everything is read from the model directories' own files; nothing is recomputed.
"""

from __future__ import annotations

import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lmsys.atomic import atomic_path, write_text  # noqa: E402
from lmsys.config import Config  # noqa: E402
from lmsys.run_dir import HISTORY_FILE, METRICS_FILE, find_model_dirs, read_val_predictions  # noqa: E402
from lmsys.data import CLASS_NAMES, LABEL_COLUMNS, load_competition_csv  # noqa: E402
from lmsys.models import uses_preset  # noqa: E402
from lmsys.paths import MODELS_DIR  # noqa: E402

FIGSIZE = (10, 6)  # inches; at DPI this gives 1000 x 600 pixel images
DPI = 100
CURVES = (("loss", "val_loss", "loss"), ("log_loss", "val_log_loss", "log loss"), ("accuracy", "val_accuracy", "accuracy"))
CLASS_TITLES = ("A wins", "B wins", "tie")
MIN_BIN_ROWS = 10


def _save(fig, path) -> str:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)
    return os.fspath(path)


def plot_model_counts(df: pd.DataFrame, path, top: int = 30) -> str:
    """How often each model appears (as model_a or model_b), the most frequent `top`."""
    counts = pd.concat([df["model_a"], df["model_b"]]).value_counts().head(top)
    fig, ax = plt.subplots(figsize=FIGSIZE)
    ax.barh(counts.index[::-1].astype(str), counts.to_numpy()[::-1], color="tab:blue")
    ax.set_xlabel("rows (as model_a or model_b)")
    ax.set_title(f"Distribution of models ({len(df)} rows, top {len(counts)})")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return _save(fig, path)


def plot_winners(df: pd.DataFrame, path) -> str:
    counts = np.bincount(df["class_label"].to_numpy(), minlength=3)
    fig, ax = plt.subplots(figsize=FIGSIZE)
    bars = ax.bar(list(CLASS_NAMES), counts, color=["tab:blue", "tab:orange", "tab:gray"])
    for bar, c in zip(bars, counts):
        ax.annotate(f"{c} ({c / max(counts.sum(), 1):.1%})", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom")
    ax.set_ylabel("rows")
    ax.set_title(f"Distribution of winners ({len(df)} rows)")
    fig.tight_layout()
    return _save(fig, path)


def _label(model_dir) -> str:
    return os.path.basename(os.path.normpath(os.fspath(model_dir)))


def read_history(model_dir) -> pd.DataFrame | None:
    path = os.path.join(os.fspath(model_dir), HISTORY_FILE)
    if not os.path.exists(path):
        return None
    frame = pd.read_csv(path)
    if "epoch" not in frame.columns:
        raise ValueError(f"{path}: no 'epoch' column; found {list(frame.columns)}")
    return frame


def plot_training_curves(model_dirs, path) -> str | None:
    """Loss, log loss and accuracy per epoch (train solid, validation dashed), one colour per model dir."""
    histories = [(d, h) for d in model_dirs if (h := read_history(d)) is not None and len(h)]
    if not histories:
        return None
    fig, axes = plt.subplots(1, 3, figsize=FIGSIZE)
    for i, (d, hist) in enumerate(histories):
        color = f"C{i % 10}"
        for ax, (train_key, val_key, title) in zip(axes, CURVES):
            if train_key in hist.columns:
                ax.plot(hist["epoch"], hist[train_key], "-o", color=color, ms=3, label=f"{_label(d)} train")
            if val_key in hist.columns:
                ax.plot(hist["epoch"], hist[val_key], "--s", color=color, ms=3, label=f"{_label(d)} val")
            ax.set_title(title)
            ax.set_xlabel("epoch")
    axes[0].legend(fontsize=7)
    fig.suptitle("Training curves")
    fig.tight_layout()
    return _save(fig, path)


def calibration_curve(probs: np.ndarray, hits: np.ndarray, bins: int = 10):
    """(mean predicted, observed frequency, count) per non-empty equal-width bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(probs, edges[1:-1]), 0, bins - 1)
    out = [(probs[which == b].mean(), hits[which == b].mean(), int((which == b).sum()))
           for b in range(bins) if (which == b).any()]
    return tuple(np.array(v) for v in zip(*out)) if out else (np.zeros(0),) * 3


def plot_calibration(model_dirs, path, bins: int = 10) -> str | None:
    """Reliability diagram per class: predicted probability against how often that class won."""
    preds = [(d, p) for d in model_dirs if (p := read_val_predictions(d, required=False)) is not None and len(p)]
    if not preds:
        return None
    fig, axes = plt.subplots(1, 3, figsize=FIGSIZE, sharey=True)
    for i, (d, frame) in enumerate(preds):
        y = frame["class_label"].to_numpy()
        for k, ax in enumerate(axes):
            mean_p, freq, count = calibration_curve(frame[LABEL_COLUMNS[k]].to_numpy(dtype=float),
                                                    (y == k).astype(float), bins)
            keep = count >= MIN_BIN_ROWS  # a bin of 3 rows is noise, not miscalibration
            ax.plot(mean_p[keep], freq[keep], "-o", color=f"C{i % 10}", ms=3, label=f"{_label(d)} ({len(frame)} rows)")
    for k, ax in enumerate(axes):
        ax.plot([0, 1], [0, 1], ":", color="black", lw=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(CLASS_TITLES[k])
        ax.set_xlabel("predicted probability")
    axes[0].set_ylabel("observed frequency")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Calibration of validation predictions (bins of at least {MIN_BIN_ROWS} rows)")
    fig.tight_layout()
    return _save(fig, path)


def _fmt(value, digits=4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value).replace("|", "\\|")


def models_table(model_dirs) -> str:
    """Markdown table: one row per model directory, from its config.json and metrics.json."""
    header = ["model dir", "type", "preset", "data", "val log loss", "accuracy", "class-prior log loss",
              "epochs", "time (s)", "rows/s"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for d in model_dirs:
        config = Config.load(d)
        metrics_path = os.path.join(os.fspath(d), METRICS_FILE)
        metrics = {}
        if os.path.exists(metrics_path):
            with open(metrics_path, encoding="utf-8") as fh:
                metrics = json.load(fh)
        preset = config.preset if uses_preset(config) else "-"
        row = [_fmt(os.fspath(d)), _fmt(config.model_type), _fmt(preset), _fmt(config.data or "-"), _fmt(metrics.get("val_log_loss")),
               _fmt(metrics.get("val_accuracy"), 3), _fmt(metrics.get("prior_log_loss")), _fmt(metrics.get("epochs")),
               _fmt(metrics.get("wall_time_s"), 1), _fmt(metrics.get("rows_per_s"), 1)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _load_train(train_csv):
    """The parsed train csv; without one, data/train.csv, else the built-in sample (lmsys.paths says so)."""
    from lmsys.paths import resolve_train_csv

    train_csv = resolve_train_csv(train_csv)
    df = load_competition_csv(train_csv)
    if "class_label" not in df.columns:
        raise ValueError(f"{train_csv}: a test csv (no winner columns); the report needs a train csv")
    return df, os.fspath(train_csv)


def run_report(train_csv=None, model_dirs=None, models_root=MODELS_DIR, out_dir="reports") -> dict:
    """Write every plot that has data, and models.md; returns {name: path} of what was written."""
    written = {}
    df, source = _load_train(train_csv)
    written["models"] = plot_model_counts(df, os.path.join(out_dir, "models.png"))
    written["winners"] = plot_winners(df, os.path.join(out_dir, "winners.png"))
    dirs = list(model_dirs) if model_dirs else find_model_dirs(models_root)
    if not dirs:
        print(f"no model directories (none given, none under {models_root}/): only the data plots")
    curves = plot_training_curves(dirs, os.path.join(out_dir, "training_curves.png"))
    if curves:
        written["training_curves"] = curves
    calib = plot_calibration(dirs, os.path.join(out_dir, "calibration.png"))
    if calib:
        written["calibration"] = calib
    table_path = os.path.join(out_dir, "models.md")
    write_text(table_path, f"# Trained models\n\nData plots from {source}.\n\n" + models_table(dirs))
    written["table"] = table_path
    for name, path in written.items():
        print(f"{name}: {path}")
    return written
