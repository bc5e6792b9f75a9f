"""invoke tasks: thin wiring only; every piece of logic lives in the lmsys package.

    invoke train [--data CSV] [--preset NAME|DIR|tiny] [--out DIR] ...   train (the default: tiny on the built-in sample)
    invoke predict [--model DIR] [--data TEST.csv] [--out submission/submission.csv]
    invoke validate --submission F --data TEST.csv
    invoke sample [--out DIR]                                            write the built-in synthetic sample
    invoke test                                                          the unit tests
"""

from invoke import task

from lmsys.kaggle import COMPETITION
from lmsys.kaggle.metadata import DEFAULT_CODE_SLUG, DEFAULT_MODEL_SLUG
from lmsys.paths import MODELS_DIR, SAMPLE_DIR


@task(iterable=["set"],
      help={"data": "training csv (default: data/train.csv, else the built-in sample)",
            "preset": "keras-hub preset name, local preset directory, or 'tiny'",
            "model": "model family: 'siamese' (DeBERTa-v3) or 'features' (LightGBM on text features)",
            "out": "model directory to write", "resume": "continue a killed run from its last epoch",
            "set": "any configuration field as KEY=VALUE (repeat the flag), e.g. --set max_chars=4000"})
def train(c, data=None, preset="tiny", model="siamese", out=None, epochs=None, batch_size=None,
          sequence_length=None, seed=None, learning_rate=None, precision=None, swap_augment=None,
          attention=None, resume=False, set=None):
    """Train a model directory (everything inference needs, plus history.csv and metrics.json)."""
    from lmsys.train import run_from_cli

    run_from_cli(data=data, preset=preset, model_type=model, out=out, epochs=epochs, batch_size=batch_size,
                 sequence_length=sequence_length, seed=seed, learning_rate=learning_rate, precision=precision,
                 swap_augment=swap_augment, attention=attention, resume=resume, overrides=set or ())


@task(help={"model": "model directory (default: the last one `invoke train` wrote)",
            "data": "test csv (default: data/test.csv, else the built-in sample's)",
            "out": "submission csv to write",
            "tta": "true|false: average with the A/B-swapped prediction (default: the model's config, true)"})
def predict(c, model=None, data=None, out="submission/submission.csv", tta=None):
    """Predict a test csv and write a validated submission."""
    from lmsys.predict import run_from_cli

    run_from_cli(model_dir=model, test_csv=data, out=out, tta=tta)


@task(help={"submission": "submission csv to check", "data": "the test csv it answers"})
def validate(c, submission, data):
    """Run the submission checks on any file."""
    from lmsys.evaluate.submission import validate_file

    sub = validate_file(submission, data)
    print(f"{submission}: valid ({len(sub)} rows)")


@task(help={"out": "directory for train.csv and test.csv", "rows": "number of training rows"})
def sample(c, out=SAMPLE_DIR, rows=2000):
    """Write the built-in synthetic sample in the competition's exact format."""
    from lmsys.data.sample import write_sample

    paths = write_sample(out, n_train=int(rows))
    print("\n".join(paths))


@task
def test(c):
    """Run the unit tests."""
    c.run("python -m pytest -q", pty=False)

# --- features model, blend, report (lmsys.gbm.model, lmsys.evaluate.blend, lmsys.evaluate.report) ---


@task(iterable=["model"],
      help={"model": "a model directory (repeat the flag; default: every one under models/ with val_predictions.csv)",
            "data": "test csv (default: data/test.csv, else the built-in sample's)",
            "out": "submission csv to write (the weights go beside it as .blend.json)",
            "temperature": "also fit a temperature on the validation rows"})
def blend(c, model=None, data=None, out="submission/blend.csv", temperature=True):
    """Blend model directories: weights (and temperature) fitted on their common validation rows."""
    from lmsys.evaluate.blend import run_from_cli

    run_from_cli(model_dirs=model, test_csv=data, out=out, temperature=temperature)


@task(iterable=["model"],
      help={"data": "train csv for the data plots (default: data/train.csv, else the built-in sample)",
            "model": "a model directory (repeat the flag; default: every one under --root)",
            "root": "where to look for model directories", "out": "folder for the PNGs and models.md"})
def report(c, data=None, model=None, root=MODELS_DIR, out="reports"):
    """PNGs (models, winners, training curves, calibration) and models.md under reports/."""
    from lmsys.evaluate.report import run_report

    run_report(train_csv=data, model_dirs=model or None, models_root=root, out_dir=out)


