"""bench/llm_plan.py: hours follow from the stated throughput, every figure is labelled an estimate, and an
over-budget estimate shows what the time budget would degrade."""

import importlib.util
import os


def _bench():
    spec = importlib.util.spec_from_file_location("llm_plan_bench", os.path.join("bench", "llm_plan.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stated_throughput_over_budget(capsys):
    bench = _bench()
    assert bench.main(["--models", "gemma2 2B", "--tokens-per-second", "1000", "--time-budget-hours", "8.5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ESTIMATES, not measurements")
    assert "1,000 tokens/s (stated)" in out
    hours = 25_000 * 2 * 1024 / 1000 / 3600  # 14.22 h
    assert f"hours (estimate): {hours:.2f} h; over the 8.5 h budget" in out
    assert "drop_tta on" in out and "REFUSED" not in out
    assert "int8 (float32 compute)" in out and "hours: not estimated (float32 compute" in out
