"""bench/llm_throughput.py runs from random or saved ids without TensorFlow (how a GPU machine runs it)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow  # a subprocess that imports JAX and compiles two steps: about a minute on the shared CPU
def test_bench_runs_from_saved_ids_with_tensorflow_blocked(tmp_path):
    ids = tmp_path / "ids.npz"
    np.savez(ids, *[np.arange(5, 5 + n) for n in (12, 30, 7)])
    code = ("import sys, json; sys.modules['tensorflow'] = None; sys.modules['tensorflow_text'] = None; "
            f"sys.argv = ['llm_throughput.py', '--ids', {str(ids)!r}, '--rows', '2', '--length', '16', '--steps', '2']; "
            f"sys.path.insert(0, {os.path.join(ROOT, 'bench')!r}); import llm_throughput; "
            "print('RESULT', json.dumps(llm_throughput.main(sys.argv[1:]), default=str))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "KERAS_BACKEND": "jax"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT", 1)[1])
    assert result["device"].startswith("cpu") and result["rows"] == 2 and result["length"] == 16
    assert result["train_tokens_per_s"] > 0 and result["predict_tokens_per_s"] > 0
    assert result["tensorflow_imported"] is False
    assert "train:" in proc.stdout and "tokens/s" in proc.stdout