# --- Kaggle (lmsys.kaggle) ---

COMPETITION_HELP = ("competition slug (default lmsys-chatbot-arena, which has ended; "
                    "llm-classification-finetuning is live with the same files and metric)")
WAIT_HELP = "minutes to wait for Kaggle to finish processing the dataset (0: do not wait)"


@task(help={"out": "directory for train.csv, test.csv, sample_submission.csv", "competition": COMPETITION_HELP})
def download(c, out="data", competition=COMPETITION):
    """Download the competition files with the kaggle client, unzip and check them."""
    from lmsys.kaggle import clean_exit
    from lmsys.kaggle.workflows import download as run

    with clean_exit():
        run(out, competition=competition)


@task(help={"owner": "Kaggle user (default: from the credentials)", "slug": "dataset slug",
            "notes": "version notes",
            "wheels": "also push keras and keras-hub wheels at this machine's versions (kernels install them offline)",
            "wait": WAIT_HELP})
def push_code(c, owner=None, slug=DEFAULT_CODE_SLUG, notes="lmsys code", wheels=False, wait=30):
    """Upload the lmsys package as a Kaggle dataset (create, or a new version)."""
    import tempfile

    from lmsys.kaggle import clean_exit
    from lmsys.kaggle.wheels import download_wheels
    from lmsys.kaggle.workflows import push_code as run

    with clean_exit(), tempfile.TemporaryDirectory(prefix="lmsys-wheels-") as tmp:
        run(owner=owner, slug=slug, notes=notes, wheels=download_wheels(tmp) if wheels else (),
            wait_s=float(wait) * 60)


@task(help={"model": "model directory made by `invoke train`", "owner": "Kaggle user (default: from the credentials)",
            "slug": "dataset slug", "notes": "version notes", "wait": WAIT_HELP})
def push_model(c, model, owner=None, slug=DEFAULT_MODEL_SLUG, notes=None, wait=30):
    """Upload a model directory as a Kaggle dataset (create, or a new version)."""
    from lmsys.kaggle import clean_exit
    from lmsys.kaggle.workflows import push_model as run

    with clean_exit():
        run(model, owner=owner, slug=slug, notes=notes, wait_s=float(wait) * 60)


@task(help={"kernel": "infer or train", "accelerator": "gpu (T4 x2), p100, tpu (train only) or none",
            "owner": "Kaggle user (default: from the credentials)",
            "preset_source": "Kaggle Model for the train kernel, owner/model/framework/variation/version",
            "competition": COMPETITION_HELP,
            "allow_cpu": "let a model that needs an accelerator run on CPU when JAX sees none (else the kernel stops)"})
def push_kernel(c, kernel="infer", accelerator=None, owner=None, preset_source=None, competition=COMPETITION,
                allow_cpu=False):
    """Push kernels/<kernel> with owner, slugs, sources and accelerator filled in."""
    from lmsys.kaggle import clean_exit
    from lmsys.kaggle.workflows import push_kernel as run

    with clean_exit():
        run(kernel, owner=owner, accelerator=accelerator, preset_source=preset_source, competition=competition,
            allow_cpu=allow_cpu)


@task
def kernels(c):
    """Rewrite kernels/*/ from lmsys/kaggle/kernel_bootstrap.py (the kernels' one source; tests check they match)."""
    from lmsys.kaggle.metadata import write_checkout_kernels

    print("\n".join(write_checkout_kernels()))


@task(help={"message": "submission description", "accelerator": "gpu (T4 x2), p100 or none",
            "owner": "Kaggle user (default: from the credentials)",
            "kernel_timeout": "hours to wait for the kernel run", "poll": "seconds between status checks",
            "competition": COMPETITION_HELP,
            "allow_cpu": "let a model that needs an accelerator run on CPU when JAX sees none (else the kernel stops)"})
def submit(c, message="lmsys", accelerator=None, owner=None, kernel_timeout=9.5, poll=60, competition=COMPETITION,
           allow_cpu=False):
    """Push the inference kernel, wait for it, submit that version, print the score."""
    from lmsys.kaggle import clean_exit
    from lmsys.kaggle.workflows import submit as run

    with clean_exit():
        run(owner=owner, message=message, accelerator=accelerator, kernel_timeout_s=float(kernel_timeout) * 3600,
            poll_s=float(poll), competition=competition, allow_cpu=allow_cpu)
