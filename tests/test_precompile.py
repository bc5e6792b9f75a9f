"""Every step program is compiled once, up front and in parallel, and the real steps reuse it."""

import os
from collections import Counter

import numpy as np
import pytest

from conftest import run_script

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = ("jit(train_step)", "jit(test_step)", "jit(predict_step)")


class CompileLog:
    """XLA compilations seen while `active`, by jitted function name (jax.monitoring events)."""

    def __init__(self):
        import jax

        self.active, self.names = False, Counter()
        jax.monitoring.register_event_duration_secs_listener(self._event)

    def _event(self, name, duration, **kwargs):
        if self.active and name.endswith("backend_compile_duration"):
            self.names[kwargs.get("fun_name", "?")] += 1

    def __enter__(self):
        import jax

        self.names.clear()
        self.active = True
        self.cached = jax.config.jax_enable_compilation_cache
        jax.config.update("jax_enable_compilation_cache", False)  # a cache hit is no compilation event
        return self

    def __exit__(self, *exc):
        import jax

        self.active = False
        jax.config.update("jax_enable_compilation_cache", self.cached)

    def steps(self) -> dict:
        return {name: self.names[name] for name in STEPS if self.names[name]}


@pytest.fixture(scope="module")
def compile_log():
    return CompileLog()


def _random_pairs(n, seed=0, vocab=500, longest=90):
    from lmsys.siamese.tokens import TokenizedPairs

    rng = np.random.default_rng(seed)
    sides = [[rng.integers(5, vocab, rng.integers(3, longest)).astype(np.int32) for _ in range(n)] for _ in range(2)]
    lengths = rng.normal(size=(2, n, 3)).astype(np.float32)  # the default model's three length features
    return TokenizedPairs(sides[0], sides[1], 0, lengths[0], lengths[1])


def _compiled_model(config, total_steps):
    """A one-layer Siamese classifier (random weights, vocabulary 500), compiled for training."""
    import keras_hub

    from lmsys.siamese.model import build_classifier, compile_classifier

    backbone = keras_hub.models.DebertaV3Backbone(vocabulary_size=500, num_layers=1, num_heads=2, hidden_dim=32,
                                                  intermediate_dim=64, max_sequence_length=96, bucket_size=16)
    model = build_classifier(config, backbone)
    compile_classifier(model, config, total_steps=total_steps)
    return model


@pytest.mark.parametrize("pad_each_option", [True, False])
def test_precompiled_steps_are_not_compiled_again_by_the_real_calls(tiny_parts, compile_log, pad_each_option):
    from lmsys.siamese.batching import pad_batch, prediction_plan, training_plan
    from lmsys.devices.precompile import one_per_shape, precompile

    config = tiny_parts[0].replace(pad_each_option=pad_each_option, batch_size=4, compile_threads=2)
    model = _compiled_model(config, total_steps=50)
    pairs = _random_pairs(24, longest=60)  # two buckets (32, 64): a few programs, each compiled uncached
    y = np.eye(3, dtype=np.float32)[np.arange(24) % 3]
    plan = training_plan(pairs, config, np.random.default_rng(0))
    batches = [(pad_batch(pairs, i, s), y[i], (np.arange(len(i)) < r).astype(np.float32)) for i, s, r in plan]
    pred = [pad_batch(pairs, i, s) for i, s, _ in prediction_plan(pairs, config)]
    shapes = len(one_per_shape(plan))
    assert shapes >= 2  # the buckets really give several programs

    with compile_log:
        report = precompile(model, train=batches, test=batches, predict=pred, workers=2, verbose=False)
    assert report["programs"] == {"train": shapes, "test": shapes, "predict": len(one_per_shape(prediction_plan(pairs, config)))}
    assert compile_log.steps() == {f"jit({k}_step)": n for k, n in report["programs"].items()}

    with compile_log:
        for x, yy, w in batches:
            model.train_on_batch(x, yy, sample_weight=w)
            model.test_on_batch(x, yy, sample_weight=w)
        for x in pred:
            model.predict_on_batch(x)
    assert compile_log.steps() == {}


