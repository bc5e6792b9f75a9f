"""Data parallel over 2 (forced) CPU devices trains and predicts like one device."""


import numpy as np
import pytest

from conftest import run_script

from lmsys.devices.distribute import setup_data_parallel

SCRIPT = r"""
import json, os
import numpy as np
import jax, keras, keras_hub
from lmsys.config import Config
from lmsys.siamese.attention import attention_implementation
from lmsys.devices.distribute import setup_data_parallel
from lmsys.siamese.model import build_classifier, compile_classifier

assert jax.local_device_count() == 2, jax.devices()
rng = np.random.default_rng(0)
rows, length = 12, 24
ids = rng.integers(1, 500, size=(rows, 2, length)).astype("int32")
mask = np.ones_like(ids)
mask[::3, 1, 10:] = 0
mask[1::4, 0, 5:] = 0
x = {"token_ids": ids * mask, "padding_mask": mask, "lengths": rng.normal(size=(rows, 2, 3)).astype("float32")}
y = np.eye(3, dtype="float32")[rng.integers(0, 3, size=rows)]
config = Config(dropout=0.0, learning_rate=1e-3, warmup_fraction=0.0)

def run(distributed, attention):
    keras.distribution.set_distribution(None)
    devices = setup_data_parallel() if distributed else 1
    keras.utils.set_random_seed(0)
    with attention_implementation(attention):
        backbone = keras_hub.models.DebertaV3Backbone(
            vocabulary_size=500, num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64,
            max_sequence_length=64, bucket_size=16, dropout=0.0)
    model = build_classifier(config, backbone)
    initial = [np.array(w) for w in model.get_weights()]
    compile_classifier(model, config, total_steps=3)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    kernel = model.trainable_variables[0].value
    return dict(devices=devices, placed_on=len(kernel.sharding.device_set), initial=initial,
                weights=[np.array(w) for w in model.get_weights()],
                preds=np.array(model.predict(x, batch_size=4, verbose=0)))

# one device with keras-hub's attention vs two devices with the fast one: two runs cover both
# (the attention itself equals keras-hub's to ~1e-7, tests/test_attention.py)
one = run(False, "keras_hub")
results = {}
for attention in ("fast",):
    two = run(True, attention)
    results[attention] = dict(
        devices=two["devices"], placed_on=two["placed_on"],
        weight_diff=max(float(np.abs(a - b).max()) for a, b in zip(one["weights"], two["weights"])),
        pred_diff=float(np.abs(one["preds"] - two["preds"]).max()))
results["moved"] = max(float(np.abs(a - b).max()) for a, b in zip(one["initial"], one["weights"]))
results["single_placed_on"] = one["placed_on"]
print("RESULT " + json.dumps(results))
"""


def test_data_parallel_on_two_devices_matches_one_device():
    results = run_script(SCRIPT, devices=2, timeout=300)
    assert results["moved"] > 1e-4  # training really changed the weights
    assert results["single_placed_on"] == 1
    for attention in ("fast",):
        r = results[attention]
        assert r["devices"] == 2 and r["placed_on"] == 2, r  # variables replicated over both devices
        assert r["weight_diff"] < 1e-5, (attention, r)
        assert r["pred_diff"] < 1e-5, (attention, r)


def test_setup_data_parallel_is_a_no_op_on_one_device():
    keras = pytest.importorskip("keras")
    import jax

    if jax.local_device_count() != 1:
        pytest.skip("this process sees several devices")
    assert setup_data_parallel() == 1
    assert keras.distribution.distribution() is None


PIPELINE = r"""
import json, sys
import numpy as np, pandas as pd
from lmsys.data import load_competition_csv
from lmsys.models import predict_proba
from lmsys.siamese.train import default_config, train_model

rows = pd.read_csv(sys.argv[3]).head(160)
rows.to_csv(sys.argv[2] + "/train.csv", index=False)
tiny = dict(default_config("tiny").tiny_backbone, dropout=0.0)
config = default_config("tiny", epochs=1, sequence_length=64, buckets=[32], batch_size=8, dropout=0.0,
                        precision="float32", tiny_backbone=tiny)
metrics = train_model(config, sys.argv[2] + "/train.csv", sys.argv[2] + "/model", verbose=0)
probs = predict_proba(sys.argv[2] + "/model", load_competition_csv(sys.argv[4]), verbose=0)
print("RESULT " + json.dumps({"val": metrics["val_log_loss"], "probs": probs.tolist()}))
"""


def _pipeline(devices: int, out_dir, real_data) -> dict:
    return run_script(PIPELINE, devices, out_dir, real_data.train, real_data.test, devices=devices, timeout=400,
                      expect=f"{devices} device(s)")


def test_train_and_predict_over_two_devices_match_one_device(real_data, tmp_path):
    """The whole pipeline (bucketed split-form batches, filler rows, TTA) under DataParallel."""
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one, two = _pipeline(1, tmp_path / "one", real_data), _pipeline(2, tmp_path / "two", real_data)
    assert abs(one["val"] - two["val"]) < 1e-4, (one["val"], two["val"])
    np.testing.assert_allclose(two["probs"], one["probs"], atol=1e-4)
