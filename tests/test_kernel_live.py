"""Issue 14, kernel side: TensorFlow gives up the GPUs, the CPU-fallback stop on Kaggle, malformed hidden-test
rows get the class prior (inference_report.json), non-finite batches are re-run in float32."""

import json
import os
import shutil
import subprocess
import sys
import types

import numpy as np
import pandas as pd
import pytest

import lmsys.models
from lmsys.evaluate.submission import validate_file, validate_submission
from test_kernels import REPO, TEST_CSV, kaggle_input

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "pre_registry")
SIAMESE = os.path.join(FIXTURES, "siamese-tiny")
FEATURES = os.path.join(FIXTURES, "features")


# ------------------------------------------------------------------ 3: TensorFlow and JAX on one GPU
@pytest.fixture
def fresh_tf_state(monkeypatch):
    from lmsys.devices import tf_gpus

    monkeypatch.setattr(tf_gpus, "_state", {})
    return tf_gpus


def test_hiding_gpus_calls_set_visible_devices_with_no_gpus(fresh_tf_state, monkeypatch):
    calls = []
    fake_config = types.SimpleNamespace(set_visible_devices=lambda devices, kind: calls.append((devices, kind)),
                                        get_visible_devices=lambda kind: [])
    monkeypatch.setitem(sys.modules, "tensorflow", types.SimpleNamespace(config=fake_config))
    assert fresh_tf_state.hide_gpus_from_tensorflow() is True
    assert fresh_tf_state.hide_gpus_from_tensorflow() is True  # once per process
    assert calls == [([], "GPU")]


def test_tensorflow_that_already_holds_a_gpu_is_reported(fresh_tf_state, monkeypatch):
    def refuse(devices, kind):
        raise RuntimeError("Visible devices cannot be modified after being initialized")

    fake_config = types.SimpleNamespace(set_visible_devices=refuse, get_visible_devices=lambda kind: ["GPU:0"])
    monkeypatch.setitem(sys.modules, "tensorflow", types.SimpleNamespace(config=fake_config))
    with pytest.warns(RuntimeWarning, match="already holds GPU"):
        assert fresh_tf_state.hide_gpus_from_tensorflow() is False


def test_real_tensorflow_lists_no_visible_gpu_after_hiding(fresh_tf_state):
    import tensorflow as tf

    fresh_tf_state.hide_gpus_from_tensorflow()
    assert tf.config.get_visible_devices("GPU") == []


def test_the_registry_hides_gpus_before_a_family_that_needs_an_accelerator_predicts(monkeypatch):
    import lmsys.devices.tf_gpus
    import lmsys.gbm
    import lmsys.siamese

    order = []
    monkeypatch.setattr(lmsys.devices.tf_gpus, "hide_gpus_from_tensorflow", lambda: order.append("hide"))
    monkeypatch.setattr(lmsys.siamese, "predict_proba", lambda *a, **k: order.append("siamese") or np.zeros((0, 3)))
    monkeypatch.setattr(lmsys.gbm, "predict_proba", lambda *a, **k: order.append("features") or np.zeros((0, 3)))
    lmsys.models.predict_proba(SIAMESE, pd.DataFrame())
    lmsys.models.predict_proba(FEATURES, pd.DataFrame())
    assert order == ["hide", "siamese", "features"]  # LightGBM needs no GPU: TensorFlow is left alone there


def test_needs_accelerator_per_family():
    assert lmsys.models.needs_accelerator("siamese") is True
    assert lmsys.models.needs_accelerator("features") is False
    from lmsys.config import Config

    assert lmsys.models.needs_accelerator(Config.load(FEATURES)) is False


# ------------------------------------------------------------------ 2: no silent CPU fallback on Kaggle
def test_on_kaggle_a_siamese_model_without_accelerator_stops_unless_allowed(monkeypatch, capsys):
    from lmsys.kaggle.kernel_env import AcceleratorMissingError, check_accelerator

    kaggle = {"KAGGLE_KERNEL_RUN_TYPE": "Batch"}
    with pytest.raises(AcceleratorMissingError, match=r"'siamese' model needs a GPU or TPU, but JAX sees only \['cpu'\]"):
        check_accelerator("siamese", allow_cpu=False, environ=kaggle)
    check_accelerator("siamese", allow_cpu=True, environ=kaggle)
    assert "running the 'siamese' model on CPU" in capsys.readouterr().out
    check_accelerator("features", allow_cpu=False, environ=kaggle)  # LightGBM: fine on CPU
    check_accelerator("siamese", allow_cpu=False, environ={})  # not on Kaggle: local CPU runs are normal
    import lmsys.kaggle.kernel_env as env

    monkeypatch.setattr(env, "jax_devices", lambda: [types.SimpleNamespace(platform="gpu")])
    check_accelerator("siamese", allow_cpu=False, environ=kaggle)


