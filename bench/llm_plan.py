"""The memory planner's choice and ESTIMATED hours for the LLM route on Kaggle's submission machine (T4 x2).

Not a measurement: nothing runs on a GPU here. For Gemma-2 9B and 2B (configs built without weights,
lmsys.devices.memory_plan) it prints, per quantization, how the model would run on --devices and the memory
per device, then the hours to predict --rows rows x (2 with swap TTA) x --tokens tokens at a stated
throughput, and what the time budget (lmsys.evaluate.time_budget, --time-budget-hours) would degrade at
that throughput.

Throughput: --tokens-per-second if given (used for every model), else an estimate from FLOPs, as the field
notes do: --utilization (0.25) x devices x --device-tflops (65, a T4's float16 tensor-core figure) over
2 x the model's non-embedding parameters per token (16.6 GFLOP/token for 9B; attention's T x T work is not
counted). That float16 rate says nothing about plans that compute in float32 (int8 on a T4): their hours are
not estimated.

    KERAS_BACKEND=jax python bench/llm_plan.py [--devices 2xT4] [--tokens-per-second N]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lmsys.llm.presets import GEMMA2_9B  # noqa: E402  (the one Gemma-2-9B shape; 2B differs in size only)

MODELS = {
    "gemma2 9B": GEMMA2_9B,
    "gemma2 2B": dict(GEMMA2_9B, num_layers=26, num_query_heads=8, num_key_value_heads=4, hidden_dim=2304,
                      intermediate_dim=2 * 9216),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--devices", default="2xT4", help="'2xT4', '1xH100', 'v5e-8', 'NxKIND:GB'")
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, of: {', '.join(MODELS)}")
    p.add_argument("--rows", type=int, default=25_000)
    p.add_argument("--tokens", type=int, default=1024, help="tokens per row (the token budget)")
    p.add_argument("--no-tta", action="store_true", help="one pass per row instead of two (swap TTA)")
    p.add_argument("--batch", type=int, default=2, help="rows per step, for the activation estimate")
    p.add_argument("--tokens-per-second", type=float, default=None, help="stated throughput, all devices together")
    p.add_argument("--utilization", type=float, default=0.25)
    p.add_argument("--device-tflops", type=float, default=65.0, help="per device, float16")
    p.add_argument("--time-budget-hours", default=None, help="default: $LMSYS_TIME_BUDGET_HOURS or 8.5")
    return p.parse_args(argv)


def non_embedding_params(shape) -> int:
    return shape.params - sum(w.shape[0] * w.shape[1] for w in shape.weights if w.path.endswith("embeddings"))


def budget_outcome(rows, tokens, tta, seconds_per_token, hours) -> str:
    """What TimeBudget would plan at this rate for rows of equal length (a fake clock at 0: no time has passed)."""
    from lmsys.evaluate.time_budget import TimeBudget

    budget = TimeBudget(hours * 3600.0, clock=lambda: 0.0)
    budget.plan([tokens] * rows, tta=tta, token_budget=tokens, seconds_per_token=seconds_per_token)
    report = budget.report()
    if not report["degradations"]:
        return f"fits the {hours:g} h budget with nothing degraded"
    steps = "; ".join(f"{d['what']}{' to ' + str(d['to']) if 'to' in d else ''} on {d['rows']} rows"
                      for d in report["degradations"])
    return f"over the {hours:g} h budget: the time budget would plan {steps}"


def main(argv=None) -> int:
    args = parse_args(argv)
    from lmsys.devices.memory_plan import GB, PlanError, describe_backbone, devices_from_spec, plan_for
    from lmsys.evaluate.time_budget import budget_hours

    devices = devices_from_spec(args.devices)
    hours_budget = budget_hours(args.time_budget_hours)
    tta = not args.no_tta
    passes = 2 if tta else 1
    print(f"ESTIMATES, not measurements: {args.rows:,} rows x {passes} pass(es) x {args.tokens:,} tokens on "
          f"{len(devices)} x {devices[0].short}; activations estimated for batch {args.batch}")
    for name in args.models.split(","):
        name = name.strip()
        if name not in MODELS:
            print(f"--models: unknown model {name!r}; known: {', '.join(MODELS)}")
            return 2
        shape = describe_backbone(MODELS[name], name=name)
        flop_per_token = 2 * non_embedding_params(shape)
        if args.tokens_per_second:
            tps, source = args.tokens_per_second, "stated"
        else:
            tps = args.utilization * len(devices) * args.device_tflops * 1e12 / flop_per_token
            source = (f"estimated: {args.utilization:.0%} of {len(devices)} x {args.device_tflops:g} TFLOP/s float16 "
                      f"at {flop_per_token / 1e9:.1f} GFLOP/token")
        print(f"\n{name}: {shape.params:,} parameters; {tps:,.0f} tokens/s ({source})")
        for quantize in (None, "int8", "int4"):
            label = quantize or "no quantization"
            try:
                plan = plan_for(shape, "auto", quantize, devices, batch=args.batch, sequence_length=args.tokens)
            except PlanError as err:
                print(f"  {label}: REFUSED: {err}")
                continue
            print(f"  {label}: {plan.summary()}")
            if plan.compute_dtype == "float32" and devices[0].platform == "gpu":
                print("    hours: not estimated (float32 compute; the float16 rate above does not apply)")
                continue
            seconds = args.rows * passes * args.tokens / tps
            print(f"    hours (estimate): {seconds / 3600:.2f} h; "
                  f"{budget_outcome(args.rows, args.tokens, tta, 1.0 / tps, hours_budget)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
