"""What the two Kaggle kernels do once `lmsys` is importable (kernels/*/ only find the code).

Both run on Kaggle (/kaggle/input -> /kaggle/working) and locally, with the directories given
by --input/--output or LMSYS_INPUT_DIR/LMSYS_OUTPUT_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from lmsys.kaggle.kernel_inputs import find_competition_dir, find_model_dir, find_preset_dir

KAGGLE_INPUT = "/kaggle/input"
KAGGLE_OUTPUT = "/kaggle/working"


def _io_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--input", default=os.environ.get("LMSYS_INPUT_DIR", KAGGLE_INPUT),
                        help="attached inputs (env LMSYS_INPUT_DIR; default /kaggle/input)")
    parser.add_argument("--output", default=os.environ.get("LMSYS_OUTPUT_DIR", KAGGLE_OUTPUT),
                        help="where outputs go (env LMSYS_OUTPUT_DIR; default /kaggle/working)")
    return parser


def _prepare(model_type, precision, allow_cpu, model_dir=None) -> dict:
    """First thing in both kernels: TensorFlow gives up the GPUs, the environment is printed, and on Kaggle a
    model that needs an accelerator stops here when JAX has none (unless allow_cpu)."""
    from lmsys.devices.tf_gpus import hide_gpus_from_tensorflow
    from lmsys.kaggle import clean_exit
    from lmsys.kaggle.kernel_env import check_accelerator, describe_environment

    hide_gpus_from_tensorflow()
    info = describe_environment(precision, model_dir)
    with clean_exit():
        check_accelerator(model_type, allow_cpu)
    return info


def run_infer(input_dir, output_dir, model_dir=None, test_csv=None, tta=None, allow_cpu: bool = False,
              strict: bool = False, budget=None) -> str:
    """Predict the competition's test.csv with the attached model; write a validated submission.csv and
    inference_report.json. Malformed rows get the class prior (strict=False) instead of ending the run."""
    from lmsys.config import Config
    from lmsys.predict import predict_file

    os.makedirs(output_dir, exist_ok=True)
    # zipped model folders are extracted outside output_dir, which Kaggle keeps as the kernel's output; the
    # scratch folder goes when the run ends, so repeated runs (and the tests) leave nothing behind in /tmp
    with tempfile.TemporaryDirectory(prefix="lmsys-infer-") as scratch:
        model_dir = model_dir or find_model_dir(input_dir, os.path.join(scratch, "model"))
        config = Config.load(model_dir)
        info = _prepare(config.model_type, config.precision, allow_cpu, model_dir)
        from lmsys.models import with_attached_base

        model_dir = with_attached_base(config, model_dir, input_dir, os.path.join(scratch, "base"))
        test_csv = test_csv or os.path.join(find_competition_dir(input_dir), "test.csv")
        out_csv = os.path.join(output_dir, "submission.csv")
        print(f"model: {model_dir} ({config.model_type})\ntest: {test_csv}", flush=True)
        start = time.time()
        extra = {"push_id": os.environ.get("LMSYS_PUSH_ID") or None, "model_type": config.model_type,
                 "devices": info["devices"], "code": info["code"], "model": info.get("model")}
        sub = predict_file(model_dir, test_csv, out_csv, tta=tta, strict=strict, extra_report=extra, budget=budget)
        report = sub.attrs["report"]
        print(f"wrote {out_csv}: {len(sub)} rows, validated, in {time.time() - start:.1f} s; "
              f"skipped_rows {report['skipped_rows']}, rows_with_tta {report['rows_with_tta']}, "
              f"nonfinite_reruns {report['nonfinite_reruns']} (inference_report.json)", flush=True)
        return out_csv


def _allow_cpu_flag(parser) -> None:
    from lmsys.kaggle.kernel_env import allow_cpu_default

    parser.add_argument("--allow-cpu", action="store_true", default=allow_cpu_default(),
                        help="on Kaggle, run a model that needs an accelerator on CPU when JAX sees none "
                             "(env LMSYS_ALLOW_CPU=1; default: stop with an error)")


def main_infer(argv=None) -> str:
    from lmsys.evaluate.time_budget import ENV_HOURS, TimeBudget, budget_seconds

    clock_start = time.monotonic()  # the deadline counts from here: loading the model is part of the run
    parser = _io_parser("lmsys inference kernel: writes <output>/submission.csv")
    parser.add_argument("--model", help="model directory (default: found under --input)")
    parser.add_argument("--test", help="test csv (default: test.csv of the attached competition)")
    parser.add_argument("--tta", choices=["auto", "on", "off"], default="auto",
                        help="swap TTA (auto: what the model's config.json says)")
    parser.add_argument("--strict", action="store_true",
                        help="stop at a malformed test row (default: skip it and give it the class prior)")
    parser.add_argument("--time-budget-hours", default=None,
                        help=f"deadline for the whole prediction (env {ENV_HOURS}; default 8.5): past the estimate, "
                             "swap TTA is dropped on the longest rows, then rows are skipped, so a submission is "
                             "always written")
    _allow_cpu_flag(parser)
    args = parser.parse_args(argv)
    tta = {"auto": None, "on": True, "off": False}[args.tta]
    try:
        budget = TimeBudget(budget_seconds(args.time_budget_hours), start=clock_start)
    except ValueError as err:
        parser.error(str(err))
    return run_infer(args.input, args.output, args.model, args.test, tta, allow_cpu=args.allow_cpu, strict=args.strict,
                     budget=budget)


def detect_accelerator() -> str:
    """'tpu', 'gpu' or 'cpu': LMSYS_ACCELERATOR if set, else what JAX sees."""
    forced = os.environ.get("LMSYS_ACCELERATOR", "").strip().lower()
    if forced:
        return forced
    import jax

    return jax.devices()[0].platform


def run_train(input_dir, output_dir, preset=None, accelerator=None, overrides=None, model_type=None,
              allow_cpu: bool = False) -> dict:
    """Train on the competition's train.csv with the attached preset; leave <output>/model."""
    from lmsys.models import DEFAULT_TYPE, default_config, train_model

    train_csv = os.path.join(find_competition_dir(input_dir, "train.csv"), "train.csv")
    from lmsys.models import attached_preset

    preset = preset or attached_preset(model_type or DEFAULT_TYPE, input_dir) or find_preset_dir(input_dir)
    accelerator = accelerator or detect_accelerator()
    # precision "auto" gives bfloat16 on TPU without pinning it in config.json for a T4 at inference, and
    # train_model spreads the batches over every core (lmsys.devices.distribute)
    config = default_config(model_type or DEFAULT_TYPE, preset, data=train_csv, **dict(overrides or {}))
    _prepare(config.model_type, config.precision, allow_cpu)
    out_dir = os.path.join(output_dir, "model")
    print(f"accelerator: {accelerator}\npreset: {preset}\ntrain: {train_csv}\nmodel directory: {out_dir}")
    metrics = train_model(config, train_csv, out_dir)
    print(json.dumps(metrics, indent=2, sort_keys=True, default=str))
    return metrics


def main_train(argv=None) -> dict:
    parser = _io_parser("lmsys training kernel: leaves <output>/model")
    parser.add_argument("--preset", default=os.environ.get("LMSYS_PRESET"),
                        help="preset dir, name or 'tiny' (env LMSYS_PRESET; default: found under --input)")
    parser.add_argument("--accelerator", choices=["cpu", "gpu", "tpu"],
                        help="default: env LMSYS_ACCELERATOR, else what JAX sees")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="a Config field, e.g. --set epochs=1 --set sequence_length=64")
    parser.add_argument("--model-type", default=os.environ.get("LMSYS_MODEL_TYPE"),
                        help="model family, a key of lmsys.models.FAMILIES (env LMSYS_MODEL_TYPE; default siamese)")
    _allow_cpu_flag(parser)
    args = parser.parse_args(argv)
    from lmsys.config import parse_overrides

    try:
        overrides = parse_overrides(args.set)
    except ValueError as err:
        parser.error(str(err))
    return run_train(args.input, args.output, args.preset, args.accelerator, overrides, args.model_type,
                     allow_cpu=args.allow_cpu)