def test_training_compiles_each_step_program_once(tmp_path, compile_log):
    from lmsys.siamese.batching import prediction_plan, training_plan
    from lmsys.devices.precompile import one_per_shape
    from lmsys.data.sample import write_sample
    from lmsys.data.split import train_val_split
    from lmsys.data import load_competition_csv
    from lmsys.siamese.train import default_config, train_model

    train_csv, _ = write_sample(tmp_path / "data", n_train=240, n_test=4)
    config = default_config("tiny", epochs=2, sequence_length=64, buckets=[32], batch_size=8, precision="float32",
                            compile_threads=2)
    with compile_log:
        train_model(config, train_csv, str(tmp_path / "model"), verbose=0)
    steps = compile_log.steps()

    # the shapes the run used, recomputed from its own tokenization
    from lmsys.siamese.checkpoint import load_classifier
    from lmsys.siamese.tokens import tokenize_pairs

    saved, _, tokenizer = load_classifier(str(tmp_path / "model"))
    train_df, val_df = train_val_split(load_competition_csv(train_csv), saved.val_fraction, saved.seed)
    pairs_tr = tokenize_pairs(train_df, saved, tokenizer, progress=False)
    pairs_va = tokenize_pairs(val_df, saved, tokenizer, progress=False)
    train_shapes = len(one_per_shape(training_plan(pairs_tr, saved, np.random.default_rng(0))))
    val_shapes = len(one_per_shape(prediction_plan(pairs_va, saved)))
    assert train_shapes >= 2 and val_shapes >= 2
    # once each: a real step that missed the precompiled program would compile it a second time
    assert steps == {"jit(train_step)": train_shapes, "jit(test_step)": val_shapes,
                     "jit(predict_step)": val_shapes}, steps


TWO_DEVICES = r"""
import json
import numpy as np, jax, keras, keras_hub
from lmsys.config import Config
from lmsys.devices.distribute import setup_data_parallel
from lmsys.siamese.model import build_classifier, compile_classifier
from lmsys.siamese.batching import pad_batch, training_plan
from lmsys.devices.precompile import precompile
from lmsys.siamese.predict import precompile_prediction, predict_pairs
from lmsys.devices.distribute import place_batch
from lmsys.siamese.tokens import TokenizedPairs

names = []
jax.monitoring.register_event_duration_secs_listener(
    lambda name, d, **kw: names.append(kw.get("fun_name")) if name.endswith("backend_compile_duration") else None)
multiple = setup_data_parallel()
config = Config(batch_size=4, sequence_length=64, buckets=[32], precision="float32")
rng = np.random.default_rng(0)
pairs = TokenizedPairs(*[[rng.integers(5, 300, rng.integers(3, 60)).astype(np.int32) for _ in range(24)]
                         for _ in range(2)], 0, *rng.normal(size=(2, 24, 3)).astype(np.float32))
y = np.eye(3, dtype=np.float32)[np.arange(24) % 3]
backbone = keras_hub.models.DebertaV3Backbone(vocabulary_size=300, num_layers=1, num_heads=2, hidden_dim=32,
                                              intermediate_dim=64, max_sequence_length=64, bucket_size=16)
model = build_classifier(config, backbone)
compile_classifier(model, config, total_steps=20)
plan = training_plan(pairs, config, rng, multiple)
batches = [(pad_batch(pairs, i, s), y[i], (np.arange(len(i)) < r).astype(np.float32)) for i, s, r in plan]
report = precompile(model, train=batches, workers=2, verbose=False)
precompile_prediction(model, pairs, config.replace(compile_threads=2), multiple)
before = len(names)
for x, yy, w in batches:
    model.train_on_batch(x, yy, sample_weight=w)
probs = predict_pairs(model, pairs, config, multiple)
late = [n for n in names[before:] if n in ("jit(train_step)", "jit(predict_step)")]
split = str(place_batch(batches[0][0])["short_ids"].sharding.spec)
print("RESULT " + json.dumps({"devices": multiple, "programs": report["programs"], "late": late, "split": split,
                              "rows": len(probs)}))
"""


def test_precompiled_programs_are_reused_under_data_parallel_on_two_devices():
    result = run_script(TWO_DEVICES, devices=2, timeout=300, compile_cache=False)  # it counts compilations
    assert result["devices"] == 2 and result["programs"]["train"] >= 2, result
    assert result["late"] == [], result  # prediction too: its batches are split like fit's, not copied to each device
    assert result["split"].startswith("P('batch'") and result["rows"] == 24, result


def test_precompile_falls_back_to_lazy_compilation_when_keras_internals_move(tiny_parts, monkeypatch):
    from lmsys.siamese.batching import pad_batch, training_plan
    from lmsys.devices.precompile import precompile

    config = tiny_parts[0].replace(batch_size=4)
    model = _compiled_model(config, total_steps=10)
    pairs = _random_pairs(8)
    y = np.eye(3, dtype=np.float32)[np.arange(8) % 3]
    index, shape, _ = training_plan(pairs, config, np.random.default_rng(0))[0]
    batch = (pad_batch(pairs, index, shape), y[index], np.ones(len(index), np.float32))

    def moved(*args, **kwargs):
        raise AttributeError("'Model' object has no attribute '_get_jax_state'")

    monkeypatch.setattr(model, "_get_jax_state", moved)
    with pytest.warns(UserWarning, match="precompile skipped"):
        report = precompile(model, train=[batch], verbose=False)
    assert report["programs"] == {} and "_get_jax_state" in report["skipped"]
    monkeypatch.undo()
    logs = model.train_on_batch(*batch, return_dict=True)  # training itself is unaffected
    assert np.isfinite(logs["loss"])
