"""bench/throughput.py: ids made by --tokenize are what --ids reads, and a micro run without TensorFlow
prints every figure line and exits 0 (the GPU machine has JAX, Keras and keras-hub but no TensorFlow)."""

import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REAL_TRAIN_PATH as REAL_TRAIN

SCRIPT = os.path.join("bench", "throughput.py")
MICRO = ["--config", "micro", "--sequence-length", "48", "--buckets", "24", "--batch-size", "4", "--steps", "2",
         "--predict-rows", "6", "--precision", "float32"]


def _bench():
    spec = importlib.util.spec_from_file_location("throughput_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _bench()


@pytest.fixture(scope="module")
def saved_ids(real_data, bench, tmp_path_factory):
    """Token ids of the first 30 real rows, tokenized as --tokenize does and saved as --save-ids does."""
    args = bench.parse_args(["--tokenize", "--csv", REAL_TRAIN, "--rows", "30", "--vocab", "300",
                             "--sequence-length", "48"])
    path = str(tmp_path_factory.mktemp("ids") / "ids.npz")
    bench.save_ids(path, bench.tokenize_rows(args))
    return path


def test_tokenized_ids_round_trip_with_special_tokens_and_length_approximations(real_data, bench, saved_ids):
    arrays = bench.load_ids(saved_ids)
    pairs = bench.pairs_from(arrays)
    assert len(pairs) == 30 and len(arrays["labels"]) == 30
    assert all(x[0] == 1 and x[-1] == 2 and len(x) <= 48 for x in pairs.a + pairs.b)  # [CLS] ... [SEP]
    assert len(arrays["chars4_all"]) == len(arrays["full_tokens"]) == 60
    assert (arrays["full_tokens"] >= np.r_[list(map(len, pairs.a)), list(map(len, pairs.b))]).all()


def test_ids_fold_into_a_smaller_vocabulary_keeping_special_tokens(bench):
    ids = np.array([0, 1, 2, 3, 4, 9, 10, 99], np.int32)
    arrays = {"a_ids": ids, "a_offsets": np.array([0, 8]), "b_ids": ids[:3], "b_offsets": np.array([0, 3]),
              "pad_id": np.int32(0)}
    folded = bench.pairs_from(arrays, vocab_size=10)
    assert folded.a[0][:6].tolist() == [0, 1, 2, 3, 4, 9]
    assert (folded.a[0] < 10).all() and (folded.a[0][6:] >= bench.SPECIAL_IDS).all()


def test_missing_ids_file_names_the_path_and_how_to_make_it(bench, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.npz.*--save-ids"):
        bench.load_ids(str(tmp_path / "nope.npz"))


@pytest.mark.slow
def test_ids_run_without_tensorflow_prints_every_figure(real_data, saved_ids, tmp_path):
    """TensorFlow shadowed by packages that fail to import, in this process and in the script's children."""
    for name in ("tensorflow", "tensorflow_text"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed on this machine')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.getcwd()]), KERAS_BACKEND="jax",
               TF_CPP_MIN_LOG_LEVEL="3")
    check = subprocess.run([sys.executable, "-c", "import tensorflow"], env=env, capture_output=True, text=True)
    assert check.returncode != 0 and "not installed" in check.stderr  # the shadow really blocks it
    proc = subprocess.run([sys.executable, SCRIPT, "--ids", saved_ids, *MICRO], env=env, capture_output=True,
                          text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for pattern in (r"^train rows/s: starter [\d,.]+  ours [\d,.]+  ratio [\d.]+x$",
                    r"^predict rows/s: starter [\d,.]+  ours [\d,.]+  ratio [\d.]+x$",
                    r"^train rows per CPU-second",
                    r"^padded-token fraction \(all 30 rows\): starter [\d.]+%  ours [\d.]+%$",
                    r"^peak memory \(process max RSS\): starter [\d,]+ MiB  ours [\d,]+ MiB$",
                    r"^XLA compile time excluded", r"^load average", r"^predict_tta_over_plain: [\d.]+$",
                    r"^ours' prediction with swap TTA in one pass .* the two-pass TTA it replaced: [\d.]+ s",
                    r"field notes' approximation, chars/4, all turns +median"):
        assert re.search(pattern, proc.stdout, re.M), f"missing {pattern!r} in:\n{proc.stdout[-3000:]}"
    assert re.search(r"^rows: 8 trained by the starter in 2 steps", proc.stdout, re.M)
