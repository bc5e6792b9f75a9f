import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# One XLA compilation cache for the whole session, its subprocesses included: the tests build the same tiny
# models again and again, and on 2 cores compiling them was half the suite's time. A fresh directory per
# session, so no run depends on what an earlier one left; the tests that count compilations turn it off.
COMPILE_CACHE_ENV = {"JAX_COMPILATION_CACHE_DIR": tempfile.mkdtemp(prefix="lmsys-test-xla-"),
                     "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                     "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ.update(COMPILE_CACHE_ENV)
    atexit.register(shutil.rmtree, COMPILE_CACHE_ENV["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)

from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The real rows beside the checkout (999 training rows, the 3 real test rows); never copied into the project.
REAL_DIR = "../shared/data"
REAL_TRAIN_PATH = os.path.join(REAL_DIR, "train_sample.csv")
REAL_TEST_PATH = os.path.join(REAL_DIR, "test.csv")


@pytest.fixture(scope="session")
def real_data():
    """The real rows; a clone without ../shared/data beside it (a user's own) skips the tests that need them."""
    missing = [p for p in (REAL_TRAIN_PATH, REAL_TEST_PATH) if not os.path.exists(p)]
    if missing:
        pytest.skip(f"needs the real competition rows: {', '.join(missing)} not found (run the tests from the "
                    "repository root of a checkout with ../shared/data beside it); every other test still runs")
    return SimpleNamespace(train=REAL_TRAIN_PATH, test=REAL_TEST_PATH)


@pytest.fixture(scope="session")
def tiny_texts(real_data):
    """Option texts of the real rows, to train a tiny vocabulary on."""
    from lmsys.data import load_competition_csv
    from lmsys.data.options import build_options

    df = load_competition_csv(real_data.train)
    a, b = build_options(df, max_chars=2000)
    return df, a + b


@pytest.fixture(scope="session")
def tiny_parts(tiny_texts):
    """(config, tokenizer, backbone) of a small tiny model, random weights, float32."""
    import keras

    from lmsys.siamese.backbone import load_backbone, load_tokenizer
    from lmsys.siamese.train import default_config

    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    config = default_config("tiny", sequence_length=96, buckets=[32, 64], precision="float32", dropout=0.0)
    tokenizer = load_tokenizer("tiny", tiny_texts[1], 800)
    backbone = load_backbone("tiny", config, tokenizer)
    return config, tokenizer, backbone


# No test writes into the checkout: the user's next `invoke predict` must never pick up a test's model.
OUTPUT_DIRS = ("models", "data", "submission", "reports")
_REPO = REPO


def _outputs_snapshot() -> dict:
    found = {}
    for top in OUTPUT_DIRS:
        for dirpath, _, filenames in os.walk(os.path.join(_REPO, top)):
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    found[os.path.relpath(path, _REPO)] = os.stat(path).st_mtime_ns
                except OSError:
                    pass
    return found


def pytest_sessionstart(session):
    session.config._lmsys_outputs = _outputs_snapshot()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_lmsys_outputs", None)
    if before is None:
        return
    after = _outputs_snapshot()
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    if changed:
        session.config.get_terminal_writer().line(
            f"FAILED: the tests wrote into the checkout: {', '.join(changed[:10])}", red=True)
        session.exitstatus = 1


def run_script(script: str, *args, devices: int = 1, timeout: int = 600, compile_cache: bool = True,
               expect: str = "") -> dict:
    """Run `script` in a fresh interpreter that sees `devices` (forced) CPU devices; return its `RESULT {json}` line.

    `expect`: text its stdout must contain. `compile_cache=False` for scripts that count XLA compilations."""
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if not compile_cache:
        for key in COMPILE_CACHE_ENV:
            env.pop(key, None)
    proc = subprocess.run([sys.executable, "-c", script, *map(str, args)], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert expect in proc.stdout, proc.stdout[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no RESULT line in its output: {proc.stdout[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def random_head(model, seed: int = 0, scale: float = 0.5):
    """A fresh Siamese head has a zero kernel (it predicts the prior for every row); tests that compare outputs
    across inputs, forms or devices need one whose outputs differ from row to row."""
    import numpy as np

    rng = np.random.default_rng(seed)
    model.head.kernel.assign(rng.normal(0.0, scale, tuple(model.head.kernel.shape)).astype("float32"))
    model.head.bias.assign(rng.normal(0.0, scale, tuple(model.head.bias.shape)).astype("float32"))
    return model
