"""Compile every batch shape's XLA program up front, several at a time.

Length buckets give a step one of up to B(B+1)/2 shapes, and JAX compiles each program lazily at
the first step of its shape, one after another: 40-70 s each for extra_small on a GPU (field
notes), so ten shapes cost minutes before training gets going, and again for validation and
prediction. XLA's compiler runs outside the GIL, so here each program is lowered (Python tracing,
one at a time, while earlier ones compile) and compiled in a thread pool. The executables land in
JAX's in-memory cache, which Keras' own jitted step reuses for the same arguments: fit, evaluate
and predict_on_batch then start with every program ready (tests/test_precompile.py counts the
compilations to check it).

This leans on Keras internals (the jitted step inside `model.train_function`,
`model._get_jax_state`, `model._symbolic_build`); if a Keras release moves them, precompile warns,
compiles nothing, and JAX compiles lazily as before: slower, never wrong.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

KINDS = ("train", "test", "predict")


def default_workers() -> int:
    """One compile per core, at most 4: compilations in flight each take host memory (two at once
    raised the tiny model's peak RSS by ~650 MiB here; a Kaggle GPU machine has 4 cores and ~29 GB)."""
    return max(1, min(4, os.cpu_count() or 1))


def one_per_shape(plan: list) -> list:
    """The first batch of each distinct (rows, shape) in a batching plan: what precompile needs."""
    seen, out = set(), []
    for index, shape, real in plan:
        key = (len(index), shape if np.isscalar(shape) else tuple(shape))
        if key not in seen:
            seen.add(key)
            out.append((index, shape, real))
    return out


def _find_jitted(function, depth: int = 4):
    """The jax.jit object Keras wraps in its step-function closures, or None."""
    if hasattr(function, "lower") and hasattr(function, "eval_shape"):
        return function
    if depth == 0:
        return None
    for cell in getattr(function, "__closure__", None) or ():
        try:
            found = _find_jitted(cell.cell_contents, depth - 1)
        except ValueError:  # an empty cell
            continue
        if found is not None:
            return found
    return None


def _state_spec(value):
    """A state array as a ShapeDtypeStruct: same dtype, and its sharding where it is placed."""
    import jax

    if isinstance(value, jax.Array) and value.committed:
        return jax.ShapeDtypeStruct(value.shape, value.dtype, sharding=value.sharding)
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return jax.ShapeDtypeStruct(value.shape, value.dtype)
    return value


def _data_spec(value):
    """A batch array as Keras will pass it: device_put as is, or laid out along the batch axis."""
    import jax

    from lmsys.devices.distribute import batch_sharding

    value = np.asarray(value)
    return jax.ShapeDtypeStruct(value.shape, value.dtype, sharding=batch_sharding(value.shape))


def _state(model, kind: str):
    """The state tuple Keras passes to its jitted step of this kind, as specs."""
    from keras import tree

    parts = {"train": (True, True, True, True), "test": (True, True, False, True),
             "predict": (True, True, False, False)}
    trainable, non_trainable, optimizer, metrics = parts[kind]
    state = model._get_jax_state(trainable_variables=trainable, non_trainable_variables=non_trainable,
                                 optimizer_variables=optimizer, metrics_variables=metrics)
    return tree.map_structure(_state_spec, state)


def _step_function(model, kind: str):
    if kind == "train":
        model.make_train_function()
        return _find_jitted(model.train_function)
    if kind == "test":
        model.make_test_function()
        return _find_jitted(model.test_function)
    model.make_predict_function()
    return _find_jitted(model.predict_function)


def precompile(model, train=(), test=(), predict=(), workers: int | None = None, verbose: bool = True) -> dict:
    """Compile the model's train/test/predict steps for every distinct example batch, in parallel.

    train and test take (x, y, sample_weight) tuples, predict takes x, each exactly as the real
    calls will pass them (same dtypes); one example per shape is enough. Returns the number of
    programs compiled per kind, the seconds spent lowering, and the seconds of the whole (compile_s,
    lowering included: it overlaps the compilations).
    """
    examples = {"train": list(train), "test": list(test), "predict": [(x,) for x in predict]}
    if not any(examples.values()):
        return {"programs": {}, "lower_s": 0.0, "compile_s": 0.0}
    try:
        return _precompile(model, examples, workers, verbose)
    except Exception as exc:  # anything here would fail the same way at the first real step, or not at all
        warnings.warn(f"precompile skipped ({type(exc).__name__}: {exc}); JAX compiles each step lazily instead")
        return {"programs": {}, "lower_s": 0.0, "compile_s": 0.0, "skipped": repr(exc)}


def _precompile(model, examples: dict, workers, verbose: bool) -> dict:
    from keras import tree

    if examples["train"] or examples["test"]:
        # What fit/evaluate do first: build the optimizer, loss and metrics from one batch.
        model._symbolic_build(data_batch=(examples["train"] or examples["test"])[0])
    jobs, programs = [], {}
    for kind in KINDS:
        if not examples[kind]:
            continue
        step = _step_function(model, kind)
        if step is None:
            if verbose:
                print(f"precompile: no jitted {kind} step found in this Keras; compiling lazily instead")
            continue
        state = _state(model, kind)
        seen = set()
        for data in examples[kind]:
            spec = tree.map_structure(_data_spec, data)
            key = tuple((s.shape, str(s.dtype)) for s in tree.flatten(spec))
            if key not in seen:
                seen.add(key)
                jobs.append((step, state, spec))
        programs[kind] = len(seen)
    if not jobs:
        return {"programs": programs, "lower_s": 0.0, "compile_s": 0.0}
    workers = min(workers or default_workers(), len(jobs))
    if verbose:
        print(f"precompile: {len(jobs)} XLA programs ({', '.join(f'{n} {k}' for k, n in programs.items())}), "
              f"{workers} compiling at a time", flush=True)
    # Lowering (Python, under the GIL) of the next program overlaps the compilations in flight; at
    # most workers + 1 lowered programs exist at once, so host memory stays bounded.
    slots = threading.BoundedSemaphore(workers + 1)
    lower_s = 0.0

    def compile_one(lowered):
        try:
            lowered.compile()
        finally:
            slots.release()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = []
        for step, state, spec in jobs:
            slots.acquire()
            t0 = time.perf_counter()
            lowered = step.lower(state, spec)
            lower_s += time.perf_counter() - t0
            futures.append(pool.submit(compile_one, lowered))
            del lowered
        for future in futures:
            future.result()
    compile_s = time.perf_counter() - started
    if verbose:
        print(f"precompile: done in {compile_s:.1f} s ({lower_s:.1f} s of it lowering)", flush=True)
    return {"programs": programs, "lower_s": lower_s, "compile_s": compile_s}
