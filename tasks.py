"""invoke tasks: thin wiring only; every piece of logic lives in the lmsys package.

    invoke train [--data CSV] [--preset NAME|DIR|tiny] [--out DIR] ...   train (the default: tiny on the built-in sample)
    invoke predict [--model DIR] [--data TEST.csv] [--out submission/submission.csv]
    invoke validate --submission F --data TEST.csv
    invoke export --model DIR --out DIR2 [--quantize none|int8|int4]   an LLM with LoRA merged (and quantized)
    invoke sample [--out DIR]                                            write the built-in synthetic sample
    invoke test                                                          the unit tests

Every task ends a bad input or a fault with one line, `error: ... (see invoke --help TASK)`, and exit
status 1 (lmsys/cli_errors.py); `invoke --debug TASK` or LMSYS_DEBUG=1 shows the traceback too.
Numeric flags default to None here and are converted by the task (invoke would cast by the default's type).
"""

import sys

from invoke import task

from lmsys.cli_errors import cli_errors, number_flag
from lmsys.kaggle import COMPETITION
from lmsys.kaggle.metadata import DEFAULT_CODE_SLUG, DEFAULT_MODEL_SLUG
from lmsys.paths import MODELS_DIR, SAMPLE_DIR


@task(iterable=["set"],
      help={"data": "training csv (default: data/train.csv, else the built-in sample)",
            "preset": "keras-hub preset name, local preset directory, or 'tiny' (default: tiny)",
            "family": "model family: 'siamese' (DeBERTa-v3), 'features' (LightGBM on text features) or 'llm' "
                      "(decoder LLM + LoRA) (default: siamese)",
            "model": "old spelling of --family",
            "out": "model directory to write (default: models/<family>-<preset>, e.g. models/siamese-tiny); an "
                   "earlier run there is moved aside to .previous-<name>, never deleted",
            "epochs": "training epochs (default: 3; tiny: 4)",
            "batch_size": "pairs per batch (default: 16)",
            "sequence_length": "tokens per option (default: 512; tiny: 256)",
            "seed": "random seed for the split, initialisation and batch order (default: 42)",
            "learning_rate": "peak learning rate (default: 5e-6; tiny: 2e-3)",
            "precision": "auto, float32, mixed_float16 or mixed_bfloat16 (default: auto, by device)",
            "swap_augment": "true|false: swap A/B for a random half of each batch (default: false)",
            "attention": "fast or keras_hub (default: fast)",
            "resume": "continue a killed run from its last epoch (default: off)",
            "set": "any configuration field as KEY=VALUE (repeat the flag), e.g. --set max_chars=4000"})
def train(c, data=None, preset="tiny", family=None, model=None, out=None, epochs=None, batch_size=None,
          sequence_length=None, seed=None, learning_rate=None, precision=None, swap_augment=None,
          attention=None, resume=False, set=None):
    """Train a model directory (everything inference needs, plus history.csv and metrics.json)."""
    with cli_errors("train"):
        from lmsys.train import run_from_cli

        if family and model and family != model:
            raise ValueError(f"--family {family!r} and --model {model!r} disagree; --model is the old spelling of "
                             "--family: give one")
        run_from_cli(data=data, preset=preset, model_type=family or model or "siamese", out=out, epochs=epochs,
                     batch_size=batch_size, sequence_length=sequence_length, seed=seed,
                     learning_rate=learning_rate, precision=precision, swap_augment=swap_augment,
                     attention=attention, resume=resume, overrides=set or ())


@task(help={"model": "model directory (default: the last one `invoke train` wrote)",
            "data": "test csv (default: data/test.csv, else the built-in sample's)",
            "out": "submission csv to write",
            "tta": "true|false: average with the A/B-swapped prediction (default: the model's config, true)",
            "time_budget_hours": "finish within this many hours: the longest rows lose swap TTA, then are skipped "
                                 "(default: no budget; the inference kernel uses 8.5)"})