def run_infer_kernel(tmp_path, *args, env=None, script=None):
    (tmp_path / "tmp").mkdir(exist_ok=True)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("KAGGLE_", "LMSYS_"))}
    environ.update({"KERAS_BACKEND": "jax", "PYTHONPATH": "", "TMPDIR": str(tmp_path / "tmp"),
                    "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "",
                    **(env or {})})
    script = script or os.path.join(REPO, "kernels", "infer", "infer.py")
    return subprocess.run([sys.executable, str(script), *map(str, args)], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_infer_kernel_on_kaggle_without_gpu_stops_then_runs_with_allow_cpu(real_data, tmp_path):
    """The kernel as Kaggle runs it (attached code zip and model, KAGGLE_KERNEL_RUN_TYPE set) on this CPU machine."""
    inp, out = kaggle_input(tmp_path, SIAMESE), tmp_path / "working"
    proc = run_infer_kernel(tmp_path, "--input", inp, "--output", out, env={"KAGGLE_KERNEL_RUN_TYPE": "Batch"})
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "error: the 'siamese' model needs a GPU or TPU" in proc.stderr and "Traceback" not in proc.stderr
    assert "--allow-cpu" in proc.stderr
    # what it printed first: devices, precision policy, versions, the code dataset's stamp, the model's hash
    for line in ("jax.devices(): [CpuDevice(id=0)]", "precision policy: float32", "versions: jax ",
                 "keras-hub ", "tensorflow ", "code dataset: lmsys ", "model dataset: config "):
        assert line in proc.stdout, line
    assert not os.path.exists(out / "submission.csv")

    # the pushed script with allow_cpu written in by push-kernel (a Kaggle script gets no arguments)
    from lmsys.kaggle.workflows import with_push_settings

    with open(os.path.join(REPO, "kernels", "infer", "infer.py"), encoding="utf-8") as fh:
        pushed = with_push_settings(fh.read(), {"allow_cpu": True, "push_id": "test-push-1"})
    script = tmp_path / "script.py"  # as Kaggle runs it: /kaggle/src/script.py, outside any checkout
    script.write_text(pushed)
    proc = run_infer_kernel(tmp_path, "--input", inp, "--output", out, env={"KAGGLE_KERNEL_RUN_TYPE": "Batch"},
                            script=script)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "running the 'siamese' model on CPU because CPU was allowed" in proc.stdout
    assert sorted(os.listdir(out)) == ["inference_report.json", "submission.csv"]
    validate_file(out / "submission.csv", TEST_CSV)
    report = json.loads((out / "inference_report.json").read_text())
    assert report["push_id"] == "test-push-1" and report["rows"] == 3 and report["skipped_rows"] == 0
    assert report["rows_with_tta"] == 3 and report["token_budget"] == 64 and report["degradations"] == []
    assert report["code"]["lmsys_version"] and report["model"]["config_sha256"]


# ------------------------------------------------------------------ 6: a malformed hidden-test row
def malformed_test_csv(tmp_path):
    test = pd.read_csv(TEST_CSV)
    bad = test.iloc[[1]].copy()
    bad["id"] = 999001
    bad["response_a"] = '["an unterminated JSON list'
    rows = pd.concat([test.iloc[:1], bad, test.iloc[1:]], ignore_index=True)  # the bad row in the middle
    path = tmp_path / "test.csv"
    rows.to_csv(path, index=False)
    return path, rows


def expected_prior(model_dir):
    labels = pd.read_csv(os.path.join(model_dir, "val_predictions.csv"))["class_label"].to_numpy()
    counts = np.array([(labels == k).sum() for k in range(3)], dtype=float)
    return (counts + 1) / (counts.sum() + 3)


@pytest.mark.parametrize("model_dir", [SIAMESE, FEATURES], ids=["siamese", "features"])
def test_infer_kernel_gives_a_malformed_row_the_class_prior_and_reports_it(real_data, tmp_path, model_dir, capsys):
    from lmsys.kaggle.kernel_main import main_infer

    path, rows = malformed_test_csv(tmp_path)
    clean = tmp_path / "clean"
    main_infer(["--input", str(tmp_path), "--output", str(clean), "--model", model_dir, "--test", TEST_CSV])
    out = tmp_path / "working"
    main_infer(["--input", str(tmp_path), "--output", str(out), "--model", model_dir, "--test", str(path)])
    assert "1 malformed test row(s) skipped" in capsys.readouterr().out

    sub = pd.read_csv(out / "submission.csv")
    validate_submission(sub, rows["id"].to_numpy())  # every row, in the file's order
    cols = ["winner_model_a", "winner_model_b", "winner_tie"]
    np.testing.assert_allclose(sub.loc[sub["id"] == 999001, cols].to_numpy()[0], expected_prior(model_dir), atol=1e-8)
    good = pd.read_csv(clean / "submission.csv")
    np.testing.assert_allclose(sub[sub["id"] != 999001][cols].to_numpy(), good[cols].to_numpy(), atol=1e-6)
    report = json.loads((out / "inference_report.json").read_text())
    assert report["rows"] == 4 and report["skipped_rows"] == 1 and list(report["skipped"]) == ["999001"]
    assert "response_a" in report["skipped"]["999001"]
    assert report["prior_source"].startswith("label frequencies of")
    assert report["rows_with_tta"] == 3  # the three parsed rows


def test_infer_kernel_with_strict_stops_at_the_malformed_row(real_data, tmp_path):
    from lmsys.data.read import DataError
    from lmsys.kaggle.kernel_main import main_infer

    path, _ = malformed_test_csv(tmp_path)
    with pytest.raises(DataError, match="row id 999001, column 'response_a'"):
        main_infer(["--input", str(tmp_path), "--output", str(tmp_path / "w"), "--model", FEATURES,
                    "--test", str(path), "--strict"])


def test_class_prior_without_validation_predictions_is_uniform(tmp_path):
    from lmsys.evaluate.inference_report import class_prior

    prior, source = class_prior(tmp_path)
    assert prior.tolist() == [1 / 3] * 3 and source.startswith("uniform")


# ------------------------------------------------------------------ 7: non-finite batches re-run in float32
def test_a_non_finite_batch_is_re_run_in_float32_and_counted(real_data, tmp_path, monkeypatch):
    import keras

    from lmsys.config import Config
    from lmsys.data import load_competition_csv
    from lmsys.siamese.predict import predict_proba

    df = load_competition_csv(TEST_CSV)
    float32_probs = predict_proba(SIAMESE, df, verbose=0)

    model_dir = tmp_path / "bf16"
    shutil.copytree(SIAMESE, model_dir)
    Config.load(model_dir).replace(precision="mixed_bfloat16").save(model_dir)  # as a T4 run predicts in 16 bits
    original = keras.Model.predict_on_batch
    forced = {"nan": 0, "float32": 0}

    def overflowing(self, x):  # every 16-bit batch overflows; float32 ones run normally
        out = np.asarray(original(self, x))
        if self.dtype_policy.name != "float32":
            forced["nan"] += 1
            return np.full_like(out, np.nan)
        forced["float32"] += 1
        return out

    monkeypatch.setattr(keras.Model, "predict_on_batch", overflowing)
    report = {}
    try:
        probs = predict_proba(model_dir, df, verbose=0, report=report)
    finally:
        keras.config.set_dtype_policy("float32")
    assert forced["nan"] > 0 and report["nonfinite_reruns"] == forced["nan"] == forced["float32"]
    np.testing.assert_allclose(probs, float32_probs, atol=1e-6)
    assert np.isfinite(probs).all()


def test_a_non_finite_batch_already_in_float32_is_an_error():
    from lmsys.siamese.predict import _rerun_in_float32

    with pytest.raises(FloatingPointError, match="already runs in float32"):
        _rerun_in_float32(None, None, 1, None, {})

    class StillNan:
        inference = "plain"

        def set_inference(self, mode):
            self.inference = mode

        def predict_on_batch(self, batch):
            return np.full((2, 3), np.nan)

    report = {}
    with pytest.raises(FloatingPointError, match="in float32 too"):
        _rerun_in_float32(StillNan(), None, 2, lambda: StillNan(), report)
    assert report["nonfinite_reruns"] == 1
