"""The memory plan: parameter counts from configs without allocating, bytes that match real (quantized)
models, and the choice/refusal on fake device lists."""

import resource
import warnings

import numpy as np
import pytest

from lmsys.devices.memory_plan import (GB, PlanError, describe_backbone, devices_from_spec, local_devices,
                                       plan_for)

GEMMA2 = dict(vocabulary_size=256000, head_dim=256, query_head_dim_normalize=True, use_post_ffw_norm=True,
              use_post_attention_norm=True, attention_logit_soft_cap=50.0, final_logit_soft_cap=30.0,
              use_sliding_window_attention=True, sliding_window_size=4096)
GEMMA2_9B = dict(GEMMA2, num_layers=42, num_query_heads=16, num_key_value_heads=8, hidden_dim=3584,
                 intermediate_dim=2 * 14336)
GEMMA2_2B = dict(GEMMA2, num_layers=26, num_query_heads=8, num_key_value_heads=4, hidden_dim=2304,
                 intermediate_dim=2 * 9216)
# Small, but with hidden > 128 so int4's groups of 128 inputs are exercised.
SMALL = dict(vocabulary_size=512, num_layers=1, num_query_heads=2, num_key_value_heads=1, hidden_dim=256,
             intermediate_dim=512, head_dim=128, use_post_ffw_norm=True, use_post_attention_norm=True,
             attention_logit_soft_cap=50.0, final_logit_soft_cap=30.0, use_sliding_window_attention=True,
             sliding_window_size=16)


@pytest.fixture(scope="module")
def gemma2_9b():
    from keras.src.backend.common import global_state

    pending = len(global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    shape = describe_backbone(GEMMA2_9B, name="gemma2 9B")
    grown_gb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 / GB
    # nothing left for keras to initialize later, and nothing like the 37 GB of float32 weights allocated
    assert len(global_state.get_global_attribute("uninitialized_variables", [])) == pending
    assert grown_gb < 2, grown_gb
    return shape


def test_gemma2_parameter_counts_from_config_alone(gemma2_9b):
    assert gemma2_9b.params == 9_241_705_984
    assert describe_backbone(GEMMA2_2B).params == 2_614_341_888


def test_preset_config_json_form_and_lora_count():
    preset_form = {"module": "keras_hub.src.models.gemma.gemma_backbone", "class_name": "GemmaBackbone",
                   "config": dict(SMALL, name="gemma_backbone", trainable=True, dtype="float32")}
    shape = describe_backbone(preset_form, lora_rank=4)
    import keras
    import keras_hub

    keras.config.set_dtype_policy("float32")
    real = keras_hub.models.GemmaBackbone(**SMALL)
    params = real.count_params()
    real.enable_lora(4)
    assert shape.params == params
    assert shape.lora_params == real.count_params() - params > 0


@pytest.mark.parametrize("precision,quantize", [("float32", None), ("float16", None), ("float32", "int8"),
                                                ("bfloat16", "int8"), ("float16", "int4"), ("float32", "int4")])
def test_weight_bytes_equal_a_real_model_of_that_dtype(precision, quantize):
    """The plan's bytes per device, against the variables keras really makes (quantized ones included)."""
    import keras
    import keras_hub

    shape = describe_backbone(SMALL)
    keras.config.set_dtype_policy(precision)
    try:
        real = keras_hub.models.GemmaBackbone(**SMALL)
        if quantize:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                real.quantize(quantize)
    finally:
        keras.config.set_dtype_policy("float32")
    real_bytes = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in real.weights)
    plan = plan_for(shape, precision, quantize, devices_from_spec("1xH100"))
    assert plan.weight_bytes_per_device == real_bytes


def test_9b_on_two_t4s_splits_in_float16(gemma2_9b):
    plan = plan_for(gemma2_9b, "auto", None, devices_from_spec("2xT4"), batch=2, sequence_length=1024)
    assert (plan.precision, plan.model_parallel, plan.data_parallel) == ("float16", 2, 1)
    assert 0.5 * 18.48 * GB < plan.weight_bytes_per_device < 0.52 * 18.48 * GB
    assert plan.fits and "model_parallel=2" in plan.summary() and "estimated" in plan.summary()
    print(plan.summary())


def test_9b_int8_on_t4_means_float32_compute_and_int4_one_copy_each(gemma2_9b):
    int8 = plan_for(gemma2_9b, "auto", "int8", devices_from_spec("2xT4"))
    assert int8.compute_dtype == "float32" and "float32 compute" in int8.summary()
    int4 = plan_for(gemma2_9b, "auto", "int4", devices_from_spec("2xT4"))
    assert int4.model_parallel == 1 and "one copy per device" in int4.summary()
    assert 4.6 * GB < int4.weight_bytes_per_device < 5.5 * GB
    # float32 activations take more than float16 ones for the same batch
    assert int8.activation_bytes_per_device > plan_for(gemma2_9b, "float16", None, devices_from_spec("2xT4"),
                                                       model_parallel=2).activation_bytes_per_device