def predict(c, model=None, data=None, out="submission/submission.csv", tta=None, time_budget_hours=None):
    """Predict a test csv and write a validated submission."""
    with cli_errors("predict"):
        from lmsys.predict import run_from_cli

        run_from_cli(model_dir=model, test_csv=data, out=out, tta=tta, time_budget_hours=time_budget_hours)


@task(help={"model": "an llm model directory (LoRA + head)", "out": "the standalone model directory to write",
            "quantize": "none | int8 | int4 (Keras quantize() on the base; the head stays float32)"})
def export(c, model, out, quantize="none"):
    """Merge an LLM model's LoRA into its base (optionally quantized) as a model directory `invoke predict` reads."""
    with cli_errors("export"):
        from lmsys.llm.export import export_model

        export_model(model, out, quantize=quantize)


@task(help={"submission": "submission csv to check", "data": "the test csv it answers"})
def validate(c, submission, data):
    """Run the submission checks on any file."""
    with cli_errors("validate"):
        from lmsys.evaluate.submission import validate_file

        sub = validate_file(submission, data)
        print(f"{submission}: valid ({len(sub)} rows)")


@task(help={"out": f"directory for train.csv and test.csv (default: {SAMPLE_DIR})",
            "rows": "number of training rows (default: 2000)"})
def sample(c, out=SAMPLE_DIR, rows=None):
    """Write the built-in synthetic sample in the competition's exact format."""
    with cli_errors("sample"):
        from lmsys.data.sample import write_sample

        paths = write_sample(out, n_train=number_flag("--rows", rows, 2000, int, minimum=1))
        print("\n".join(paths))


@task
def test(c):
    """Run the unit tests with this project's own Python (the one running invoke)."""
    import shlex

    c.run(f"{shlex.quote(sys.executable)} -m pytest -q -n 2", pty=False)  # the README's command

# --- features model, blend, report (lmsys.gbm.model, lmsys.evaluate.blend, lmsys.evaluate.report) ---


@task(iterable=["model"],
      help={"model": "a model directory (repeat the flag; default: every one under models/ with val_predictions.csv)",
            "data": "test csv (default: data/test.csv, else the built-in sample's)",
            "out": "submission csv to write (the weights go beside it as .blend.json)",
            "temperature": "also fit a temperature on the validation rows"})
def blend(c, model=None, data=None, out="submission/blend.csv", temperature=True):
    """Blend model directories: weights (and temperature) fitted on their common validation rows."""
    with cli_errors("blend"):
        from lmsys.evaluate.blend import run_from_cli

        run_from_cli(model_dirs=model, test_csv=data, out=out, temperature=temperature)


@task(iterable=["model"],
      help={"data": "train csv for the data plots (default: data/train.csv, else the built-in sample)",
            "model": "a model directory (repeat the flag; default: every one under --root)",
            "root": "where to look for model directories", "out": "folder for the PNGs and models.md"})
def report(c, data=None, model=None, root=MODELS_DIR, out="reports"):
    """PNGs (models, winners, training curves, calibration) and models.md under reports/."""
    with cli_errors("report"):
        from lmsys.evaluate.report import run_report

        run_report(train_csv=data, model_dirs=model or None, models_root=root, out_dir=out)


# --- Kaggle (lmsys.kaggle) ---

COMPETITION_HELP = ("competition slug (default lmsys-chatbot-arena, which has ended; "
                    "llm-classification-finetuning is live with the same files and metric)")
WAIT_HELP = "minutes to wait for Kaggle to finish processing the dataset (default: 30; 0: do not wait)"


@task(help={"out": "directory for train.csv, test.csv, sample_submission.csv", "competition": COMPETITION_HELP})
def download(c, out="data", competition=COMPETITION):
    """Download the competition files with the kaggle client, unzip and check them."""
    from lmsys.kaggle.workflows import download as run

    with cli_errors("download"):
        run(out, competition=competition)


@task(help={"owner": "Kaggle user (default: from the credentials)", "slug": "dataset slug",
            "notes": "version notes",
            "wheels": "also push keras and keras-hub wheels at this machine's versions (kernels install them offline)",
            "wait": WAIT_HELP})
