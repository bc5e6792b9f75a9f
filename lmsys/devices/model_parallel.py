"""Model parallel for LLM backbones too large for one device (Gemma-2-9B in float16 on a T4 pair).

The devices form a (batch, model) `keras.distribution.DeviceMesh`; the backbone class's own
`get_layout_map(mesh)` (keras-hub 0.32: Gemma, Llama, Qwen, Qwen-2) says which weights are split
over the model axis, and `keras.distribution.ModelParallel` splits each batch over the batch axis.
Weights a layout map does not name (LoRA, norms, a classifier head) are replicated. When the model
fits on one device the data parallel of lmsys.devices.distribute is used, as today.

    plan = plan_for(backbone_config, precision, quantize)          # lmsys.devices.memory_plan
    setup = setup_parallel(GemmaBackbone, model_parallel="auto", plan=plan)
    ... build the model (variables are placed when created), batches a multiple of setup.multiple,
    predict with lmsys.devices.distribute.place_batch as before.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ParallelSetup:
    kind: str  # "single", "data" or "model"
    model_parallel: int  # devices each weight is split over
    data_parallel: int  # copies; every global batch must be a multiple of this (`multiple`)

    @property
    def multiple(self) -> int:
        return self.data_parallel

    def describe(self) -> str:
        if self.kind == "model":
            return f"model parallel: {self.model_parallel} device(s) per copy, {self.data_parallel} cop(y/ies)"
        return f"{self.kind} parallel over {self.data_parallel} device(s)" if self.kind == "data" else "one device"


def model_parallel_distribution(backbone_cls, model_parallel: int, devices=None):
    """A keras ModelParallel over a (batch=devices/model_parallel, model=model_parallel) mesh, laid out by
    the backbone class's get_layout_map."""
    import keras

    devices = list(keras.distribution.list_devices() if devices is None else devices)
    if model_parallel < 1 or len(devices) % model_parallel:
        raise ValueError(f"model_parallel={model_parallel} must divide the {len(devices)} local device(s)")
    if not hasattr(backbone_cls, "get_layout_map"):
        raise ValueError(f"model_parallel={model_parallel}: {backbone_cls.__name__} has no get_layout_map; "
                         "use model_parallel=1")
    mesh = keras.distribution.DeviceMesh((len(devices) // model_parallel, model_parallel), ("batch", "model"),
                                         devices=devices)
    layout_map = backbone_cls.get_layout_map(mesh, model_parallel_dim_name="model", data_parallel_dim_name="batch")
    return keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")


def resolve_model_parallel(model_parallel="auto", plan=None) -> int:
    """'auto' takes the memory plan's choice; a number is taken as given (one clear error otherwise)."""
    if model_parallel in ("auto", None, ""):
        if plan is None:
            raise ValueError("model_parallel=auto needs a memory plan (lmsys.devices.memory_plan.plan_for) "
                             "or a number")
        return int(plan.model_parallel)
    try:
        value = int(model_parallel)
    except (TypeError, ValueError):
        raise ValueError(f"model_parallel must be 'auto' or a device count, got {model_parallel!r}") from None
    if value < 1:
        raise ValueError(f"model_parallel must be at least 1, got {value}")
    return value


def setup_parallel(backbone_cls, model_parallel="auto", plan=None, devices=None) -> ParallelSetup:
    """Set keras' distribution before the model is built: ModelParallel when model_parallel > 1, else
    today's data parallel over every local device (nothing on one device)."""
    import keras

    from lmsys.devices.distribute import setup_data_parallel

    n = resolve_model_parallel(model_parallel, plan)
    if n == 1:
        count = setup_data_parallel()
        return ParallelSetup("data" if count > 1 else "single", 1, count)
    if keras.config.backend() != "jax":
        raise ValueError(f"model_parallel={n} needs the JAX backend, not {keras.config.backend()}")
    distribution = model_parallel_distribution(backbone_cls, n, devices)
    keras.distribution.set_distribution(distribution)
    count = len(distribution.device_mesh.devices.flatten())
    return ParallelSetup("model", n, count // n)
