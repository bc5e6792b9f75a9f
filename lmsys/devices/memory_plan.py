"""A memory plan before anything loads: how a keras-hub LLM backbone will run on the local devices.

Loading a 9B model to find out it does not fit costs minutes of a 9-hour Kaggle kernel (and an
out-of-memory crash leaves no submission), so the plan is computed from the backbone's config
alone: the backbone is built inside a keras StatelessScope that never initializes its variables
(shapes only, no weights allocated; a 9B config builds in ~2 s), the class's `get_layout_map`
says which weights a (batch, model) mesh shards, and per-variable byte counts follow from the
precision and the quantization. Activations are an estimate (labelled so everywhere), not a
measurement.

    plan = plan_for(config, precision="auto", quantize=None, devices=local_devices())
    print(plan.summary())   # or PlanError: one line saying what would fit
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

GB = 1e9  # decimal, as Kaggle and the field notes quote memory ("T4 15 GB", "9B is 18.5 GB in 16-bit")

# Per-device memory where jax reports none (memory_stats() is absent or empty), by device kind.
# These are the figures the issue states; an unknown kind needs memory_stats() or an explicit figure.
KNOWN_MEMORY_GB = {"T4": 15.0, "P100": 16.0, "H100": 80.0, "TPU V5 LITE": 16.0, "TPU V5E": 16.0}
# Devices without fast bfloat16 (same list precision.py uses to pick mixed_float16).
from lmsys.devices.precision import _FP16_GPUS  # noqa: E402

PRECISIONS = ("auto", "float32", "float16", "bfloat16")
QUANTIZATIONS = (None, "int8", "int4")
BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
# Share of each device's memory the plan lets weights + activations use: the rest is left to XLA's
# workspace, fragmentation and the runtime. A setting, not a measurement.
DEFAULT_USABLE_FRACTION = 0.9


class PlanError(ValueError):
    """The model cannot run as asked; the message is one line naming what would."""


@dataclass(frozen=True)
class Device:
    platform: str  # "gpu", "tpu", "cpu"
    kind: str  # "Tesla T4", "NVIDIA H100 80GB HBM3", "TPU v5 lite", "cpu"
    memory_bytes: float
    source: str  # "memory_stats", "known figure", "host memory", "given"

    @property
    def short(self) -> str:
        kind = self.kind.upper()
        for name in ("T4", "P100", "H100", "H200", "A100", "L4", "V100"):
            if name in kind:
                return name
        return self.kind


def _known_memory(kind: str) -> float | None:
    kind = kind.upper()
    for name, gb in KNOWN_MEMORY_GB.items():
        if name in kind:
            return gb * GB
    return None


def local_devices() -> list[Device]:
    """jax's local devices with their memory: memory_stats()'s bytes_limit (what this process may
    really use, so JAX's preallocation fraction is respected), else the known figure for the kind,
    else (CPU) the host's memory shared by the CPU devices."""
    import jax

    found = jax.local_devices()
    cpus = sum(d.platform == "cpu" for d in found)
    out = []
    for d in found:
        kind = getattr(d, "device_kind", d.platform)
        stats = None
        try:
            stats = d.memory_stats()
        except Exception:  # noqa: BLE001 - backends without it raise or return None
            stats = None
        if stats and stats.get("bytes_limit"):
            out.append(Device(d.platform, kind, float(stats["bytes_limit"]), "memory_stats"))
        elif d.platform == "cpu":
            host = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            out.append(Device("cpu", "cpu", host / max(cpus, 1), "host memory"))
        else:
            memory = _known_memory(kind)
            if memory is None:
                raise PlanError(f"device kind {kind!r} reports no memory and has no known figure; pass devices= "
                                "with memory (devices_from_spec, e.g. '2xT4') to plan for it")
            out.append(Device(d.platform, kind, memory, "known figure"))
    return out


def devices_from_spec(spec: str) -> list[Device]:
    """Devices by name, to plan for a machine this process is not on: '2xT4', '1xH100', 'v5e-8',
    'cpu' (this host's memory), or 'NxKIND:GB' for any other kind."""
    text = spec.strip()
    if text.lower() == "cpu":
        host = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return [Device("cpu", "cpu", float(host), "host memory")]
    if text.lower().startswith("v5e-"):
        count = int(text[4:])
        return [Device("tpu", "TPU v5 lite", KNOWN_MEMORY_GB["TPU V5E"] * GB, "known figure")] * count
    count, sep, kind = text.partition("x")
    if not sep or not count.isdigit():
        raise PlanError(f"devices {spec!r}: expected 'NxKIND' (e.g. 2xT4), 'v5e-8', 'cpu' or 'NxKIND:GB'")
    kind, _, gb = kind.partition(":")
    memory = float(gb) * GB if gb else _known_memory(kind)
    if memory is None:
        raise PlanError(f"devices {spec!r}: no known memory for {kind!r}; give it as NxKIND:GB")
    platform = "tpu" if kind.upper().startswith("TPU") else "gpu"
    return [Device(platform, kind, memory, "given" if gb else "known figure")] * int(count)


# ---------------------------------------------------------------------------------------------
# The model's variables, from its config, without allocating them


@dataclass(frozen=True)
class Weight:
    path: str
    shape: tuple
    layer: str  # class name of the owning layer: EinsumDense, Dense, ReversibleEmbedding, ...
    reduced: int  # EinsumDense/Dense: size of the contracted (input) axes; embeddings: the output dim
    lora: bool = False


@dataclass
class ModelShape:
    """What the plan needs to know about a backbone: its variables and the sizes activations scale with."""

    name: str
    backbone_cls: type
    config: dict
    weights: list
    params: int
    lora_params: int

    def dim(self, *names, default=None):
        for name in names:
            if self.config.get(name) is not None:
                return self.config[name]
        return default


def _backbone_class(config, backbone_cls):
    if backbone_cls is not None:
        return backbone_cls
    import keras_hub

    name = config.get("class_name") if isinstance(config, dict) else None
    if name:  # a preset's config.json: {"module": ..., "class_name": "GemmaBackbone", "config": {...}}
        cls = getattr(keras_hub.models, name.split(">")[-1], None)
        if cls is None:
            raise PlanError(f"config class_name {name!r} is not a keras_hub.models backbone")
        return cls
    return keras_hub.models.GemmaBackbone


def _reduced_size(layer, kernel_shape) -> int:
    """Size of a kernel's contracted axes: a quantized kernel keeps one scale per remaining entry."""
    equation = getattr(layer, "equation", None)
    if equation:  # EinsumDense: "btd,ndh->btnh": kernel letters absent from the output are contracted
        inputs, output = equation.split("->")
        kernel_letters = inputs.split(",")[1]
        return math.prod(size for letter, size in zip(kernel_letters, kernel_shape) if letter not in output)
    return int(kernel_shape[0])


def describe_backbone(config, backbone_cls=None, lora_rank: int = 0, lora_targets=None, name: str | None = None) -> ModelShape:
    """The backbone's variables from its config (a kwargs dict, a preset config.json dict, or a built
    Backbone). Nothing is allocated: variables made in a StatelessScope(initialize_variables=False)
    keep only their shape, and they are taken off keras' to-initialize list afterwards."""
    import keras
    from keras.src.backend.common import global_state

    if isinstance(config, keras.Model):
        backbone, cls = config, type(config)
        kwargs = backbone.get_config()
    else:
        cls = _backbone_class(config, backbone_cls)
        kwargs = dict(config.get("config", config)) if isinstance(config, dict) else dict(config)
        for key in ("name", "trainable", "dtype"):
            kwargs.pop(key, None)  # bytes come from the plan's precision, not the saved policy
        before = list(global_state.get_global_attribute("uninitialized_variables", [], set_to_default=True))
        with keras.StatelessScope(initialize_variables=False):
            backbone = cls(**kwargs)
            if lora_rank:
                backbone.enable_lora(lora_rank, target_layer_names=lora_targets)
        global_state.set_global_attribute("uninitialized_variables", before)
    weights, params, lora_params = [], 0, 0
    for layer in backbone._flatten_layers(include_self=False):
        for variable in layer._trainable_variables + layer._non_trainable_variables:
            shape = tuple(int(s) for s in variable.shape)
            leaf = variable.path.rsplit("/", 1)[-1]
            is_lora = leaf.startswith("lora_")
            if leaf == "kernel":
                reduced = _reduced_size(layer, shape)
            elif leaf == "embeddings":
                reduced = shape[-1]
            else:
                reduced = 0
            weights.append(Weight(variable.path, shape, type(layer).__name__, reduced, is_lora))
            if is_lora:
                lora_params += math.prod(shape)
            else:
                params += math.prod(shape)
    if name is None:
        family = cls.__name__.replace("Backbone", "").lower()
        name = f"{family} {params / 1e9:.1f}B" if params >= 1e9 else f"{family} {params / 1e6:.1f}M"
    return ModelShape(name, cls, kwargs, weights, params, lora_params)


# ---------------------------------------------------------------------------------------------
# Bytes per device


QUANTIZABLE = {"EinsumDense", "Dense", "ReversibleEmbedding", "Embedding"}
INT4_GROUP = 128  # keras 3.15's default int4 group size ("int4/128")


def _weight_bytes(w: Weight, weight_bytes: int, quantize, split: float) -> float:
    """Bytes of one variable on one device, the float shape being split `split` ways."""
    leaf = w.path.rsplit("/", 1)[-1]
    n = math.prod(w.shape)
    quantizable = quantize and not w.lora and w.layer in QUANTIZABLE and leaf in ("kernel", "embeddings")
    if not quantizable:
        return n * weight_bytes / split
    outputs = n // max(w.reduced, 1)
    if quantize == "int8":  # int8 kernel (sharded like the float one) + one scale (variable dtype) per output
        return n / split + weight_bytes * outputs
    # int4: two values per byte, per group of 128 inputs a scale (variable dtype) and an int8 zero point, a
    # float32 g_idx per input; keras packs the kernel in 2D, which the layout maps do not shard (model_parallel 1 only).
    groups = math.ceil(w.reduced / INT4_GROUP)
    return n / 2 + groups * outputs * (weight_bytes + 1) + 4 * w.reduced


def _splits(shape_model: ModelShape, data: int, model: int) -> dict:
    """How many ways each variable is split on a (data, model) mesh, from the backbone's layout map
    (1 everywhere without model parallel: data parallel replicates every weight)."""
    if model == 1:
        return {w.path: 1 for w in shape_model.weights}
    import keras

    mesh = keras.distribution.DeviceMesh((data, model), ("batch", "model"),
                                         devices=[f"plan:{i}" for i in range(data * model)])
    layout_map = shape_model.backbone_cls.get_layout_map(mesh)
    sizes = {"batch": data, "model": model}
    splits = {}
    for w in shape_model.weights:
        layout = layout_map[w.path]
        split = 1.0
        for dim, axis in zip(w.shape, layout.axes if layout is not None else ()):
            if axis is not None:
                split *= dim / math.ceil(dim / sizes[axis])
        splits[w.path] = split
    return splits


def _activation_bytes(m: ModelShape, batch: int, sequence: int, compute_bytes: int, model: int) -> float:
    """ESTIMATE of the peak activation memory of one inference forward pass on one device: the residual
    stream (a few copies) plus the larger of one layer's attention (q/k/v/out and, because Gemma-2's
    soft-cap rules out fused attention, a full T x T score and probability tensor in float32 per head)
    and its feed-forward (gate, up, product); layers run one after another, so only one is live.
    Heads and the feed-forward width are split over the model axis. No classifier logits over the vocabulary."""
    hidden = m.dim("hidden_dim", default=0)
    heads = m.dim("num_query_heads", "num_heads", default=1)
    kv_heads = m.dim("num_key_value_heads", default=heads)
    head_dim = m.dim("head_dim", default=hidden // max(heads, 1))
    ffw = m.dim("intermediate_dim", default=4 * hidden)
    tokens = batch * sequence
    residual = 4 * tokens * hidden * compute_bytes
    attention = tokens * (2 * heads + 2 * kv_heads) * head_dim * compute_bytes / model
    attention += 2 * batch * (heads / model) * sequence * sequence * 4
    feed_forward = 3 * tokens * (ffw / model) * compute_bytes
    return residual + max(attention, feed_forward)


@dataclass
class Plan:
    model: str
    params: int
    devices: str  # "2 x T4"
    device_count: int
    precision: str  # weights' dtype when not quantized
    compute_dtype: str
    quantize: str | None
    model_parallel: int
    data_parallel: int
    batch: int
    sequence_length: int
    weight_bytes_per_device: float
    lora_params: int
    activation_bytes_per_device: float  # an estimate
    usable_bytes_per_device: float
    device_bytes: float
    notes: list = field(default_factory=list)

    @property
    def bytes_per_device(self) -> float:
        return self.weight_bytes_per_device + self.activation_bytes_per_device

    @property
    def fits(self) -> bool:
        return self.bytes_per_device <= self.usable_bytes_per_device

    def how(self) -> str:
        weights = self.quantize or self.precision
        if self.quantize:
            weights += f" ({self.compute_dtype} compute)"
        if self.model_parallel == 1:
            where = "one copy per device" if self.device_count > 1 else "one device"
        elif self.model_parallel == self.device_count:
            where = f"split over all {self.device_count} devices (model_parallel={self.model_parallel})"
        else:
            where = (f"split over {self.model_parallel} devices (model_parallel={self.model_parallel}), "
                     f"{self.data_parallel} copies")
        return f"{weights}, {where}"

    def summary(self) -> str:
        line = (f"{self.model} on {self.devices}: {self.how()}, {self.bytes_per_device / GB:.1f} GB per device "
                f"(weights {self.weight_bytes_per_device / GB:.2f} GB + activations {self.activation_bytes_per_device / GB:.2f} GB "
                f"estimated for batch {self.batch} x {self.sequence_length} tokens; {self.usable_bytes_per_device / GB:.1f} of "
                f"{self.device_bytes / GB:.1f} GB usable)")
        return line + "".join(f"; {note}" for note in self.notes)

    def to_dict(self) -> dict:
        import dataclasses

        return dict(dataclasses.asdict(self), bytes_per_device=self.bytes_per_device, fits=self.fits, how=self.how())


def resolve_plan_precision(precision: str, devices: list[Device]) -> str:
    """'auto': bfloat16 where it is fast (TPU, Ampere+), float16 on T4/P100-class GPUs, float32 on CPU."""
    from lmsys.devices.precision import policy_for_device

    if precision not in PRECISIONS:
        raise PlanError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    no_bf16 = [d for d in devices if d.platform == "gpu" and any(n in d.kind.upper() for n in _FP16_GPUS)]
    if precision == "auto":
        return policy_for_device(devices[0].platform, devices[0].kind).replace("mixed_", "")
    if precision == "bfloat16" and no_bf16:
        raise PlanError(f"precision=bfloat16: {no_bf16[0].short} has no bfloat16; use precision=float16 (or int8/int4)")
    return precision


def _evaluate(m: ModelShape, devices, precision, quantize, model, batch, sequence, usable_fraction) -> Plan:
    count = len(devices)
    data = count // model
    compute = precision
    notes = []
    if quantize == "int8" and precision == "float16":
        compute = "float32"  # keras refuses int8 with float16 compute; T4-class GPUs have no bfloat16
        notes.append("int8 on float16-only hardware means float32 compute (keras refuses int8 with float16)")
    weight_bytes = BYTES[precision]
    splits = _splits(m, data, model)
    total = sum(_weight_bytes(w, weight_bytes, quantize, splits[w.path]) for w in m.weights)
    per_device_batch = math.ceil(batch / data)
    activations = _activation_bytes(m, per_device_batch, sequence, BYTES[compute], model)
    device_bytes = min(d.memory_bytes for d in devices)
    kinds = sorted({d.short for d in devices})
    name = kinds[0] if len(kinds) == 1 else "/".join(kinds)
    return Plan(m.name, m.params, f"{count} x {name}", count, precision, compute, quantize, model, data, batch, sequence,
                total, m.lora_params, activations, usable_fraction * device_bytes, device_bytes, notes)


def _model_parallel_options(m: ModelShape, count: int, quantize) -> list[int]:
    options = [n for n in range(1, count + 1) if count % n == 0]
    if not hasattr(m.backbone_cls, "get_layout_map") or quantize == "int4":
        options = [1]
    return options


def plan_for(config, precision: str = "auto", quantize: str | None = None, devices=None, model_parallel="auto",
             batch: int = 1, sequence_length: int = 1024, lora_rank: int = 0, lora_targets=None, backbone_cls=None,
             usable_fraction: float = DEFAULT_USABLE_FRACTION, name: str | None = None) -> Plan:
    """How the backbone will run: the smallest model_parallel that fits ('auto') or the one asked for.

    config: a backbone kwargs dict, a preset's config.json dict, a built Backbone, or a ModelShape.
    Raises PlanError (one line: what would fit instead) when nothing asked for fits or is possible."""
    devices = local_devices() if devices is None else list(devices)
    if isinstance(devices, str):
        devices = devices_from_spec(devices)
    if not devices:
        raise PlanError("no devices to plan for")
    if quantize in ("", "none", "None"):
        quantize = None
    if quantize not in QUANTIZATIONS:
        raise PlanError(f"quantize must be one of none, int8, int4; got {quantize!r}")
    m = config if isinstance(config, ModelShape) else describe_backbone(config, backbone_cls, lora_rank, lora_targets, name)
    precision = resolve_plan_precision(precision, devices)
    count = len(devices)
    options = _model_parallel_options(m, count, quantize)
    if model_parallel == "auto":
        candidates = options
    else:
        try:
            asked = int(model_parallel)
        except (TypeError, ValueError):
            raise PlanError(f"model_parallel must be 'auto' or a device count, got {model_parallel!r}") from None
        if asked < 1 or count % asked:
            raise PlanError(f"model_parallel={asked}: must divide the {count} local device(s)")
        if asked not in options:
            why = ("int4 kernels are packed 2D, which the layout map does not shard" if quantize == "int4"
                   else f"{m.backbone_cls.__name__} has no get_layout_map")
            raise PlanError(f"model_parallel={asked}: not possible ({why}); use model_parallel=1")
        candidates = [asked]
    plans = [_evaluate(m, devices, precision, quantize, n, batch, sequence_length, usable_fraction) for n in candidates]
    for plan in plans:
        if plan.fits:
            return plan
    raise PlanError(_refusal(m, devices, precision, quantize, plans[-1], batch, sequence_length, usable_fraction))


def _refusal(m, devices, precision, quantize, closest: Plan, batch, sequence, usable_fraction) -> str:
    """One line: what was asked, what it needs, and every (quantization, model_parallel) that would fit."""
    would = []
    for q in QUANTIZATIONS:
        for n in _model_parallel_options(m, len(devices), q):
            alt = _evaluate(m, devices, precision, q, n, batch, sequence, usable_fraction)
            if alt.fits and (q, n) != (quantize, closest.model_parallel):
                would.append(f"{'quantize=' + q if q else precision}"
                             f"{' model_parallel=' + str(n) if n > 1 else ' (one copy per device)'}"
                             f" ({alt.bytes_per_device / GB:.1f} GB)")
                break  # the smallest split for this quantization
    asked = f"{quantize or precision} model_parallel={closest.model_parallel}"
    head = (f"{m.name} does not fit on {closest.devices} as {asked}: needs {closest.bytes_per_device / GB:.1f} GB per "
            f"device, {closest.usable_bytes_per_device / GB:.1f} GB usable")
    if would:
        return head + "; would fit: " + " or ".join(would)
    return head + "; nothing fits on these devices (a shorter sequence_length or smaller batch, or more devices)"


def backbone_config_from_dir(preset_dir):
    """(backbone class, kwargs) from a preset directory's config.json without loading weights: a keras-hub
    preset ({"class_name": ..., "config": ...}) or a Hugging Face one ({"model_type": "gemma2", ...}, converted
    by keras-hub's own converter, as Backbone.from_preset would)."""
    import json

    path = os.path.join(os.fspath(preset_dir), "config.json")
    if not os.path.exists(path):
        raise PlanError(f"{path}: no config.json; is {preset_dir} a keras-hub or Hugging Face preset directory?")
    with open(path, encoding="utf-8") as fh:
        config = json.load(fh)
    if "model_type" in config:  # Hugging Face
        from keras_hub.src.utils.transformers.preset_loader import TransformersPresetLoader

        try:
            converter = TransformersPresetLoader(os.fspath(preset_dir), config).converter
        except ValueError as err:
            raise PlanError(f"{path}: {err}") from None
        return converter.backbone_cls, converter.convert_backbone_config(config)
    cls = _backbone_class(config, None)
    return cls, dict(config.get("config", config))


def announce_plan(config, precision="auto", quantize=None, devices=None, model_parallel="auto", **kwargs) -> Plan:
    """plan_for, printed as one 'memory plan:' line before anything loads (a preset directory may stand for
    config); a plan that cannot fit raises PlanError whose one line the kernel prints as its failure."""
    backbone_cls = kwargs.pop("backbone_cls", None)
    if isinstance(config, (str, os.PathLike)):
        backbone_cls, config = backbone_config_from_dir(config)
    plan = plan_for(config, precision, quantize, devices, model_parallel, backbone_cls=backbone_cls, **kwargs)
    print(f"memory plan: {plan.summary()}", flush=True)
    return plan