def push_code(c, owner=None, slug=DEFAULT_CODE_SLUG, notes="lmsys code", wheels=False, wait=None):
    """Upload the lmsys package as a Kaggle dataset (create, or a new version)."""
    import tempfile

    from lmsys.kaggle.wheels import download_wheels
    from lmsys.kaggle.workflows import push_code as run

    with cli_errors("push-code"), tempfile.TemporaryDirectory(prefix="lmsys-wheels-") as tmp:
        wait_s = number_flag("--wait", wait, 30.0, minimum=0) * 60
        run(owner=owner, slug=slug, notes=notes, wheels=download_wheels(tmp) if wheels else (), wait_s=wait_s)


@task(help={"model": "model directory made by `invoke train`", "owner": "Kaggle user (default: from the credentials)",
            "slug": "dataset slug", "notes": "version notes", "wait": WAIT_HELP})
def push_model(c, model, owner=None, slug=DEFAULT_MODEL_SLUG, notes=None, wait=None):
    """Upload a model directory as a Kaggle dataset (create, or a new version)."""
    from lmsys.kaggle.workflows import push_model as run

    with cli_errors("push-model"):
        run(model, owner=owner, slug=slug, notes=notes, wait_s=number_flag("--wait", wait, 30.0, minimum=0) * 60)


@task(help={"kernel": "infer or train", "accelerator": "gpu (T4 x2), p100, tpu (train only) or none",
            "owner": "Kaggle user (default: from the credentials)",
            "preset_source": "Kaggle Model for the train kernel, owner/model/framework/variation/version",
            "base_source": "the LLM's base Kaggle Model for the infer kernel, owner/model/framework/variation/version",
            "competition": COMPETITION_HELP,
            "allow_cpu": "let a model that needs an accelerator run on CPU when JAX sees none (else the kernel stops)"})
def push_kernel(c, kernel="infer", accelerator=None, owner=None, preset_source=None, competition=COMPETITION,
                allow_cpu=False, base_source=None):
    """Push kernels/<kernel> with owner, slugs, sources and accelerator filled in."""
    from lmsys.kaggle.workflows import push_kernel as run

    with cli_errors("push-kernel"):
        if preset_source and base_source and preset_source != base_source:
            raise ValueError("--preset-source and --base-source name the same model source; give one")
        run(kernel, owner=owner, accelerator=accelerator, preset_source=preset_source or base_source,
            competition=competition, allow_cpu=allow_cpu)


@task
def kernels(c):
    """Rewrite kernels/*/ from lmsys/kaggle/kernel_bootstrap.py (the kernels' one source; tests check they match)."""
    from lmsys.kaggle.metadata import write_checkout_kernels

    with cli_errors("kernels"):
        print("\n".join(write_checkout_kernels()))


@task(help={"message": "submission description", "accelerator": "gpu (T4 x2), p100 or none",
            "owner": "Kaggle user (default: from the credentials)",
            "kernel_timeout": "hours to wait for the kernel run (default: 9.5)",
            "poll": "seconds between status checks (default: 60)",
            "competition": COMPETITION_HELP,
            "allow_cpu": "let a model that needs an accelerator run on CPU when JAX sees none (else the kernel stops)",
            "base_source": "the LLM's base Kaggle Model, owner/model/framework/variation/version (a model source)"})
def submit(c, message="lmsys", accelerator=None, owner=None, kernel_timeout=None, poll=None, competition=COMPETITION,
           allow_cpu=False, base_source=None):
    """Push the inference kernel, wait for it, submit that version, print the score."""
    from lmsys.kaggle.workflows import submit as run

    with cli_errors("submit"):
        hours = number_flag("--kernel-timeout", kernel_timeout, 9.5, minimum=0)
        poll_s = number_flag("--poll", poll, 60.0, minimum=0.1)
        run(owner=owner, message=message, accelerator=accelerator, kernel_timeout_s=hours * 3600, poll_s=poll_s,
            competition=competition, allow_cpu=allow_cpu, base_source=base_source)