def test_refusal_is_one_line_saying_what_would_fit(gemma2_9b):
    with pytest.raises(PlanError) as err:
        plan_for(gemma2_9b, "float16", None, devices_from_spec("1xT4"))
    message = str(err.value)
    assert "\n" not in message and "would fit" in message and "int8" in message and "int4" in message
    with pytest.raises(PlanError, match="model_parallel=2"):  # float16 asked without a split on 2 x T4
        plan_for(gemma2_9b, "float16", None, devices_from_spec("2xT4"), model_parallel=1)
    with pytest.raises(PlanError, match="precision=float16"):
        plan_for(gemma2_9b, "bfloat16", None, devices_from_spec("2xT4"))
    with pytest.raises(PlanError, match="model_parallel=3"):
        plan_for(gemma2_9b, "float16", None, devices_from_spec("2xT4"), model_parallel=3)
    with pytest.raises(PlanError, match="model_parallel=2.*int4"):
        plan_for(gemma2_9b, "float16", "int4", devices_from_spec("2xT4"), model_parallel=2)
    with pytest.raises(PlanError, match="quantize"):
        plan_for(gemma2_9b, "float16", "int2", devices_from_spec("2xT4"))


def test_h100_and_v5e_8(gemma2_9b):
    h100 = plan_for(gemma2_9b, "auto", None, devices_from_spec("1xH100"))
    assert (h100.precision, h100.model_parallel) == ("bfloat16", 1) and "one device" in h100.summary()
    v5e = plan_for(gemma2_9b, "auto", None, devices_from_spec("v5e-8"), model_parallel=8, batch=8)
    assert (v5e.precision, v5e.model_parallel, v5e.data_parallel) == ("bfloat16", 8, 1)
    assert v5e.weight_bytes_per_device < 18.48 * GB / 7
    auto = plan_for(gemma2_9b, "auto", None, devices_from_spec("v5e-8"))
    assert auto.model_parallel == 2  # the smallest split that fits 16 GB cores


def test_2b_fits_one_t4_in_float16():
    plan = plan_for(GEMMA2_2B, "auto", None, devices_from_spec("2xT4"), name="gemma2 2B")
    assert (plan.model_parallel, plan.data_parallel) == (1, 2) and plan.summary().startswith("gemma2 2B on 2 x T4")


def test_tiny_on_this_cpu():
    devices = local_devices()
    assert devices and all(d.memory_bytes > 0 for d in devices)
    plan = plan_for(SMALL, "auto", None, devices)
    assert plan.precision == "float32" and plan.model_parallel == 1 and plan.fits
    with pytest.raises(PlanError, match="devices"):
        devices_from_spec("twoT4")


def test_preset_directories_keras_hub_and_hugging_face(tmp_path, capsys):
    import json

    from lmsys.devices.memory_plan import announce_plan, backbone_config_from_dir

    keras_dir, hf_dir = tmp_path / "keras", tmp_path / "hf"
    keras_dir.mkdir(), hf_dir.mkdir()
    (keras_dir / "config.json").write_text(json.dumps({"module": "keras_hub.src.models.gemma.gemma_backbone",
                                                       "class_name": "GemmaBackbone", "config": SMALL}))
    (hf_dir / "config.json").write_text(json.dumps({
        "model_type": "gemma2", "vocab_size": 512, "num_hidden_layers": 1, "num_attention_heads": 2,
        "num_key_value_heads": 1, "hidden_size": 256, "intermediate_size": 256, "head_dim": 128,
        "query_pre_attn_scalar": 128, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
        "sliding_window": 16, "rms_norm_eps": 1e-6, "hidden_activation": "gelu_pytorch_tanh"}))
    cls, kwargs = backbone_config_from_dir(hf_dir)
    assert cls.__name__ == "GemmaBackbone" and kwargs["intermediate_dim"] == 512
    small = describe_backbone(SMALL).params
    assert describe_backbone(kwargs, cls).params == small
    plan = announce_plan(keras_dir, "float32", None, devices_from_spec("1xT4"))
    assert plan.params == small and capsys.readouterr().out.startswith("memory plan: gemma 0.5M on 1 x T4: float32")
    with pytest.raises(PlanError, match="config.json"):
        backbone_config_from_dir(tmp_path)
